"""How the settings and a platform's policy tune each signal type.

A type carries its own defaults (:class:`~hashwall.hashing.signals.SignalType`); a deployment
may override them with a setting named after the type (``<type>_threshold``: the radius of
the allowlist and the default of new platforms; ``<type>_min_quality``: the quality floor),
and a platform's policy holds its own radius per type (``PlatformPolicy.thresholds``; a type
it does not name gets the type's default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hashwall.domain import PlatformPolicy
from hashwall.errors import InvalidInput
from hashwall.hashing.signals import SIGNAL_TYPES, SignalType, distance_types


def default_radius(settings: object, kind: type[SignalType]) -> int:
    """The deployment's radius for ``kind`` (the allowlist's): its setting, else its default."""
    value = getattr(settings, f"{kind.name}_threshold", None)
    return value if isinstance(value, int) else kind.default_threshold


def allowlist_radii(settings: object) -> dict[str, int]:
    """The allowlist's radius per distance type."""
    return {kind.name: default_radius(settings, kind) for kind in distance_types()}


def min_quality(settings: object, kind: type[SignalType]) -> int | None:
    """The quality floor of ``kind``: its setting, else its own (None: no floor)."""
    if kind.min_quality is None:
        return None
    value = getattr(settings, f"{kind.name}_min_quality", None)
    return value if isinstance(value, int) else kind.min_quality


def usable(settings: object, kind: type[SignalType], quality: int | None) -> bool:
    """Whether a value of ``kind`` with ``quality`` may be banked or matched here."""
    return kind.usable(quality, min_quality(settings, kind))


def policy_threshold(policy: PlatformPolicy, kind: type[SignalType]) -> int:
    """A platform's radius for ``kind``: its policy's, else the type's default."""
    value = policy.thresholds.get(kind.name)
    return value if value is not None else kind.default_threshold


def validate_thresholds(thresholds: Mapping[str, int]) -> dict[str, int]:
    """Thresholds a platform may set: distance types only, each within its type's range."""
    if not isinstance(thresholds, Mapping):
        raise InvalidInput('thresholds maps signal types to radii, e.g. {"pdq": 24}')
    out: dict[str, int] = {}
    for name, value in thresholds.items():
        kind = SIGNAL_TYPES.get(name)
        if kind is None or kind.comparison != "distance":
            known = ", ".join(sorted(t.name for t in distance_types()))
            raise InvalidInput(f"no threshold for {name!r}: thresholds are set for {known}")
        out[name] = kind.validate_threshold(value)
    return out


def effective_thresholds(policy: PlatformPolicy) -> dict[str, int]:
    """A platform's radius for every registered distance type (its own, else the default)."""
    return {kind.name: policy_threshold(policy, kind) for kind in distance_types()}


def threshold_changes(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """Split policy changes from outside into the other fields and the radii per type: the
    ``thresholds`` map, and the older per-type fields (``pdq_threshold``) mapped onto it."""
    fields = dict(raw)
    given = fields.pop("thresholds", None) or {}
    if not isinstance(given, Mapping):
        raise InvalidInput('thresholds maps signal types to radii, e.g. {"pdq": 24}')
    radii: dict[str, int] = dict(given)
    for kind in distance_types():
        if kind.policy_field is not None and kind.policy_field in fields:
            value = fields.pop(kind.policy_field)
            if value is not None:
                radii[kind.name] = value
    return fields, radii
