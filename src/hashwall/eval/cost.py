"""What the query-side content boxes and keypoint codes cost per upload, in CPU time of one
thread.

``python -m hashwall.eval.cost --photos DIR [--limit N] [--seed S]`` decodes a seeded sample
of photos as a check does (fast mode: reduced JPEG decode), then times, on each photo as it is
(almost every real upload is a miss and an unedited photo), the upload's own 8 PDQ hashes and,
separately, the content boxes' extra work (:func:`hashwall.hashing.contentbox.region_hashes`:
detection plus the PDQ of each candidate) and, within it, the detection alone
(:func:`~hashwall.hashing.contentbox.candidates`), and the upload's keypoint codes
(:func:`hashwall.hashing.keypoints.keypoints` with the check's settings, on the keypoints'
own decode) beside a banked photo's (the bank's settings, full decode). Decoding and the bank
search are not timed. CPU
time of the thread (``time.thread_time``), so that other jobs on the machine inflate it less
than wall time; each photo is timed three times and the smallest kept.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from hashwall.eval.runner import list_images, pick
from hashwall.hashing.contentbox import candidates, region_hashes
from hashwall.hashing.fast import FAST_DRAFT_MIN_SIDE, pdq_fast
from hashwall.hashing.keypoints import QUERY_DRAFT_MIN_SIDE, keypoints, upload_keypoints
from hashwall.hashing.pdq import MIN_QUALITY
from hashwall.media.decode import decode_image
from hashwall.settings import Settings

REPEATS = 3


def _ms(fn: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t0)
    return best * 1000.0


def measure(paths: list[Path]) -> dict[str, Any]:
    """Per-photo CPU ms of the upload's dihedral PDQ, of the content boxes' extra work, and of
    their detection alone."""
    settings = Settings()
    images = [
        decode_image(p.read_bytes(), settings, draft_min_side=FAST_DRAFT_MIN_SIDE) for p in paths
    ]
    pdq_fast(images[0].pixels, dihedral=True)  # compile or load the kernels first
    candidates(images[0].pixels)
    keypoints(images[0].pixels)
    pdq_ms, boxes_ms, detect_ms, counts = [], [], [], []
    kp_ms, kp_bank_ms, kp_counts = [], [], []
    for path, image in zip(paths, images, strict=True):
        size = (image.height, image.width)
        pdq_ms.append(_ms(partial(pdq_fast, image.pixels, dihedral=True, full_size=size)))
        boxes_ms.append(_ms(partial(region_hashes, image.pixels, size, MIN_QUALITY)))
        detect_ms.append(_ms(partial(candidates, image.pixels, size)))
        counts.append(len(candidates(image.pixels, size)))
        data = path.read_bytes()
        pixels = decode_image(data, settings, draft_min_side=QUERY_DRAFT_MIN_SIDE).pixels
        kp_ms.append(_ms(partial(upload_keypoints, pixels)))
        kp_counts.append(len(upload_keypoints(pixels)))
        kp_bank_ms.append(_ms(partial(keypoints, decode_image(data, settings).pixels)))

    def pct(values: list[float]) -> dict[str, float]:
        p50, p90, p99 = np.percentile(values, [50, 90, 99])
        return {
            "p50": round(float(p50), 2),
            "p90": round(float(p90), 2),
            "p99": round(float(p99), 2),
        }

    return {
        "photos": len(images),
        "pdq8_ms": pct(pdq_ms),
        "boxes_extra_ms": pct(boxes_ms),
        "detection_ms": pct(detect_ms),
        "candidates_per_upload": round(float(np.mean(counts)), 2),
        "uploads_with_a_candidate": round(float(np.mean([c > 0 for c in counts])), 2),
        "keypoints_check_ms": pct(kp_ms),
        "keypoints_bank_ms": pct(kp_bank_ms),
        "keypoints_per_upload": round(float(np.mean(kp_counts)), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashwall.eval.cost", description=__doc__)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = pick(list_images(args.photos), args.limit, args.seed)
    if not paths:
        parser.error(f"no images under {args.photos}")
    result = measure(paths)
    print(f"photos: {result['photos']} (each as it is, fast decode; CPU ms of one thread)")
    for key in (
        "pdq8_ms",
        "boxes_extra_ms",
        "detection_ms",
        "keypoints_check_ms",
        "keypoints_bank_ms",
    ):
        r = result[key]
        print(f"{key}: p50 {r['p50']:.2f}  p90 {r['p90']:.2f}  p99 {r['p99']:.2f}")
    print(f"candidates per upload: {result['candidates_per_upload']:.2f}")
    print(f"uploads with at least one candidate: {result['uploads_with_a_candidate']:.2f}")
    print(f"keypoints per upload: {result['keypoints_per_upload']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
