"""The ``vpdq_frame`` signal type: the PDQ hash of one sampled frame of a video.

A video item carries one ``vpdq_frame`` signal per kept frame (quality >= 50, runs of identical
hashes collapsed, as :func:`hashwall.hashing.vpdq.hash_video` keeps them). The value is the
frame's PDQ hash alone, 64 hex digits, validated as a ``pdq`` value is; so a frame hash goes
into the same kind of Hamming index as an image's, and two frame hashes compare as two PDQ
hashes do (distance <= 31 by default).

Where a frame sits in its video is not part of the value: the frame number and the timestamp
(``frame_number / fps``, seconds, 3 decimals) are metadata of the item's frame list, in the
order of that list, as :meth:`hashwall.hashing.vpdq.VpdqFeature.to_dict` writes each frame
(``{"frame", "pdq", "quality", "timestamp"}``). Keeping them out of the value keeps one
frame's hash comparable with any other frame's (and with an image's ``pdq``, should that be
wanted), and the value format the same as everywhere else.

One frame that matches is not a video that matches: a video is judged by the video rule over
all its frames (:func:`hashwall.hashing.video_match.match_video`: the share of distinct
frames matched, both ways, and at least 3 distinct frames in the same order). The index only
finds the candidate banked videos.

The type has no orientations: an upload's mirrored frames are a second list of frame hashes
(:attr:`hashwall.hashing.vpdq.VpdqFeature.mirror`), judged as a whole by the video rule.
"""

from __future__ import annotations

from typing import ClassVar

from hashwall.hashing.pdq import MIN_QUALITY
from hashwall.hashing.signals.base import DistanceSignalType
from hashwall.hashing.signals.pdq import PdqValues

#: The frame threshold of the video rule, and the largest a platform may set (as for ``pdq``).
VPDQ_FRAME_THRESHOLD = 31


class VpdqFrameSignal(PdqValues, DistanceSignalType):
    """A video frame's PDQ hash: 64 hex digits, about half of the bits set, quality 0-100.

    Frames below quality 50 are dropped when a video is hashed and never banked nor matched.
    """

    name = "vpdq_frame"
    bits = 256
    quality_required = True
    min_quality = MIN_QUALITY
    orientations: ClassVar[tuple[str, ...]] = ()
    many_per_item = True
    default_threshold = VPDQ_FRAME_THRESHOLD
    max_threshold = VPDQ_FRAME_THRESHOLD

    @classmethod
    def get_examples(cls) -> tuple[str, ...]:
        # The first frames of two unrelated reference videos (a chair, a pattern).
        return (
            "34ada6b96d18d2491a79f80f07f2c9936fe6083dfb6983d8a4a36db40034df54",
            "b2dc981be36c994787bc16811edcda81d20b855627b6bff86e8ba1050b44ff86",
        )
