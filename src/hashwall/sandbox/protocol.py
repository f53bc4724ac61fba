"""What the server and a decoder worker say to each other, and how it is framed.

Frames are those of :class:`multiprocessing.connection.Connection` (a signed 4-byte big-endian
length, then the bytes), which the worker uses on its end. Never pickle: the server must not
unpickle what a worker that decoded hostile bytes sends back.

- server -> worker: a job, two frames: the JSON header ``{"task": "hash", "fast": bool,
  "orientations": bool, "regions": bool}`` (an image) or ``{"task": "video",
  "seconds_per_hash": float, "mirror": bool, "max_frames": int, "box": bool}`` (a video), then
  the media
  bytes;
- worker -> server: one JSON document, ``{"ready": true}`` once at start (or ``{"ready": false,
  "message": ...}``), then per job ``{"ok": {...}}`` (:func:`hashes_to_wire`, or
  :meth:`~hashwall.hashing.vpdq.VideoHashes.to_wire` for a video) or
  ``{"error": {"type", "message"}, "recycle": bool}`` (``recycle``: the worker exits after
  answering and is replaced).

Everything a worker sends is validated here before it becomes a value of the server's.
"""

from __future__ import annotations

import json
import re
import socket
import struct
from typing import Any, Final

from hashwall import errors
from hashwall.errors import DecodeFailed, HashwallError
from hashwall.hashing.image import HashMode, ImageHashes, KeypointRole, Note
from hashwall.hashing.keypoints import RECORD_BYTES, Keypoints
from hashwall.hashing.pdq import PdqHash
from hashwall.hashing.vpdq import VideoHashes

#: A signed 4-byte big-endian length, the frame header of multiprocessing.connection.
FRAME: Final = struct.Struct("!i")
_MAX_FRAME = 0x7FFFFFFF
# A worker's answer is a few kB of JSON for an image, up to ~200 bytes per frame for a video
# (10,800 frames with their mirrored hashes: ~2 MB, twice that with box frames); anything
# larger is not one of ours.
MAX_REPLY_BYTES: Final = 8 << 20
MAX_MESSAGE_CHARS: Final = 500
_RECV_CHUNK = 1 << 16
_HEX = re.compile(r"[0-9a-f]+")

# The headers of the hash jobs, encoded once.
_HASH_JOBS: Final = {
    (fast, orientations, regions, keypoints): json.dumps(
        {
            "task": "hash",
            "fast": fast,
            "orientations": orientations,
            "regions": regions,
            "keypoints": keypoints,
        }
    ).encode()
    for fast in (False, True)
    for orientations in (False, True)
    for regions in (False, True)
    for keypoints in (None, "bank", "upload")
}
#: The most regions a worker may report (``hashing.contentbox`` finds at most seven).
MAX_REGIONS: Final = 8
#: The most keypoint records a worker may report (an upload's at most).
MAX_KEYPOINT_RECORDS: Final = 320


def hash_job(
    *, fast: bool, orientations: bool, regions: bool = False, keypoints: KeypointRole | None = None
) -> bytes:
    """The header frame of a job that hashes the media bytes of the next frame."""
    return _HASH_JOBS[bool(fast), bool(orientations), bool(regions), keypoints]


def video_job(
    *, seconds_per_hash: float, mirror: bool, max_frames: int, box: bool = False
) -> bytes:
    """The header frame of a job that hashes the video of the next frame: one frame every
    ``seconds_per_hash`` (0: every frame), at most ``max_frames`` kept (evenly spaced); with
    ``box``, the frames cropped to the picture inside constant bars too, when it has bars."""
    return json.dumps(
        {
            "task": "video",
            "seconds_per_hash": float(seconds_per_hash),
            "mirror": bool(mirror),
            "max_frames": int(max_frames),
            "box": bool(box),
        }
    ).encode()


# --- framing ----------------------------------------------------------------------------------


def header(length: int) -> bytes:
    """The frame header of a payload of ``length`` bytes."""
    if length > _MAX_FRAME:
        raise ValueError("a frame of 2 GiB or more")
    return FRAME.pack(length)


def parse_frame(buf: bytearray) -> bytes:
    """The payload of the one whole reply frame in ``buf``; ``ValueError`` for anything else."""
    (size,) = FRAME.unpack_from(buf)
    if not 0 <= size <= MAX_REPLY_BYTES or len(buf) != FRAME.size + size:
        raise ValueError("not one reply frame")
    return bytes(buf[FRAME.size :])


def missing(buf: bytearray) -> int:
    """How many bytes the reply frame begun in ``buf`` still needs (at most one chunk)."""
    if len(buf) < FRAME.size:
        return _RECV_CHUNK
    size: int = FRAME.unpack_from(buf)[0]
    if not 0 <= size <= MAX_REPLY_BYTES:
        raise ValueError("a reply larger than any of ours")
    return min(FRAME.size + size - len(buf), _RECV_CHUNK)


def recv_frame(sock: socket.socket) -> bytes:
    """One reply frame from a blocking socket (``EOFError`` if the worker closed it)."""
    buf = bytearray()
    while (need := missing(buf)) > 0:
        chunk = sock.recv(need)
        if not chunk:
            raise EOFError("the worker closed its socket")
        buf += chunk
    return parse_frame(buf)


# --- values -----------------------------------------------------------------------------------


