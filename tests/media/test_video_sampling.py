"""The sampled walk over a video: the frames of ``frames(every=n)`` are exactly every n-th
frame of decoding them all, with the same numbers, while frames no sample needs are left
undecoded; the plan behind it, on made-up packets; the fallback to decoding every frame."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hashwall.hashing.vpdq import compute_hash, frame_mod
from hashwall.media.video import open_video
from hashwall.media.video_sampling import Action, NotExact, SamplePlan, clean_key_test
from hashwall.settings import Settings

from video_samples import encode_clip, panning_frames

FPS = 30

#: name -> (container kind, encoder, encoder options): x264's defaults (B-frames, b-pyramid,
#: key frames far apart), x264 with an IDR picture every 24 frames (packets are dropped before
#: each), x264's open GOPs (key frames that are no IDR: nothing dropped), VP9 in WebM with and
#: without close key frames, and HEVC (x265's open GOPs).
VIDEOS: dict[str, tuple[str, str, dict[str, str]]] = {
    "h264-bframes": ("mp4", "libx264", {}),
    "h264-strict-pyramid": ("mkv", "libx264", {"x264-params": "b-pyramid=strict:bframes=5"}),
    "h264-key-24": ("mp4", "libx264", {"g": "24", "keyint_min": "24"}),
    "h264-open-gop": ("mp4", "libx264", {"x264-params": "open-gop=1:keyint=24:min-keyint=24"}),
    "vp9": ("webm", "libvpx-vp9", {}),
    "vp9-key-20": ("webm", "libvpx-vp9", {"g": "20"}),
    "hevc": ("mp4", "libx265", {"x265-params": "keyint=24:log-level=error"}),
}


@pytest.fixture(scope="module", params=sorted(VIDEOS))
def video(request: pytest.FixtureRequest) -> bytes:
    kind, codec, options = VIDEOS[request.param]
    frames = panning_frames(150, 160, 96, seed=3, speed=3)  # 5 s at 30 fps
    return encode_clip(frames, kind, FPS, codec=codec, options=options)


def _all_frames(data: bytes) -> tuple[list[bytes], int]:
    with open_video(data, Settings()) as opened:
        pixels = [f.pixels.tobytes() for f in opened.frames()]
        return pixels, opened.decoded


@pytest.mark.parametrize("every", [2, 7, 25, 30, 48])
def test_sampled_frames_are_every_nth_frame_of_full_decoding(video: bytes, every: int) -> None:
    everything, count = _all_frames(video)
    with open_video(video, Settings()) as opened:
        sampled = [(f.index, f.pixels.tobytes()) for f in opened.frames(every=every)]
        decoded, pictures = opened.decoded, opened.pictures
    assert sampled == [(i, everything[i]) for i in range(0, count, every)]
    assert decoded == count == 150
    assert pictures < count  # frames were left undecoded


@pytest.mark.parametrize("threads", [0, 1])  # FFmpeg's frame threads, and the worker's one
def test_vpdq_hashes_frame_numbers_and_timestamps_are_those_of_full_decoding(
    video: bytes, threads: int
) -> None:
    every = frame_mod(1.0, FPS)
    with open_video(video, Settings(), threads=threads) as opened:
        full = [f for f in compute_hash(opened, 0) if f.frame_number % every == 0]
    with open_video(video, Settings(), threads=threads) as opened:
        sampled = list(compute_hash(opened, 1.0))
        assert opened.pictures < opened.decoded
    assert [f.frame_number for f in sampled] == [0, 30, 60, 90, 120]
    assert sampled == full  # hash, quality, frame number and timestamp, bit for bit


def test_packets_before_an_idr_picture_are_not_decoded_when_no_sample_needs_them() -> None:
    frames = panning_frames(150, 160, 96, seed=3, speed=3)
    data = encode_clip(frames, "mp4", FPS, options={"g": "10", "keyint_min": "10"})
    with open_video(data, Settings()) as opened:
        indices = [f.index for f in opened.frames(every=30)]
        # Every sample is an IDR picture: the frames between are hardly decoded.
        assert indices == [0, 30, 60, 90, 120]
        assert opened.pictures <= 20


def test_a_walk_that_cannot_stay_exact_decodes_everything_and_gives_each_frame_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = encode_clip(panning_frames(150, 160, 96, seed=3), "mp4", FPS)
    everything, count = _all_frames(data)
    calls = 0
    frame_index = SamplePlan.frame_index

    def fails_after_a_while(plan: SamplePlan[object], pts: int | None) -> int:
        nonlocal calls
        calls += 1
        if calls == 40:  # part-way through, after some frames were given
            raise NotExact("made up")
        return frame_index(plan, pts)

    monkeypatch.setattr(SamplePlan, "frame_index", fails_after_a_while)
    with open_video(data, Settings()) as opened:
        sampled = [(f.index, f.pixels.tobytes()) for f in opened.frames(every=30)]
        assert opened.decoded == opened.pictures == count  # the second walk decoded them all
    assert sampled == [(i, everything[i]) for i in range(0, count, 30)]


# The plan on made-up packets: (pts, key, clean key) in decode order.


def _plan(
    packets: list[tuple[int | None, bool, bool]], every: int
) -> Iterator[tuple[int, int, Action]]:
    plan: SamplePlan[int] = SamplePlan(every)
    for i, (pts, key, clean) in enumerate(packets):
        for p in plan.push(i, pts, key=key, clean_key=clean):
            yield p.packet, p.rank, p.action
    for p in plan.finish():
        yield p.packet, p.rank, p.action


def _ipbb(frames: int, key_every: int = 10_000) -> list[tuple[int | None, bool, bool]]:
    """An I P B B ... stream in decode order (P at 3n, then the two B-frames before it)."""
    order = [0]
    for anchor in range(3, frames, 3):
        order += [anchor, anchor - 2, anchor - 1]
    return [(pts, pts % key_every == 0, pts % key_every == 0) for pts in order]


def test_a_frame_is_numbered_by_its_rank_in_presentation_order() -> None:
    planned = list(_plan(_ipbb(31), every=5))
    assert [rank for _, rank, _ in planned] == [pts for pts, _, _ in _ipbb(31)]
    assert [rank for _, rank, a in planned if a is Action.DECODE] == [0, 5, 10, 15, 20, 25, 30]
    assert {a for _, rank, a in planned if rank % 5} == {Action.SKIP_NONREF}


def _ippp(frames: int, key_every: int, clean: bool = True) -> list[tuple[int | None, bool, bool]]:
    """An I P P P ... stream with a key frame every ``key_every`` frames."""
    return [(pts, pts % key_every == 0, clean and pts % key_every == 0) for pts in range(frames)]


def test_packets_before_a_clean_key_frame_are_dropped_unless_a_sample_lies_between() -> None:
    actions = {rank: a for _, rank, a in _plan(_ippp(61, key_every=12), every=20)}
    assert [r for r, a in sorted(actions.items()) if a is Action.DECODE] == [0, 20, 40, 60]
    # 12-19 lead to sample 20 from the key frame at 12, 36-39 to 40 from 36; the rest of the
    # frames before a key frame with no sample in between are not decoded.
    kept = {*range(12, 20), *range(36, 40)}
    for rank in set(range(61)) - {0, 20, 40, 60}:
        assert actions[rank] is (Action.SKIP_NONREF if rank in kept else Action.DROP), rank


def test_a_key_frame_that_is_not_clean_lets_nothing_be_dropped() -> None:
    packets = _ippp(61, key_every=12, clean=False)
    assert {a for _, rank, a in _plan(packets, every=20) if rank % 20} == {Action.SKIP_NONREF}


@pytest.mark.parametrize(
    "packets",
    [
        [(0, True, True), (None, False, False)],  # no timestamp
        [(0, True, True), (3, False, False), (3, False, False)],  # the same timestamp twice
        [(3, False, False), (0, True, True)],  # not starting on a key frame
        # a frame arriving after one it precedes was numbered (reordered deeper than the window)
        [(0, True, True)] + [(pts, False, False) for pts in range(2, 80)] + [(1, False, False)],
    ],
    ids=["no-pts", "same-pts", "no-key-first", "too-deep"],
)
def test_what_breaks_the_numbering_is_not_exact(packets: list[tuple[int, bool, bool]]) -> None:
    with pytest.raises(NotExact):
        list(_plan(packets, every=3))


def test_the_decoder_must_give_every_sampled_frame_in_order() -> None:
    plan: SamplePlan[int] = SamplePlan(every=2)
    for pts in range(5):
        plan.push(pts, pts * 10, key=pts == 0, clean_key=False)
    plan.finish()
    assert plan.frame_index(0) == 0
    with pytest.raises(NotExact):
        plan.frame_index(30)  # frame 2, a sample, was not given
    with pytest.raises(NotExact):
        plan.frame_index(999)  # no packet has that timestamp


def test_clean_key_frames_are_idr_pictures_in_h264() -> None:
    avcc = bytes([1, 100, 0, 31, 0xFF])  # 4-byte NAL lengths
    test = clean_key_test("h264", avcc)
    assert test is not None
    idr = (2).to_bytes(4, "big") + bytes([0x06, 0]) + (3).to_bytes(4, "big") + bytes([0x65, 1, 2])
    non_idr_intra = (3).to_bytes(4, "big") + bytes([0x41, 1, 2])
    assert test(idr) and not test(non_idr_intra)
    assert clean_key_test("h264", b"\x00\x00\x00\x01") is None  # Annex B: not told
    assert clean_key_test("mpeg4", None) is None
