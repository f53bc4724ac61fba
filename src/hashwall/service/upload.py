"""The signals of one upload to check, validated: :class:`CheckRequest`.

Which types exist, how their values are written, which need a quality and which may come with
orientations is the registry's to say (``hashing/signals``); nothing here names a type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hashwall.errors import InvalidHash
from hashwall.hashing.image import ImageHashes
from hashwall.hashing.signals import (
    SIGNAL_TYPES,
    DistanceSignalType,
    GeometricSignalType,
    Signal,
    SignalType,
    oriented_type,
)
from hashwall.hashing.vpdq import VideoHashes
from hashwall.service.video import UploadFrames, file_digests, parse_upload, upload_of

#: The most regions one upload may carry (``hashing.contentbox`` finds at most seven).
MAX_REGIONS = 8


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """The signals of one upload, and ``orientations``: the variants of an oriented type's
    value (PDQ's 8 dihedral hashes) by type name, when the client computed them.

    Build one from outside data with :meth:`parse` (validates everything; plain mappings, from
    whichever adapter) or from a local hash with :meth:`from_image`.
    """

    signals: tuple[Signal, ...]
    orientations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Places the photo may be inside the upload (``hashing.contentbox``), each as all the
    #: orientations of an oriented type's value, by type name; searched like the upload's own.
    regions: Mapping[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    #: A video's usable frame hashes (``service/video.py``), when the upload is a video.
    frames: UploadFrames | None = None

    def __post_init__(self) -> None:
        types = [s.type for s in self.signals]
        if len(set(types)) != len(types):
            raise InvalidHash("an upload carries at most one signal of each type")
        for name, values in self.orientations.items():
            kind = SIGNAL_TYPES.get(name)
            count = len(kind.orientations) if kind is not None else 0
            if kind is None or len(values) != count or count == 0:
                raise InvalidHash(f"send all {count} orientation hashes, or none")
            if name not in types:
                raise InvalidHash(f"orientation hashes come with the upload's {name} signal")
        for name, places in self.regions.items():
            kind = SIGNAL_TYPES.get(name)
            count = len(kind.orientations) if kind is not None else 0
            if kind is None or count == 0 or any(len(p) != count for p in places):
                raise InvalidHash(f"each region carries all {count} orientation hashes")
            if len(places) > MAX_REGIONS:
                raise InvalidHash(f"at most {MAX_REGIONS} regions per upload")
            if name not in types:
                raise InvalidHash(f"regions come with the upload's {name} signal")
        for signal in self.signals:
            if signal.quality is None and _type(signal).quality_required:
                raise InvalidHash(f"a {signal.type} signal needs its quality (0-100)")

    @classmethod
    def parse(
        cls,
        signals: Sequence[Mapping[str, Any]],
        orientations: Sequence[str] | None = None,
        *,
        regions: Sequence[Sequence[str]] | None = None,
        frames: Sequence[Mapping[str, Any]] | None = None,
        mirror_frames: Sequence[Mapping[str, Any]] | None = None,
        settings: object = None,
        box_frames: Sequence[Mapping[str, Any]] | None = None,
        box_mirror_frames: Sequence[Mapping[str, Any]] | None = None,
    ) -> CheckRequest:
        """Validate signals, and the oriented type's variants (``pdq_orientations`` on the
        wire) and ``regions`` (``pdq_regions``), from outside; a video's ``frames`` (and
        ``mirror_frames``, ``box_frames``, ``box_mirror_frames``) too, within the limits of
        ``settings`` (``service/video.py``)."""
        if regions:
            plain = cls.parse(signals, orientations, frames=frames, mirror_frames=mirror_frames)
            kind = oriented_type()
            if kind is None or frames is not None:
                raise InvalidHash("regions come with an image's signals")
            places = tuple(tuple(kind.canonical(v) for v in place) for place in regions)
            return cls(plain.signals, plain.orientations, {kind.name: places})
        if frames is not None:
            # An animation's first frame may come as an image's pdq, with its orientations.
            parsed = tuple(_parse(s) for s in signals)
            if any(SIGNAL_TYPES[s.type].many_per_item for s in parsed):
                raise InvalidHash("a video's frame hashes go in frames, not in signals")
            video = parse_upload(
                settings,
                frames,
                mirror_frames,
                box_frames=box_frames,
                box_mirror_frames=box_mirror_frames,
            )
            return cls(parsed, _orientations(parsed, orientations), frames=video)
        if mirror_frames is not None or box_frames is not None or box_mirror_frames is not None:
            raise InvalidHash("mirror_frames and box_frames come with the video's frames")
        if not signals:
            raise InvalidHash("send at least one signal of the upload (or a video's frames)")
        parsed = tuple(_parse(s) for s in signals)
        if any(SIGNAL_TYPES[s.type].many_per_item for s in parsed):
            raise InvalidHash("frame hashes come in a video's frames, not in signals")
        return cls(parsed, _orientations(parsed, orientations))

    @classmethod
    def from_image(cls, hashes: ImageHashes) -> CheckRequest:
        """The request for an image hashed here (with its orientations and regions if they
        were computed)."""
        return cls(tuple(hashes.all_signals()), hashes.orientation_values(), hashes.region_values())

    @classmethod
    def from_video(cls, hashes: VideoHashes) -> CheckRequest:
        """The request for a video hashed here (its frames, mirrored ones if hashed, and its
        file's digests; an animation's first frame as an image's signal too, with its
        orientations if hashed)."""
        first = hashes.first_frame_signal()
        signals = (*file_digests(hashes), *([] if first is None else [first]))
        return cls(signals, hashes.first_frame_orientations(), frames=upload_of(hashes))

    def of_type(self, name: str) -> Signal | None:
        """The upload's signal of type ``name``, if any."""
        return next((s for s in self.signals if s.type == name), None)

    def value(self, signal_type: str) -> str | None:
        """The value of the upload's signal of ``signal_type``."""
        signal = self.of_type(signal_type)
        return signal.value if signal is not None else None

    def variants(self, signal_type: str) -> tuple[str, ...]:
        """The values to search for a type: its orientations, else its value, else none."""
        turned = self.orientations.get(signal_type)
        if turned:
            return turned
        value = self.value(signal_type)
        return (value,) if value is not None else ()

    def region_variants(self, signal_type: str) -> tuple[tuple[str, ...], ...]:
        """Each region's values of a type (its orientations), to search like :meth:`variants`."""
        return self.regions.get(signal_type, ())

    def near(self) -> tuple[tuple[type[DistanceSignalType], Signal], ...]:
        """The upload's signals of distance types, with their types."""
        return _of_family(self.signals, DistanceSignalType)

    def geometric(self) -> tuple[tuple[type[GeometricSignalType], Signal], ...]:
        """The upload's signals of geometric types (keypoints), with their types."""
        return _of_family(self.signals, GeometricSignalType)

    def exact(self) -> list[tuple[str, str]]:
        """``(type, value)`` of the upload's signals of exact types."""
        return [(s.type, s.value) for s in self.signals if _type(s).comparison == "exact"]


