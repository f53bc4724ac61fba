"""A logo stamped on a video's picture: found on the sampled frames (``OverlayVote``) only
where it is, and filled in for the upload's second list of frames (``fill_overlay``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pytest

from hashwall.hashing.contentbox import Box
from hashwall.hashing.video_box import (
    OVERLAY_MAX_SHARE,
    Overlay,
    OverlayVote,
    fill_overlay,
)
from hashwall.hashing.video_match import VideoFrames, match_video
from hashwall.hashing.vpdq import hash_video

from support import textured_rgb
from video_samples import encode_clip, panning_frames

W, H, FPS = 128, 96, 10


def _pan(seconds: float, seed: int) -> list[np.ndarray]:
    return list(panning_frames(round(seconds * FPS), W, H, seed, 2))


def _stamped(
    frames: Iterable[np.ndarray], share: float, at: tuple[int, int]
) -> Iterator[np.ndarray]:
    """A white plate with two dark lines, ``share`` of the width, its corner at ``at``."""
    for f in frames:
        out = f.copy()
        lw, lh = round(W * share), round(W * share * 0.6)
        y, x = at
        plate = out[y : y + lh, x : x + lw]
        plate[:] = 245
        plate[lh // 3 : lh // 3 + 2, 2:-2] = 20
        plate[2 * lh // 3 : 2 * lh // 3 + 2, 2:-6] = 20
        yield out


def _vote(frames: Iterable[np.ndarray]) -> OverlayVote:
    vote = OverlayVote()
    for f in frames:
        vote.add(f)
    return vote


def test_a_logo_on_a_moving_picture_is_found_where_it_is() -> None:
    frames = list(_stamped(_pan(10, seed=7)[::FPS], 0.12, (H - 13, W - 19)))
    overlay = _vote(frames).overlay()
    assert overlay is not None and overlay.mask.shape == (H, W)
    rows, cols = np.flatnonzero(overlay.mask.any(axis=1)), np.flatnonzero(overlay.mask.any(axis=0))
    assert rows[0] >= H - 16 and cols[0] >= W - 22  # the plate and a cell around it, no more
    assert 0 < overlay.share <= OVERLAY_MAX_SHARE
    inside = _vote(frames).overlay(Box(0, 10, W, H - 2))  # in the box's coordinates
    assert inside is not None and inside.mask.shape == (H - 12, W)


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(lambda: _pan(10, seed=7)[::FPS], id="a pan without a logo"),
        pytest.param(
            lambda: list(_stamped([textured_rgb(W, H, seed=3)] * 10, 0.12, (4, 4))),
            id="a still picture with a logo",
        ),
        pytest.param(
            lambda: list(_stamped(_pan(10, seed=7)[::FPS], 0.12, (4, 4)))[:5],
            id="too few frames",
        ),
        pytest.param(
            lambda: [
                np.concatenate([textured_rgb(W, H // 2, seed=5), f[H // 2 :]])
                for f in _pan(10, seed=7)[::FPS]
            ],
            id="half the shot still",
        ),
    ],
)
def test_nothing_else_is_an_overlay(frames: object) -> None:
    assert _vote(frames()).overlay() is None  # type: ignore[operator]


def test_plain_pans_of_many_pictures_have_no_overlay() -> None:
    found = [seed for seed in range(20, 32) if _vote(_pan(10, seed)[::FPS]).overlay() is not None]
    assert found == []


def test_the_fill_changes_only_the_overlay_and_blends_its_surround() -> None:
    frame = textured_rgb(W, H, seed=1)
    mask = np.zeros((H, W), dtype=bool)
    mask[40:60, 50:90] = True
    stamped = frame.copy()
    stamped[mask] = 255
    filled = fill_overlay(stamped, Overlay(mask))
    assert np.array_equal(filled[~mask], stamped[~mask])
    assert filled[mask].mean() < 250  # no longer the white plate
    edge = stamped[39, 50:90].astype(float).mean(axis=0)
    assert np.allclose(filled[40, 50:90].astype(float).mean(axis=0), edge, atol=40)
    assert np.array_equal(fill_overlay(frame, Overlay(np.zeros((H, W), bool))), frame)
    with pytest.raises(ValueError):
        fill_overlay(frame, Overlay(np.zeros((H, W + 1), dtype=bool)))


@pytest.mark.parametrize("share", [0.06, 0.12, 0.2])
def test_an_upload_with_a_logo_matches_by_its_filled_frames(share: float) -> None:
    clip = _pan(10, seed=7)
    banked = VideoFrames.from_video(hash_video(encode_clip(clip, "mp4", FPS), seconds_per_hash=0))
    upload = hash_video(
        encode_clip(_stamped(clip, share, (H - 4 - round(W * share * 0.6), 4)), "mp4", FPS),
        mirror=True,
        box=True,
    )
    assert upload.content_box is None and upload.box_frames  # no bars: the logo filled in
    assert match_video(VideoFrames.from_features(upload.box_frames), banked).match
    if share >= 0.12:  # as it is, the logo hides the clip
        assert not match_video(VideoFrames.from_video(upload), banked).match
