"""What a platform whose policy reveals distances is told: a coarse distance, never the exact
one (see :func:`coarse_distance`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from hashwall.hashing.codes import Hash256
from hashwall.hashing.signals import SIGNAL_TYPES, DistanceSignalType
from hashwall.service.upload import CheckRequest
from hashwall.store.repo import Repository

#: Revealed distances are multiples of this many bits (see :func:`coarse_distance`).
REVEAL_BAND = 8


@dataclass(frozen=True, slots=True)
class NearMatch:
    """A matched item, with the type, distance and upload orientation (position) it matched by
    (``distance`` None: an exact match, nothing to reveal)."""

    item_id: int
    signal_type: str
    distance: int | None
    orientation: int | None


def coarse_distance(distance: int, banked: Hash256, upload: Hash256) -> int:
    """The distance a platform whose policy reveals distances is told: within 7 bits of the
    true one, a multiple of :data:`REVEAL_BAND`, with an offset keyed by the banked value.

    The exact distance would let a platform rebuild a banked hash by hill-climbing: flip one
    bit of an upload, see the distance go down or up by one, keep or undo (~256 checks). Here
    a one-bit change moves the answer only when it crosses a band edge, and where the edges lie
    depends on the upload and on the banked hash itself (the offset is a keyed hash of the
    upload with the banked hash as the key): without knowing the banked hash, the answers of
    neighbouring uploads are a coin toss about the direction. The same upload always gets the
    same answer (asking again teaches nothing), on every replica.
    """
    offset = hashlib.blake2b(upload.value, key=banked.value, digest_size=1).digest()[0]
    return (distance + offset % REVEAL_BAND) // REVEAL_BAND * REVEAL_BAND


def revealed_distances(
    repo: Repository, request: CheckRequest, matches: Sequence[NearMatch]
) -> dict[int, int]:
    """Coarse distances of the near ones of ``matches``, by item id (one more statement: the
    banked values)."""
    near = [m for m in matches if m.distance is not None]
    if not near:
        return {}
    banked = repo.read_item_values([m.item_id for m in near], sorted({m.signal_type for m in near}))
    out: dict[int, int] = {}
    for match in near:
        kind = SIGNAL_TYPES.get(match.signal_type)
        value = banked.get((match.item_id, match.signal_type))
        variants = request.variants(match.signal_type)
        if kind is None or not issubclass(kind, DistanceSignalType):
            continue
        if value is None or match.distance is None or not variants:
            continue
        turn = match.orientation or 0
        upload = variants[turn] if turn < len(variants) else variants[0]
        out[match.item_id] = coarse_distance(match.distance, kind.code(value), kind.code(upload))
    return out
