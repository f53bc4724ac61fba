"""``hashwall bench video``: vPDQ frame hashing, hashwall's path beside the reference approach.

Each video is hashed at ``seconds_per_hash`` (default one frame per second) two ways, on the
same file, taking turns video by video so that a noisy neighbour slows both alike:

* ``hashwall``: :func:`hashwall.hashing.vpdq.hash_video` with its defaults (what ``hashwall
  hash`` and the decoder worker call): the file's MD5 and SHA-256, then the frames decoded by
  FFmpeg (its own thread count) as the sampled walk of :mod:`hashwall.media.video_sampling`
  decides (frames nothing refers to and frames no sample needs are left undecoded; the sampled
  frames are those of decoding every frame, bit for bit), the sampled frames converted to RGB
  and hashed by ``pdqhash``, the quality filter and the collapsing of runs;
* ``reference``: the way vPDQ's reference works, with plain PyAV: ``av.open``, every frame
  decoded, and each sampled frame (one in ``frame_mod``, as vPDQ's ``hashVideoFile`` picks them)
  ``frame.to_ndarray(format="rgb24")`` and ``pdqhash.compute``.

Both are timed in wall time and in process CPU time (every thread of this process, FFmpeg's
decoding threads included): "x real time per core" is seconds of video per CPU second, the
figure that holds on a shared machine. Without ``--videos``, two 30-second 720p H.264 test videos
(a textured picture panning at 30 fps, with camera-like grain) are generated in a temporary
folder.

The target (:data:`TARGET_X_REALTIME_PER_CORE`) is for 720p: it is judged on the videos whose
shorter side is 720 pixels (landscape or portrait), or on all of them when none is, and the
verdict says which.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "TARGET_X_REALTIME_PER_CORE",
    "VIDEO_SUFFIXES",
    "find_videos",
    "make_test_videos",
    "measure",
    "run_video_bench",
]

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi"})
METHODS = ("hashwall", "reference")
#: The issue's target: 720p at one frame per second hashed at >= 10x real time per core.
TARGET_X_REALTIME_PER_CORE = 10.0


def find_videos(folder: Path) -> list[Path]:
    """Video files under ``folder`` (recursively, by suffix), in a stable order."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
    )


