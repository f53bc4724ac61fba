"""The ``pdq`` signal type: an image's PDQ hash, matched by Hamming distance."""

from __future__ import annotations

from typing import ClassVar

from hashwall.hashing.codes import canonical_hex64
from hashwall.hashing.pdq import MIN_QUALITY, ORIENTATIONS, check_popcount
from hashwall.hashing.signals.base import DistanceSignalType

#: The largest radius a platform may set: past it, unrelated photos start to match.
MAX_PDQ_THRESHOLD = 31


class PdqValues:
    """Values written and checked as PDQ hashes are (``pdq`` and video frames' ``vpdq_frame``)."""

    @classmethod
    def canonical(cls, value: str) -> str:
        """As ``PdqHash.parse(value).hex``, without the object (9 of these per checked upload)."""
        text = canonical_hex64(value)
        check_popcount(int(text, 16).bit_count())
        return text

    @classmethod
    def canonical_degenerate(cls, value: str) -> str:
        """Only the format: 64 hex digits."""
        return canonical_hex64(value)


class PdqSignal(PdqValues, DistanceSignalType):
    """A PDQ hash: 64 hex digits with about half of the bits set, with its quality (0-100).

    A hash below quality 50 is too featureless to mean anything: never banked nor matched.
    An upload may come with its 8 dihedral hashes (in ``pdqhash.compute_dihedral``'s order);
    the bank holds one.
    """

    name = "pdq"
    bits = 256
    quality_required = True
    min_quality = MIN_QUALITY
    orientations: ClassVar[tuple[str, ...]] = tuple(o.value for o in ORIENTATIONS)
    default_threshold = MAX_PDQ_THRESHOLD
    max_threshold = MAX_PDQ_THRESHOLD
    policy_field = "pdq_threshold"

    @classmethod
    def get_examples(cls) -> tuple[str, ...]:
        return (
            "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
            "07070f311f0b57b0f9c8f5ddfc709c0f4c91d12a699de1e2cc194c63b16364dd",
        )
