"""Which packets a sampled walk over a video must decode, so that the sampled frames come out
exactly as decoding every frame gives them.

Hashing one frame in ``every`` (vPDQ's ``frame_mod``) needs only those frames and what they
are predicted from. :class:`SamplePlan` looks at the packets in decode order, a window ahead,
and gives each one an :class:`Action`:

* ``DECODE``: a sampled frame (its rank in presentation order is a multiple of ``every``);
* ``DROP``: not given to the decoder at all, when a *clean* key frame (one nothing after it is
  predicted across: an H.264/HEVC IDR picture, a VP8/VP9 key frame) comes later in decode
  order with no sampled frame in between: nothing that is decoded can refer to it;
* ``SKIP_NONREF``: decoded with the decoder's ``skip_frame = NONREF``: a frame no other frame
  refers to (most B-frames) is skipped by the decoder, a reference frame is decoded exactly.

A frame's number is its rank in presentation order (what counting the decoded frames gives):
the number of packets with a smaller presentation timestamp. The window of :data:`REORDER`
packets past a packet holds every packet that may still come before it in presentation order
(H.264 and HEVC reorder at most 16 frames). That holds for well-formed files; whatever breaks
it (a packet without a timestamp, two with the same, deeper reordering, a file that does not
start on a key frame, a sampled frame the decoder does not give) raises :class:`NotExact`,
and the caller decodes everything instead.
"""

from __future__ import annotations

import bisect
import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["REORDER", "Action", "NotExact", "PlannedPacket", "SamplePlan", "clean_key_test"]

#: Packets looked at past a packet before its presentation rank is taken as final.
REORDER = 32
#: At most this many packets are held ahead to find a key frame before the next sample.
MAX_AHEAD = 600

#: Codecs whose key frames :func:`clean_key_test` can tell clean from the packet bytes.
CLEAN_KEY_CODECS = frozenset({"h264", "hevc", "vp8", "vp9"})

P = TypeVar("P")


class NotExact(Exception):
    """The packets do not let a sampled walk promise full decoding's frames: decode them all."""


class Action(enum.Enum):
    """What to do with one packet (see the module docstring)."""

    DECODE = "DEFAULT"
    SKIP_NONREF = "NONREF"
    DROP = "DROP"


@dataclass(frozen=True, slots=True)
class PlannedPacket(Generic[P]):
    """A packet, its frame's rank in presentation order, and what to do with it."""

    packet: P
    rank: int
    action: Action


@dataclass(slots=True)
class _Held(Generic[P]):
    packet: P
    pts: int
    clean_key: bool