def hashes_to_wire(hashes: ImageHashes) -> dict[str, Any]:
    """An :class:`ImageHashes` as plain JSON values (the worker's side)."""
    return {
        "pdq": hashes.pdq.hex,
        "quality": hashes.quality,
        "md5": hashes.md5,
        "sha256": hashes.sha256,
        "width": hashes.width,
        "height": hashes.height,
        "format": hashes.format,
        "mode": str(hashes.mode),
        "frame_count": hashes.frame_count,
        "orientations": (
            None if hashes.orientations is None else [h.hex for h in hashes.orientations]
        ),
        "notes": [[note.code, note.message] for note in hashes.notes],
        "regions": [[h.hex for h in place] for place in hashes.regions],
        "keypoints": None if hashes.keypoints is None else hashes.keypoints.to_bytes().hex(),
    }


def error_to_wire(exc: HashwallError) -> dict[str, str]:
    """A media error as the worker reports it (its class name and message)."""
    return {"type": type(exc).__name__, "message": exc.message}


def error_from_wire(error: Any) -> HashwallError:
    """Rebuild an error a worker reported; anything unknown becomes :class:`DecodeFailed`."""
    if not isinstance(error, dict):
        raise TypeError("error is not an object")
    name, message = error.get("type"), error.get("message")
    if not isinstance(name, str) or not isinstance(message, str):
        raise TypeError("error has no type or message")
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, HashwallError)):
        cls = DecodeFailed
    return cls(message[:MAX_MESSAGE_CHARS])


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError("expected a non-negative integer")
    return value


def _hex(value: Any, length: int) -> str:
    if not isinstance(value, str) or len(value) != length or not _HEX.fullmatch(value):
        raise TypeError(f"expected {length} lowercase hex digits")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_MESSAGE_CHARS:
        raise TypeError("expected a short string")
    return value


def hashes_from_wire(wire: Any) -> ImageHashes:
    """Rebuild and validate the :class:`ImageHashes` a worker sent as JSON."""
    if not isinstance(wire, dict):
        raise TypeError("hashes are not an object")
    orientations = wire["orientations"]
    if orientations is not None and (not isinstance(orientations, list) or len(orientations) != 8):
        raise TypeError("orientations must be 8 hashes or null")
    notes = wire["notes"]
    if not isinstance(notes, list):
        raise TypeError("notes must be a list")
    regions = wire.get("regions", [])
    if not isinstance(regions, list) or len(regions) > MAX_REGIONS:
        raise TypeError(f"regions must be a list of at most {MAX_REGIONS}")
    if any(not isinstance(place, list) or len(place) != 8 for place in regions):
        raise TypeError("each region must be 8 hashes")
    records = wire.get("keypoints")
    if records is not None and (
        not isinstance(records, str)
        or len(records) % (2 * RECORD_BYTES)
        or len(records) > MAX_KEYPOINT_RECORDS * 2 * RECORD_BYTES
    ):
        raise TypeError("keypoints must be whole records in hex, or null")
    return ImageHashes(
        pdq=PdqHash.from_hex(_hex(wire["pdq"], 64)),
        quality=_int(wire["quality"]),
        md5=_hex(wire["md5"], 32),
        sha256=_hex(wire["sha256"], 64),
        width=_int(wire["width"]),
        height=_int(wire["height"]),
        format=_str(wire["format"]),
        mode=HashMode(wire["mode"]),
        frame_count=_int(wire["frame_count"]),
        orientations=(
            None
            if orientations is None
            else tuple(PdqHash.from_hex(_hex(h, 64)) for h in orientations)
        ),
        notes=tuple(Note(_str(code), _str(message)) for code, message in notes),
        regions=tuple(tuple(PdqHash.from_hex(_hex(h, 64)) for h in place) for place in regions),
        keypoints=None if records is None else Keypoints.from_bytes(bytes.fromhex(records)),
    )


def video_from_wire(wire: Any) -> VideoHashes:
    """Rebuild and validate the :class:`VideoHashes` a worker sent as JSON (every frame hash
    is parsed as a PDQ hash; numbers are checked by :meth:`VideoHashes.from_wire`)."""
    if not isinstance(wire, dict) or not isinstance(wire.get("frames"), list):
        raise TypeError("video hashes are not an object with frames")
    _hex(wire["md5"], 32)
    _hex(wire["sha256"], 64)
    boxed = wire.get("box_frames") or []
    box = wire.get("content_box")
    if not isinstance(boxed, list) or (
        box is not None and (not isinstance(box, list) or len(box) != 4)
    ):
        raise TypeError("box frames are a list, the content box 4 numbers")
    for side in box or ():
        _int(side)
    for frame in [*wire["frames"], *boxed]:
        if not isinstance(frame, dict):
            raise TypeError("a frame is not an object")
        _int(frame["frame"])
        if not 0 <= _int(frame["quality"]) <= 100:
            raise TypeError("a frame's quality is 0-100")
        _hex(frame["pdq"], 64)
        if frame.get("mirror") is not None:
            _hex(frame["mirror"], 64)
    first = wire.get("first_frame")
    if first is not None:
        if not isinstance(first, dict) or not 0 <= _int(first["quality"]) <= 100:
            raise TypeError("the first frame is an object with a quality of 0-100")
        _hex(first["pdq"], 64)
        turned = first.get("orientations")
        if turned is not None and (not isinstance(turned, list) or len(turned) != 8):
            raise TypeError("the first frame's orientations are 8 hashes")
        for h in turned or ():
            _hex(h, 64)
    return VideoHashes.from_wire(wire)
