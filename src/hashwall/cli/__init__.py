"""The ``hashwall`` command line (typer)."""
