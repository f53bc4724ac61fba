"""The HTTP routes, one module per group; each route parses, calls one use case, formats."""
