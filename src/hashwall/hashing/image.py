"""Bytes of one image to all of its signals: the public ``hash_image`` and ``hash_file``."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hashwall.errors import FileUnreadable, MediaTooLarge
from hashwall.hashing.digests import digests
from hashwall.hashing.pdq import MIN_QUALITY, PdqHash, PdqResult, pdq_reference
from hashwall.hashing.signals import KeypointsSignal, Md5Signal, PdqSignal, Sha256Signal, Signal
from hashwall.settings import Settings

if TYPE_CHECKING:
    from hashwall.hashing.keypoints import Keypoints

#: Which keypoints to compute: a banked photo's (``bank``) or an upload's (``upload``: more of
#: them, on a larger working picture; ``hashing.keypoints``), or none.
KeypointRole = Literal["bank", "upload"]


class HashMode(enum.StrEnum):
    """``reference``: pdqhash on full-resolution pixels. ``fast``: reduced decode, own PDQ."""

    REFERENCE = "reference"
    FAST = "fast"


@dataclass(frozen=True, slots=True)
class Note:
    """Something a caller should know about a result that is not an error."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ImageHashes:
    """Every signal of one image, with what was hashed and how.

    ``usable`` is False when PDQ quality is below 50: the image is too featureless to bank or
    match on (note ``low_quality``); its digests are still exact.
    """

    pdq: PdqHash
    quality: int
    md5: str
    sha256: str
    width: int
    height: int
    format: str
    mode: HashMode
    frame_count: int = 1
    orientations: tuple[PdqHash, ...] | None = None
    notes: tuple[Note, ...] = field(default=())
    #: The 8 dihedral PDQ hashes of each place the photo may be inside the upload (pads,
    #: bars, an app frame removed; ``hashing.contentbox``), when asked for; usable ones only.
    regions: tuple[tuple[PdqHash, ...], ...] = ()
    #: The keypoint codes (``hashing.keypoints``), when asked for; None otherwise.
    keypoints: Keypoints | None = None

    @property
    def usable(self) -> bool:
        """True when the PDQ hash may be banked or matched on."""
        return self.quality >= MIN_QUALITY

    @property
    def animated(self) -> bool:
        """True for an animation (only its first frame is hashed for now)."""
        return self.frame_count > 1

    def signals(self) -> list[Signal]:
        """The typed signals: PDQ (only when usable), md5, sha256."""
        return self.all_signals() if self.usable else self.all_signals()[1:]

    def all_signals(self) -> list[Signal]:
        """Every signal, the PDQ first whatever its quality (the service judges it); the
        keypoints when they were computed and the picture has any."""
        out = [
            Signal(PdqSignal.name, self.pdq.hex, self.quality),
            Signal(Md5Signal.name, self.md5),
            Signal(Sha256Signal.name, self.sha256),
        ]
        if self.keypoints is not None and len(self.keypoints):
            out.append(Signal(KeypointsSignal.name, self.keypoints.to_bytes().hex()))
        return out

    def orientation_values(self) -> dict[str, tuple[str, ...]]:
        """The orientations' values by signal type (empty when they were not computed)."""
        if not self.orientations:
            return {}
        return {PdqSignal.name: tuple(h.hex for h in self.orientations)}

    def region_values(self) -> dict[str, tuple[tuple[str, ...], ...]]:
        """The regions' values by signal type (empty when none were computed or found)."""
        if not self.regions:
            return {}
        return {PdqSignal.name: tuple(tuple(h.hex for h in r) for r in self.regions)}


