"""A fingerprint on the wire: ``{"type", "value", "quality"}``.

``type`` is any short name here: the service checks it against its registry of signal types
(``hashwall.hashing.signals``) and refuses an unknown type with hashwall's error code.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictInt

from hashwall.wire.base import ApiModel, ResponseModel

#: The longest value a signal may have: a ``keypoints`` set of 320 records of 32 hex digits
#: (hashes and digests are 32-64 hex digits).
MAX_VALUE_CHARS = 10_240


class SignalIn(ApiModel):
    """One fingerprint: ``{"type", "value", "quality"}`` (``quality`` 0-100 for ``pdq``)."""

    type: Annotated[str, Field(min_length=1, max_length=32, examples=["pdq"])]
    value: Annotated[str, Field(min_length=1, max_length=MAX_VALUE_CHARS)]
    quality: Annotated[StrictInt, Field(ge=0, le=100)] | None = None

    def wire(self) -> dict[str, Any]:
        """The mapping the service validates."""
        return {"type": self.type, "value": self.value, "quality": self.quality}


class SignalOut(ResponseModel):
    """A stored fingerprint, as the feed and the allowlist show it."""

    model_config = ConfigDict(extra="allow")

    type: str
    value: str | None
    quality: int | None = None


class FrameIn(ApiModel):
    """One hashed frame of a video (as ``hashwall hash`` writes it): its frame number, its PDQ
    hash, the hash's quality and its timestamp (frame number / fps, seconds)."""

    frame: Annotated[StrictInt, Field(ge=0)]
    pdq: Annotated[str, Field(min_length=1, max_length=64)]
    quality: Annotated[StrictInt, Field(ge=0, le=100)]
    timestamp: Annotated[float, Field(ge=0)]
    mirror: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="Ignored here: mirrored frames of a check go in mirror_frames."
    )

    def wire(self) -> dict[str, Any]:
        """The mapping the service validates."""
        return {
            "frame": self.frame,
            "pdq": self.pdq,
            "quality": self.quality,
            "timestamp": self.timestamp,
        }


#: A video's frames, in order (the service limits how many: ``vpdq_max_frames``).
Frames = list[FrameIn]
