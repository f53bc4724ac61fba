"""The video rule on synthetic frame hashes: percentages over distinct frames, the ordered
chain of key frames, the bank's time window, ranges, mirrored uploads, compilations."""

from __future__ import annotations

import numpy as np
import pytest

from hashwall.errors import InvalidHash
from hashwall.hashing.pdq import PdqHash
from hashwall.hashing.video_match import (
    TimeRange,
    VideoFrames,
    distances,
    found_within,
    key_frames,
    longest_ordered_chain,
    match_each,
    match_video,
    ranges,
)
from hashwall.hashing.vpdq import VpdqFeature

RNG_SEED = 20


def random_hashes(n: int, seed: int = RNG_SEED) -> list[str]:
    """``n`` unrelated 256-bit hashes (any two are ~128 bits apart)."""
    rng = np.random.default_rng(seed)
    return [rng.bytes(32).hex() for _ in range(n)]


def flip(h: str, bits: int, seed: int = 0) -> str:
    """``h`` with ``bits`` distinct bits flipped."""
    rng = np.random.default_rng(seed)
    value = int(h, 16)
    for b in rng.choice(256, size=bits, replace=False):
        value ^= 1 << int(b)
    return f"{value:064x}"


def frames(hashes: list[str], start: float = 0.0, step: float = 1.0) -> VideoFrames:
    return VideoFrames.from_hex(hashes, [start + step * i for i in range(len(hashes))])


def test_an_identical_video_matches_at_100_percent_both_ways() -> None:
    video = frames(random_hashes(10))
    result = match_video(video, video)
    assert result.match
    assert result.upload_frames_matched_pct == 100.0
    assert result.banked_frames_matched_pct == 100.0
    assert result.ordered_frames == 10
    assert result.upload_ranges == (TimeRange(0.0, 9.0),)


def test_frames_within_the_threshold_match_and_beyond_it_do_not() -> None:
    banked = random_hashes(6)
    assert match_video(frames([flip(h, 31, i) for i, h in enumerate(banked)]), frames(banked)).match
    far = match_video(frames([flip(h, 32, i) for i, h in enumerate(banked)]), frames(banked))
    assert not far.match
    assert far.upload_frames_matched_pct == 0.0


def test_a_short_banked_clip_inside_a_long_upload_matches_by_the_banked_share() -> None:
    clip = random_hashes(10, seed=1)
    host = random_hashes(300, seed=2)
    upload = frames(host[:150] + [flip(h, 10, i) for i, h in enumerate(clip)] + host[150:])
    result = match_video(upload, frames(clip))
    assert result.match and result.reason == "banked_percent"
    assert result.upload_frames_matched_pct == pytest.approx(100 * 10 / 310)
    assert result.banked_frames_matched_pct == 100.0
    assert result.upload_ranges == (TimeRange(150.0, 159.0),)
    assert result.banked_ranges == (TimeRange(0.0, 9.0),)


def test_the_upload_share_counts_distinct_hashes_once() -> None:
    banked = random_hashes(4, seed=3)
    other = random_hashes(2, seed=4)
    # 8 frames, but equal hashes count once: 4 distinct that match, 2 that do not.
    upload = frames(banked + banked[:2] + other)
    result = match_video(upload, frames(banked))
    assert result.upload_frames_matched_pct == pytest.approx(100 * 4 / 6)


def test_too_few_ordered_key_frames_is_no_match_even_at_100_percent() -> None:
    # A still scene: its frames differ by a few bits of noise, so it is one key frame.
    still = random_hashes(1, seed=5)[0]
    upload = frames([flip(still, 4, i) for i in range(20)])
    banked = frames([flip(still, 6, 100 + i) for i in range(30)])
    result = match_video(upload, banked)
    assert result.upload_frames_matched_pct == 100.0
    assert result.ordered_frames == 1
    assert not result.match and result.reason == "too_few_ordered_frames"


def test_frames_in_reverse_order_do_not_make_an_ordered_chain() -> None:
    banked = random_hashes(3, seed=6)
    forward = match_video(frames(banked), frames(banked))
    backward = match_video(frames(banked[::-1]), frames(banked))
    assert forward.match and forward.ordered_frames == 3
    assert backward.upload_frames_matched_pct == 100.0
    assert backward.ordered_frames == 1
    assert not backward.match


def test_min_frames_is_the_shortest_chain_that_matches() -> None:
    banked = random_hashes(2, seed=7)
    assert not match_video(frames(banked), frames(banked)).match
    assert match_video(frames(banked), frames(banked), min_frames=2).match


def test_the_longest_chain_is_an_increasing_subsequence_in_both_videos() -> None:
    near = np.zeros((5, 5), dtype=bool)
    for i, j in [(0, 3), (1, 0), (2, 1), (3, 4), (4, 2), (4, 4)]:
        near[i, j] = True
    # (1,0) (2,1) (4,2) or (1,0) (2,1) (3,4): 3 pairs; one row never counts twice.
    assert longest_ordered_chain(near) == 3
    assert longest_ordered_chain(np.ones((4, 1), dtype=bool)) == 1
    assert longest_ordered_chain(np.ones((1, 4), dtype=bool)) == 1
    assert longest_ordered_chain(np.eye(6, dtype=bool)) == 6
    assert longest_ordered_chain(np.zeros((3, 3), dtype=bool)) == 0


def test_key_frames_start_a_new_scene_past_distinct_bits() -> None:
    a, b = random_hashes(2, seed=8)
    scene = [a, flip(a, 5, 1), flip(a, 10, 2), b, flip(b, 3, 3), a]
    words = VideoFrames.from_hex(scene).words
    assert key_frames(words, 16).tolist() == [0, 3, 5]
    assert key_frames(words, 0).tolist() == [0, 1, 2, 3, 4, 5]