def _textured(width: int, height: int, seed: int) -> npt.NDArray[np.uint8]:
    """A deterministic photo-like picture: smooth gradients, discs of colour, some noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), dtype=np.float32)
    for c in range(3):
        fx, fy, phase = rng.uniform(0.5, 4.0), rng.uniform(0.5, 4.0), rng.uniform(0, 6.3)
        img[..., c] = 128 + 60 * np.sin(2 * np.pi * (fx * x / height + fy * y / height) + phase)
    for _ in range(max(12, width // 40)):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.25) * height
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r**2
        img[mask] = rng.uniform(0, 255, size=3)
    img += rng.normal(0, 4, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_test_videos(
    folder: Path,
    *,
    count: int = 2,
    seconds: float = 30.0,
    width: int = 1280,
    height: int = 720,
    fps: int = 30,
    pan: int = 4,
    grain: float = 6.0,
) -> list[Path]:
    """Write ``count`` H.264 MP4s into ``folder``: a textured picture panning ``pan`` pixels
    right per frame, with fresh grain (noise of standard deviation ``grain``) on every frame as
    a camera gives it, encoded with libx264's default settings. Without the grain the encoder
    needs ~0.4 Mbit/s for 720p, a fraction of what camera footage takes, and decoding is
    correspondingly cheaper; with it, ~2-4 Mbit/s."""
    import av

    frames = round(seconds * fps)
    paths: list[Path] = []
    for seed in range(count):
        base = _textured(width + pan * frames, height, seed=seed)
        rng = np.random.default_rng(1000 + seed)
        # A few noise fields taken in turn (7: more than the encoder's reference frames).
        noise = [
            rng.normal(0, grain, size=(height, width, 3)).astype(np.int16)
            for _ in range(7 if grain > 0 else 0)
        ]
        path = folder / f"pan-{width}x{height}-{fps}fps-{seed}.mp4"
        with av.open(str(path), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for i in range(frames):
                pixels = base[:, pan * i : pan * i + width]
                if noise:
                    pixels = np.clip(pixels + noise[i % len(noise)], 0, 255).astype(np.uint8)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        paths.append(path)
    return paths


@dataclass(frozen=True, slots=True)
class _Run:
    """What one method made of one file."""

    hashes: dict[int, tuple[str, int]]  # frame number -> (PDQ hex, quality) of frames kept
    frames_hashed: int  # every hashed frame, before any quality filter
    frames_decoded: int
    fps: float
    width: int
    height: int


def _hashwall(path: Path, seconds_per_hash: float, fast: bool = False) -> _Run:
    from hashwall.hashing.vpdq import hash_video

    result = hash_video(path, seconds_per_hash=seconds_per_hash, fast=fast)
    return _Run(
        hashes={f.frame_number: (f.hash.hex, f.quality) for f in result.frames},
        frames_hashed=result.frames_hashed,  # before the quality filter and the collapsing
        frames_decoded=result.frames_decoded,
        fps=result.fps,
        width=result.width,
        height=result.height,
    )


def _reference(path: Path, seconds_per_hash: float) -> _Run:
    import av
    import pdqhash

    from hashwall.hashing.pdq import PdqHash
    from hashwall.hashing.vpdq import frame_mod

    hashes: dict[int, tuple[str, int]] = {}
    decoded = width = height = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        every = frame_mod(seconds_per_hash, fps) if fps > 0 else 1
        for frame in container.decode(stream):
            if decoded % every == 0:
                vector, quality = pdqhash.compute(frame.to_ndarray(format="rgb24"))
                hashes[decoded] = (PdqHash.from_bits(vector).hex, int(quality))
                width, height = frame.width, frame.height
            decoded += 1
    return _Run(hashes, len(hashes), decoded, fps, width, height)


def _methods(fast: bool) -> dict[str, Callable[[Path, float], _Run]]:
    """The two ways to hash a video, by name (``fast``: hashwall's side in fast mode)."""
    return {"hashwall": partial(_hashwall, fast=fast), "reference": _reference}


def _rates(duration: float, hashed: int, cpu: float, wall: float) -> dict[str, float]:
    return {
        "frames_hashed": hashed,
        "cpu_s": cpu,
        "wall_s": wall,
        "frames_per_s": hashed / wall if wall > 0 else 0.0,
        "frames_per_cpu_s": hashed / cpu if cpu > 0 else 0.0,
        "x_realtime_wall": duration / wall if wall > 0 else 0.0,
        "x_realtime_per_core": duration / cpu if cpu > 0 else 0.0,
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else 0.0


def _max_bits(a: dict[int, tuple[str, int]], b: dict[int, tuple[str, int]]) -> int | None:
    """The largest Hamming distance between the two methods' hashes of the same frame."""
    common = sorted(set(a) & set(b))
    if not common:
        return None
    return max(bin(int(a[n][0], 16) ^ int(b[n][0], 16)).count("1") for n in common)


def _warm_up() -> None:
    """First-call costs (imports, FFmpeg's and pdqhash's set-up, the fast kernels' compilation)
    kept out of the timings."""
    import av  # noqa: F401
    import pdqhash

    from hashwall.hashing import vpdq  # noqa: F401
    from hashwall.hashing.fast import pdq_fast

    pdqhash.compute(np.zeros((64, 64, 3), dtype=np.uint8))
    pdq_fast(np.zeros((720, 1280, 3), dtype=np.uint8))  # the fast kernels' compilation


def measure(
    videos: list[Path], seconds_per_hash: float = 1.0, fast: bool = False
) -> dict[str, Any]:
    """Hash every video with both methods; per video and in total: frames, CPU and wall
    seconds, frames hashed per second, x real time (wall and per core), and their ratio.
    ``fast``: hashwall's side hashes frames with its fast PDQ (within a few bits of the
    reference, as for images; the reference side is unchanged)."""
    _warm_up()
    load_start = os.getloadavg()
    rows: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    methods = _methods(fast)
    for i, path in enumerate(videos):
        runs: dict[str, _Run] = {}
        timings: dict[str, tuple[float, float]] = {}
        try:
            # Alternate which method goes first, so neither always runs with warm caches.
            for name in METHODS if i % 2 == 0 else METHODS[::-1]:
                cpu0, wall0 = time.process_time(), time.perf_counter()
                runs[name] = methods[name](path, seconds_per_hash)
                timings[name] = (time.process_time() - cpu0, time.perf_counter() - wall0)
        except Exception as exc:  # a file either method cannot hash: named, left out
            failed.append({"video": path.name, "error": type(exc).__name__})
            continue
        ref = runs["reference"]
        duration = ref.frames_decoded / ref.fps if ref.fps > 0 else 0.0
        row: dict[str, Any] = {
            "video": path.name,
            "width": ref.width,
            "height": ref.height,
            "fps": ref.fps,
            "duration_s": duration,
            "frames_decoded": ref.frames_decoded,
        }
        for name in METHODS:
            row[name] = _rates(duration, runs[name].frames_hashed, *timings[name])
            row[name]["frames_decoded"] = runs[name].frames_decoded
        row["speedup_per_core"] = _ratio(
            row["hashwall"]["x_realtime_per_core"], row["reference"]["x_realtime_per_core"]
        )
        row["speedup_wall"] = _ratio(
            row["hashwall"]["x_realtime_wall"], row["reference"]["x_realtime_wall"]
        )
        row["max_bits_vs_reference"] = _max_bits(runs["hashwall"].hashes, ref.hashes)
        rows.append(row)
    duration = sum(r["duration_s"] for r in rows)
    total: dict[str, Any] = {"videos": len(rows), "duration_s": duration}
    for name in METHODS:
        total[name] = _rates(
            duration,
            sum(r[name]["frames_hashed"] for r in rows),
            sum(r[name]["cpu_s"] for r in rows),
            sum(r[name]["wall_s"] for r in rows),
        )
    total["speedup_per_core"] = _ratio(
        total["hashwall"]["x_realtime_per_core"], total["reference"]["x_realtime_per_core"]
    )
    total["speedup_wall"] = _ratio(
        total["hashwall"]["x_realtime_wall"], total["reference"]["x_realtime_wall"]
    )
    return {
        "seconds_per_hash": seconds_per_hash,
        "target_x_realtime_per_core": TARGET_X_REALTIME_PER_CORE,
        "target": _target(rows),
        "videos": rows,
        "total": total,
        "failed": failed,
        "load_average_start": list(load_start),
        "load_average_end": list(os.getloadavg()),
    }


def _target(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """hashwall's x real time per core on the 720p videos (all videos when none is 720p), and
    whether it meets :data:`TARGET_X_REALTIME_PER_CORE`."""
    hd = [r for r in rows if min(r["width"], r["height"]) == 720]
    judged = hd or rows
    duration = sum(r["duration_s"] for r in judged)
    cpu = sum(r["hashwall"]["cpu_s"] for r in judged)
    per_core = duration / cpu if cpu > 0 else 0.0
    return {
        "on": "720p" if hd else "all",
        "videos": len(judged),
        "x_realtime_per_core": per_core,
        "met": bool(judged) and per_core >= TARGET_X_REALTIME_PER_CORE,
    }


def _print_table(report: dict[str, Any], generated: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    rate = report["seconds_per_hash"]
    title = (
        f"vPDQ hashing of {'every frame' if rate == 0 else f'one frame per {rate:g} s'}: "
        "hashwall (hash_video) vs reference (PyAV decode + pdqhash)"
    )
    table = Table(title=title)
    for header, right in (
        ("video", False),
        ("WxH", False),
        ("video s", True),
        ("method", False),
        ("hashed", True),
        ("CPU s", True),
        ("wall s", True),
        ("frames/s", True),
        ("x real time", True),
        ("x per core", True),
    ):
        table.add_column(header, justify="right" if right else "left")
    entries = [(r["video"], f"{r['width']}x{r['height']}", r) for r in report["videos"]]
    entries.append(("total", "", report["total"]))
    for name, size, row in entries:
        for method in METHODS:
            m = row[method]
            first = method == METHODS[0]
            table.add_row(
                name if first else "",
                size if first else "",
                f"{row['duration_s']:.1f}" if first else "",
                method,
                f"{m['frames_hashed']:,}",
                f"{m['cpu_s']:.2f}",
                f"{m['wall_s']:.2f}",
                f"{m['frames_per_s']:.1f}",
                f"{m['x_realtime_wall']:.1f}x",
                f"{m['x_realtime_per_core']:.1f}x",
            )
        table.add_row(
            "",
            "",
            "",
            "ratio",
            "",
            "",
            "",
            "",
            f"{row['speedup_wall']:.2f}",
            f"{row['speedup_per_core']:.2f}",
            end_section=True,
        )
    console.print(table)
    target = report["target"]
    goal = report["target_x_realtime_per_core"]
    per_core = target["x_realtime_per_core"]
    on = (
        f"the {target['videos']} 720p video{'s' if target['videos'] != 1 else ''}"
        if target["on"] == "720p"
        else f"the {target['videos']} video{'s' if target['videos'] != 1 else ''} (none 720p)"
    )
    if target["met"]:
        verdict = "[bold green]TARGET MET[/]"
    else:
        short = f" ({100 * (1 - per_core / goal):.1f}% short)" if per_core > 0 else ""
        verdict = f"[bold red]TARGET NOT MET[/]{short}"
    console.print(
        f"{verdict}: hashwall {per_core:.1f}x real time per core on {on}, the target of "
        f"{goal:g}x (720p, one frame per second)",
        soft_wrap=True,
    )
    bits = [r["max_bits_vs_reference"] for r in report["videos"]]
    known = [b for b in bits if b is not None]
    console.print(
        f"hashwall's hashes differ from the reference's by at most "
        f"{max(known) if known else '-'} bits"
    )
    la0, la1 = report["load_average_start"], report["load_average_end"]
    console.print(
        f"load average {la0[0]:.1f} at the start, {la1[0]:.1f} at the end"
        + ("; videos generated (720p panning H.264)" if generated else "")
    )
    for f in report["failed"]:
        console.print(f"not measured: {f['video']} ({f['error']})")


def run_video_bench(
    videos: Path | None,
    seconds_per_hash: float,
    json_out: bool,
    *,
    generate_seconds: float = 30.0,
    fast: bool = False,
) -> int:
    """Run ``hashwall bench video``; print a table (or one JSON object), return the exit code."""
    if seconds_per_hash < 0:
        print("error: --seconds-per-hash must be >= 0", file=sys.stderr)
        return 2
    if videos is not None:
        if not videos.is_dir():
            print(f"error: {videos} is not a folder of videos", file=sys.stderr)
            return 2
        files = find_videos(videos)
        if not files:
            print(f"error: no video files under {videos}", file=sys.stderr)
            return 1
        report = measure(files, seconds_per_hash, fast)
    else:
        with tempfile.TemporaryDirectory(prefix="hashwall-bench-video-") as tmp:
            if not json_out:
                print("generating 720p test videos...", file=sys.stderr)
            files = make_test_videos(Path(tmp), seconds=generate_seconds)
            report = measure(files, seconds_per_hash, fast)
    report["generated"] = videos is None
    report["fast"] = fast
    if json_out:
        print(json.dumps(report))
    else:
        _print_table(report, generated=videos is None)
    return 0 if report["videos"] else 1
