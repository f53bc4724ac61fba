"""The ``keypoints`` signal type: a picture's keypoint codes, matched by one placement.

A value is a set of records (:mod:`hashwall.hashing.keypoints`), written as hex: 16 bytes a
keypoint (32 hex digits), a 64-bit code of a small patch, then the patch's x, y and scale (as
shares of the picture's longer side) and its angle, each to 16 bits, little-endian, as
:meth:`~hashwall.hashing.keypoints.Keypoints.to_bytes` writes them. A banked photo has ~83
records (64 keypoints, some with two orientations; at most 128), an upload ~190 (at most 320).

Two values match (:meth:`KeypointsSignal.compare`) when enough of their codes pair up (each
pair within :data:`~hashwall.hashing.keypoints.CODE_RADIUS` bits) *and* one similarity
transform (a scale, a turn, a shift, or a mirror) maps the banked photo's keypoints onto the
upload's: the :func:`~hashwall.hashing.keypoints.match_inliers`. How many a match needs grows
with the bank (:func:`~hashwall.hashing.keypoints.required_inliers`: 8 up to ~1,000 photos,
13 at a million), so it is the bank's to set, not a platform's: the type has no radius.

The value is kept whole in the store and the feed (a set is only meaningful whole), held in
the live ``keypoints`` index (:mod:`hashwall.index.keypoints`), never compared by equality
(it is not a digest), and never a key of anything.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

import numpy as np

from hashwall.errors import InvalidHash
from hashwall.hashing.keypoints import (
    MIN_INLIERS,
    RECORD_BYTES,
    Keypoints,
    match_inliers,
    required_inliers,
)
from hashwall.hashing.signals.base import Comparison, IndexFamily, SignalComparison, SignalType

#: Records a value holds at most (an upload's 160 keypoints, each with up to two angles).
MAX_RECORDS = 320
_DIGITS = 2 * RECORD_BYTES
_HEX = re.compile(r"[0-9a-fA-F]+")


class GeometricSignalType(SignalType):
    """A set of local codes with their places, matched when one placement explains enough of
    them (:meth:`inliers`); :meth:`decode` gives the set. A platform sets no threshold for it
    (``max_threshold`` 0): the inliers a match needs are the bank's to say."""

    comparison: ClassVar[Comparison] = "geometric"
    index_family: ClassVar[IndexFamily] = "keypoints"
    #: Two photos of one scene (a room, a building, a landmark) taken from about the same place
    #: share a background that one placement explains; the evaluation found such pairs among
    #: distinct photos. So a match found by keypoints alone asks a reviewer; it never blocks.
    strongest_answer: ClassVar[Literal["review", "block"]] = "review"
    #: Inliers a match needs when the bank does not say (a small bank).
    default_inliers: ClassVar[int] = MIN_INLIERS

    @classmethod
    def required_inliers(cls, bank_size: int) -> int:
        """The inliers a match needs against a bank of ``bank_size`` sets of this type."""
        return required_inliers(bank_size)

    @classmethod
    def decode(cls, value: str) -> Keypoints:
        """A canonical value as its keypoints."""
        return Keypoints.from_bytes(bytes.fromhex(value))

    @classmethod
    def inliers(cls, upload: str, banked: str) -> int:
        """The keypoints one placement of ``banked`` in ``upload`` explains (either mirrored)."""
        return match_inliers(cls.decode(upload), cls.decode(banked))

    @classmethod
    def compare(cls, a: str, b: str, threshold: int | None = None) -> SignalComparison:
        """``a`` (an upload) against ``b`` (a banked value); ``threshold``: the inliers a match
        needs (``default_inliers`` if None)."""
        needed = cls.default_inliers if threshold is None else threshold
        found = cls.inliers(a, b)
        return SignalComparison(found >= needed, max(0, needed - found), found)


class KeypointsSignal(GeometricSignalType):
    """A picture's keypoint records: 1 to :data:`MAX_RECORDS` of 32 hex digits each."""

    name = "keypoints"

    @classmethod
    def canonical(cls, value: str) -> str:
        if (
            not isinstance(value, str)
            or not value
            or len(value) % _DIGITS
            or len(value) > MAX_RECORDS * _DIGITS
            or _HEX.fullmatch(value) is None
        ):
            raise InvalidHash(
                f"a {cls.name} signal is 1 to {MAX_RECORDS} records of {_DIGITS} hexadecimal "
                "digits each"
            )
        return value.lower()

    @classmethod
    def get_examples(cls) -> tuple[str, ...]:
        return tuple(_example(seed) for seed in (1, 2))


def _example(seed: int, count: int = 12) -> str:
    """``count`` records of random codes at random places (a fixed seed): a set matches itself
    (every keypoint an inlier) and not another seed's (no code within the radius)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**63, size=count, dtype=np.uint64)
    x, y = rng.uniform(0.05, 0.95, size=(2, count))
    scale = rng.uniform(0.01, 0.05, size=count)
    angle = rng.uniform(-np.pi, np.pi, size=count)
    found = Keypoints(
        x.astype(np.float32),
        y.astype(np.float32),
        scale.astype(np.float32),
        angle.astype(np.float32),
        codes,
    )
    return found.to_bytes().hex()