def _orientations(
    parsed: Sequence[Signal], orientations: Sequence[str] | None
) -> dict[str, tuple[str, ...]]:
    """The oriented type's variants sent with the signals, validated (none: empty)."""
    if orientations is None:
        return {}
    kind = oriented_type()
    if kind is None:
        raise InvalidHash("no signal type takes orientation hashes")
    sent = next((s for s in parsed if s.type == kind.name), None)
    # A featureless image's hashes are degenerate (odd bit counts): accept any value of
    # the right format then, since they are never matched; otherwise they must look real.
    low = sent is not None and not kind.usable(sent.quality)
    parse = kind.canonical_degenerate if low else kind.canonical
    return {kind.name: tuple(parse(v) for v in orientations)}


def _of_family(signals: Sequence[Signal], family: Any) -> tuple[tuple[Any, Signal], ...]:
    """The signals whose type is of ``family`` (an abstract family such as
    ``DistanceSignalType``: hence ``Any``), with their types."""
    out: list[tuple[Any, Signal]] = []
    for signal in signals:
        kind = _type(signal)
        if issubclass(kind, family):
            out.append((kind, signal))
    return tuple(out)


def _type(signal: Signal) -> type[SignalType]:
    kind = SIGNAL_TYPES.get(signal.type)
    if kind is None:
        raise InvalidHash(f"unknown signal type {signal.type!r}")
    return kind


def _parse(raw: Mapping[str, Any]) -> Signal:
    """A signal from outside; a value below its type's quality floor only needs the format."""
    name, quality, value = raw.get("type"), raw.get("quality"), raw.get("value")
    kind = SIGNAL_TYPES.get(name) if isinstance(name, str) else None
    if (
        kind is not None
        and isinstance(quality, int)
        and not isinstance(quality, bool)
        and quality >= 0
        and not kind.usable(quality)
        and isinstance(value, str)
    ):
        return Signal(kind.name, kind.canonical_degenerate(value), quality)
    return Signal.parse(raw)
