"""Untrusted bytes to pixels, safely. Pure functions of bytes."""