def test_ranges_are_runs_of_consecutive_matched_frames() -> None:
    stamps = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    hit = np.array([True, True, False, True, False, True])
    assert ranges(stamps, hit) == (TimeRange(0, 1), TimeRange(3, 3), TimeRange(5, 5))
    assert ranges(stamps, np.zeros(6, dtype=bool)) == ()


def test_a_densely_hashed_bank_is_found_around_each_matched_frame() -> None:
    stamps = np.arange(0, 3.01, 0.25)
    hit = np.zeros(stamps.size, dtype=bool)
    hit[4] = True  # 1.0 s
    found = found_within(stamps, hit, 0.5)
    assert stamps[found].tolist() == [0.5, 0.75, 1.0, 1.25, 1.5]
    assert found_within(stamps, hit, 0.0).tolist() == hit.tolist()


def test_an_upload_at_one_frame_per_second_finds_the_whole_of_an_every_frame_bank() -> None:
    # The bank has 4 frames a second; the upload was sampled at 1 s with another phase.
    bank = random_hashes(40, seed=9)
    banked = frames(bank, step=0.25)
    upload = frames([flip(bank[i], 8, i) for i in range(1, 40, 4)], start=0.25)
    result = match_video(upload, banked)
    assert result.match
    assert result.upload_frames_matched_pct == 100.0
    assert result.banked_frames_matched_pct == 100.0
    # Without the window only the sampled quarter of the bank counts.
    narrow = match_video(upload, banked, banked_window=0.0)
    assert narrow.banked_frames_matched_pct == 25.0


def test_a_mirrored_upload_matches_through_its_mirrored_hashes() -> None:
    bank = random_hashes(8, seed=10)
    unrelated = random_hashes(8, seed=11)
    upload = VideoFrames.from_hex(unrelated, mirror=[flip(h, 5, i) for i, h in enumerate(bank)])
    result = match_video(upload, frames(bank))
    assert result.match and result.mirrored
    without = match_video(VideoFrames.from_hex(unrelated), frames(bank))
    assert not without.match


def test_a_compilation_matches_each_banked_clip_on_its_own() -> None:
    one, two, three = (random_hashes(10, seed=s) for s in (12, 13, 14))
    host = random_hashes(60, seed=15)
    upload = frames(host[:20] + one + host[20:40] + two + host[40:])
    results = match_each(upload, {"one": frames(one), "two": frames(two), "three": frames(three)})
    assert results["one"].match and results["two"].match
    assert not results["three"].match
    assert results["two"].upload_ranges == (TimeRange(50.0, 59.0),)


def test_an_empty_video_matches_nothing() -> None:
    empty = VideoFrames.from_hex([])
    result = match_video(empty, frames(random_hashes(5)))
    assert not result.match and result.reason == "no_frames"
    assert not match_video(frames(random_hashes(5)), empty).match


def test_frames_from_features_drop_low_quality_and_keep_mirrors() -> None:
    a, b, c, d = random_hashes(4, seed=16)
    features = [
        VpdqFeature(0, PdqHash.from_hex(a), 100, 0.0, PdqHash.from_hex(c)),
        VpdqFeature(30, PdqHash.from_hex(b), 40, 1.0, PdqHash.from_hex(d)),
    ]
    video = VideoFrames.from_features(features)
    assert len(video) == 1 and video.timestamps.tolist() == [0.0]
    assert video.mirror is not None
    assert VideoFrames.from_hex([c]).words.tolist() == video.mirror.tolist()


def test_a_bad_frame_hash_is_invalid_hash() -> None:
    with pytest.raises(InvalidHash):
        VideoFrames.from_hex(["zz" * 32])
    with pytest.raises(InvalidHash):
        VideoFrames.from_hex(["ab" * 31])


def test_the_json_form_has_both_percentages_and_the_ranges() -> None:
    video = frames(random_hashes(4, seed=17))
    out = match_video(video, video).to_dict()
    assert out["match"] is True
    assert out["upload_frames_matched_pct"] == 100.0
    assert out["banked_frames_matched_pct"] == 100.0
    assert out["ranges"] == {
        "upload": [{"start": 0.0, "end": 3.0}],
        "banked": [{"start": 0.0, "end": 3.0}],
    }


def test_all_pairs_distances_are_the_hamming_distances_of_the_hashes() -> None:
    a, b = random_hashes(7, seed=18), random_hashes(5, seed=19)
    got = distances(VideoFrames.from_hex(a).words, VideoFrames.from_hex(b).words)
    assert got.tolist() == [[(int(x, 16) ^ int(y, 16)).bit_count() for y in b] for x in a]


def _xor_bits(h: str, lo: int, hi: int) -> str:
    return f"{int(h, 16) ^ (((1 << (hi - lo)) - 1) << lo):064x}"


def test_a_scene_matches_when_any_of_its_frames_matches_not_only_its_key_frame() -> None:
    banked = random_hashes(3, seed=21)
    upload: list[str] = []
    for x in banked:
        inside = _xor_bits(x, 0, 20)  # 20 bits from the banked frame: a match
        key = _xor_bits(inside, 100, 114)  # 14 more: 34 from it, but the same scene
        upload += [key, inside]
    words = VideoFrames.from_hex(upload).words
    assert key_frames(words, 16).tolist() == [0, 2, 4]
    result = match_video(VideoFrames.from_hex(upload), frames(banked))
    assert result.upload_frames_matched_pct == 50.0
    assert result.ordered_frames == 3
    assert result.match and result.reason == "banked_percent"