class SamplePlan(Generic[P]):
    """Plans a walk over packets (of any type ``P``) that hashes frames ``0, every, ...``.

    :meth:`push` each packet in decode order with its presentation timestamp and whether it is
    a key frame, and a clean one; it returns the packets decided so far, in the same order.
    :meth:`finish` decides the rest. :meth:`frame_index` numbers a frame the decoder gives;
    :meth:`check_complete` checks at the end that every sampled frame was given.
    """

    def __init__(self, every: int) -> None:
        if every < 2:
            raise ValueError("a sampled walk skips frames: every must be 2 or more")
        self.every = every
        self.decided = 0  # packets decided so far (the frames full decoding would have counted)
        self._ahead = min(every, MAX_AHEAD) + REORDER
        self._held: deque[_Held[P]] = deque()
        self._all_pts: list[int] = []  # every packet's pts so far, sorted
        self._max_decided_pts: int | None = None
        self._drop = 0  # packets after the front that a key frame ahead lets go undecoded
        self._keep = 0  # packets after the front that no key frame ahead can let go
        self._keys_held = 0
        self._rank_of: dict[int, int] = {}  # pts -> rank of the packets given to the decoder
        self._last_given = -1
        self._next_sample = 0

    def push(
        self, packet: P, pts: int | None, *, key: bool, clean_key: bool
    ) -> list[PlannedPacket[P]]:
        """Take the next packet in decode order; return the packets now decided."""
        if pts is None:
            raise NotExact("a packet without a presentation timestamp")
        if not self._all_pts and not key:
            raise NotExact("the video does not start on a key frame")
        if self._max_decided_pts is not None and pts <= self._max_decided_pts:
            raise NotExact("a packet comes before one already numbered")
        at = bisect.bisect_left(self._all_pts, pts)
        if at < len(self._all_pts) and self._all_pts[at] == pts:
            raise NotExact("two packets with the same presentation timestamp")
        self._all_pts.insert(at, pts)
        self._held.append(_Held(packet, pts, clean_key))
        self._keys_held += clean_key
        out: list[PlannedPacket[P]] = []
        while len(self._held) > self._ahead:
            out.append(self._decide(final=len(self._held) - REORDER))
        return out

    def finish(self) -> list[PlannedPacket[P]]:
        """After the last packet: decide the packets still held."""
        out: list[PlannedPacket[P]] = []
        while self._held:
            out.append(self._decide(final=len(self._held)))
        return out

    def frame_index(self, pts: int | None) -> int:
        """The number of a frame the decoder gives (its rank), checked against the plan:
        frames come in presentation order, from packets given to the decoder, and no sampled
        frame is missed."""
        rank = self._rank_of.pop(pts, None) if pts is not None else None
        if rank is None or rank <= self._last_given:
            raise NotExact("the decoder gave a frame out of the planned order")
        if rank >= self._next_sample:
            if rank != self._next_sample:
                raise NotExact("the decoder did not give a sampled frame")
            self._next_sample += self.every
        self._last_given = rank
        return rank

    def check_complete(self) -> None:
        """After the decoder is drained: every sampled frame was given."""
        if self._next_sample < self.decided:
            raise NotExact("the decoder did not give a sampled frame")

    def _rank(self, pts: int) -> int:
        return bisect.bisect_left(self._all_pts, pts)

    def _decide(self, final: int) -> PlannedPacket[P]:
        """Decide the front packet; ranks of the first ``final`` held packets are final."""
        front = self._held.popleft()
        self._keys_held -= front.clean_key
        rank = self._rank(front.pts)
        self.decided += 1
        self._max_decided_pts = (
            front.pts if self._max_decided_pts is None else max(self._max_decided_pts, front.pts)
        )
        if rank % self.every == 0:
            action = Action.DECODE
            self._drop = self._keep = 0
        elif self._drop:
            action = Action.DROP
            self._drop -= 1
        else:
            action = Action.DROP if self._key_ahead(final - 1) else Action.SKIP_NONREF
        if action is not Action.DROP:
            self._rank_of[front.pts] = rank
        self._keep = max(0, self._keep - 1)
        return PlannedPacket(front.packet, rank, action)

    def _key_ahead(self, final: int) -> bool:
        """Whether a clean key frame comes among the next ``final`` held packets with no sampled
        frame before it; if so the packets up to it are dropped too."""
        if not self._keys_held or self._keep:
            return False
        for i in range(final):
            held = self._held[i]
            if held.clean_key:
                self._drop = i  # the packets before the key frame
                return True
            if self._rank(held.pts) % self.every == 0:
                self._keep = i + 1  # every packet up to this sample has it ahead
                return False
        return False


def clean_key_test(codec: str, extradata: bytes | None) -> Callable[[bytes], bool] | None:
    """For a codec of :data:`CLEAN_KEY_CODECS`, a test of a key frame packet's bytes: whether
    no frame after it in decode order is predicted from frames before it. None when the codec's
    packets cannot be told (another codec, or H.264/HEVC not in length-prefixed form)."""
    if codec in ("vp8", "vp9"):
        return lambda data: True  # a key frame resets every reference
    if codec == "h264" and extradata and extradata[0] == 1 and len(extradata) > 4:
        size = (extradata[4] & 3) + 1
        return lambda data: 5 in _nal_types(data, size, lambda b: b & 0x1F)  # IDR slice
    if codec == "hevc" and extradata and extradata[0] == 1 and len(extradata) > 21:
        size = (extradata[21] & 3) + 1
        return lambda data: bool({19, 20} & _nal_types(data, size, lambda b: (b >> 1) & 0x3F))
    return None


def _nal_types(data: bytes, size: int, nal_type: Callable[[int], int]) -> set[int]:
    """The NAL unit types in a packet of length-prefixed NAL units (``size``-byte lengths)."""
    types: set[int] = set()
    pos = 0
    while pos + size < len(data):
        length = int.from_bytes(data[pos : pos + size], "big")
        if length == 0:
            break
        types.add(nal_type(data[pos + size]))
        pos += size + length
    return types
