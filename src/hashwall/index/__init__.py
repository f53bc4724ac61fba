"""Exact radius search over 256-bit binary codes."""
