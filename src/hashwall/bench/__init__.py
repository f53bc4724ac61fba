"""Benchmarks users can run: ``hashwall bench ...``."""