def hash_image(
    data: bytes,
    *,
    fast: bool = False,
    orientations: bool = False,
    regions: bool = False,
    keypoints: KeypointRole | None = None,
    settings: Settings | None = None,
) -> ImageHashes:
    """Fingerprint the bytes of one image: PDQ (with quality), md5 and sha256.

    Raises a :class:`hashwall.errors.HashwallError` for anything that is not a decodable image
    within the limits of ``settings``. ``orientations=True`` adds the eight dihedral PDQ hashes;
    ``regions=True`` (for a check: nothing of it is banked) adds those of each place the photo
    may be inside the upload (``hashing.contentbox``), hashed in fast mode. ``keypoints`` adds
    the keypoint codes of a photo to bank (``"bank"``) or of an upload to check (``"upload"``).
    """
    # The decoders (Pillow plugins, libheif) load on first use, not on import.
    from hashwall.media.decode import decode_image

    settings = settings or Settings()
    if fast:
        from hashwall.hashing.fast import FAST_DRAFT_MIN_SIDE, pdq_fast
        from hashwall.hashing.keypoints import BANK_BASE, QUERY_DRAFT_MIN_SIDE

        # Keypoints want a larger picture than PDQ: a bank's longer side at BANK_BASE at least.
        draft = {None: FAST_DRAFT_MIN_SIDE, "upload": QUERY_DRAFT_MIN_SIDE}.get(
            keypoints, BANK_BASE
        )
        image = decode_image(data, settings, draft_min_side=max(FAST_DRAFT_MIN_SIDE, draft))
        # The reduced decode is hashed with the full-resolution geometry of the picture.
        result: PdqResult = pdq_fast(
            image.pixels, dihedral=orientations, full_size=(image.height, image.width)
        )
    else:
        image = decode_image(data, settings)
        result = pdq_reference(image.pixels, dihedral=orientations)
    notes: list[Note] = []
    if image.frame_count > 1:
        notes.append(
            Note(
                "first_frame_only",
                f"animated image with {image.frame_count} frames: only the first frame is hashed",
            )
        )
    if result.quality < MIN_QUALITY:
        notes.append(
            Note(
                "low_quality",
                f"PDQ quality {result.quality} is below {MIN_QUALITY}: the image is too "
                "featureless to match on; its PDQ hash will not be banked or matched",
            )
        )
    found: tuple[tuple[PdqHash, ...], ...] = ()
    if regions:
        from hashwall.hashing.contentbox import region_hashes

        full = (image.height, image.width)
        found = tuple(region_hashes(image.pixels, full, MIN_QUALITY))
    found_keypoints = None
    if keypoints is not None:
        from hashwall.hashing import keypoints as kp

        found_keypoints = (
            kp.upload_keypoints(image.pixels)
            if keypoints == "upload"
            else kp.keypoints(image.pixels)
        )
    d = digests(data)
    return ImageHashes(
        pdq=result.hash,
        quality=result.quality,
        md5=d.md5,
        sha256=d.sha256,
        width=image.width,
        height=image.height,
        format=str(image.format),
        mode=HashMode.FAST if fast else HashMode.REFERENCE,
        frame_count=image.frame_count,
        orientations=result.orientations,
        notes=tuple(notes),
        regions=found,
        keypoints=found_keypoints,
    )


def read_media_file(path: str | os.PathLike[str], settings: Settings) -> bytes:
    """Read a local file, refusing one larger than ``settings.max_input_bytes`` before reading."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise FileUnreadable(f"{p} is not a regular file")
        if size > settings.max_input_bytes:
            raise MediaTooLarge(
                f"the file has {size} bytes; the limit is {settings.max_input_bytes} "
                "(HASHWALL_MAX_INPUT_BYTES)"
            )
        with p.open("rb") as f:
            data = f.read(settings.max_input_bytes + 1)
    except OSError as exc:
        raise FileUnreadable(f"cannot read {p}: {exc.strerror or exc}") from None
    if len(data) > settings.max_input_bytes:  # the file grew while we read it
        raise MediaTooLarge(f"the file has more than {settings.max_input_bytes} bytes")
    return data


def hash_file(
    path: str | os.PathLike[str],
    *,
    fast: bool = False,
    orientations: bool = False,
    regions: bool = False,
    keypoints: KeypointRole | None = None,
    settings: Settings | None = None,
) -> ImageHashes:
    """Fingerprint a local image file; see :func:`hash_image`."""
    settings = settings or Settings()
    data = read_media_file(path, settings)
    return hash_image(
        data,
        fast=fast,
        orientations=orientations,
        regions=regions,
        keypoints=keypoints,
        settings=settings,
    )
