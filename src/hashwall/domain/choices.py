"""The one check of a value against an enumeration of the domain."""

from __future__ import annotations

from collections.abc import Sequence

from hashwall.errors import InvalidInput


def require_choice(what: str, value: str, allowed: Sequence[str]) -> None:
    """Raise :class:`~hashwall.errors.InvalidInput` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise InvalidInput(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
