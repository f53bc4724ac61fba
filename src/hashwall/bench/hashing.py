"""``hashwall bench hash``: reference mode, fast mode and plain ``pdqhash``, on the same images.

Every file is read into memory first (the disk is not measured); each image is then hashed by
the three methods in turn, end to end from its bytes to its hash, on one thread:

* ``reference``: full decode (``decode_image``) + ``pdqhash`` on full-resolution pixels;
* ``fast``: reduced JPEG decode (``draft_min_side=FAST_DRAFT_MIN_SIDE``) + :func:`pdq_fast`;
* ``pdqhash``: ``pdqhash.compute(np.asarray(Image.open(f).convert("RGB")))``, the way
  python-threatexchange hashes.

The methods take turns image by image, so a noisy neighbour slows all three alike. Kernels are
compiled (or loaded from numba's cache) before timing starts; that cost is reported apart.
"""

from __future__ import annotations

import gc
import io
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hashwall.hashing.pdq import PdqHash, PdqResult

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"}
)
METHODS = ("reference", "fast", "pdqhash")
HIGH_QUALITY = 80  # the accuracy target of fast mode is stated on images of this quality
FAST_BITS_TARGET = 10

Hasher = Callable[[bytes], PdqResult]


@dataclass(slots=True)
class _Tally:
    seconds: list[float] = field(default_factory=list)


def find_images(folder: Path, limit: int | None) -> list[Path]:
    """Image files under ``folder`` (recursively, by suffix), in a stable order."""
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    return files if limit is None else files[:limit]


def _hashers() -> dict[str, Hasher]:
    import pdqhash
    from PIL import Image

    from hashwall.hashing.fast import FAST_DRAFT_MIN_SIDE, pdq_fast
    from hashwall.hashing.pdq import pdq_reference
    from hashwall.media.decode import decode_image
    from hashwall.settings import Settings

    settings = Settings()

    def reference(data: bytes) -> PdqResult:
        return pdq_reference(decode_image(data, settings).pixels)

    def fast(data: bytes) -> PdqResult:
        image = decode_image(data, settings, draft_min_side=FAST_DRAFT_MIN_SIDE)
        return pdq_fast(image.pixels, full_size=(image.height, image.width))

    def plain_pdqhash(data: bytes) -> PdqResult:
        vector, quality = pdqhash.compute(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
        return PdqResult(hash=PdqHash.from_bits(vector), quality=int(quality))

    return {"reference": reference, "fast": fast, "pdqhash": plain_pdqhash}


@contextmanager
def _progress(total: int, show: bool) -> Iterator[Callable[[], None]]:
    if not show:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("hashing", total=total)
        yield lambda: progress.advance(task)


def _percentiles(values: npt.ArrayLike) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    return {
        "p50": float(np.percentile(arr, 50)),
        "p99": float(np.percentile(arr, 99)),
        "max": float(arr.max()),
    }


def measure(datas: list[bytes], *, show_progress: bool = False) -> dict[str, Any]:
    """Hash every image with the three methods; timings, accuracy and failures as one dict."""
    from hashwall.hashing.fast import FAST_DRAFT_MIN_SIDE, warm_up

    hashers = _hashers()
    started = time.perf_counter()
    warm_up()
    warmup_s = time.perf_counter() - started
    for data in datas[:1]:  # first-call costs of decoders and caches
        for hasher in hashers.values():
            try:
                hasher(data)
            except Exception:
                break

    tallies = {name: _Tally() for name in METHODS}
    bits: list[int] = []
    quality_ref: list[int] = []
    quality_diff: list[int] = []
    failed = 0
    gc.collect()
    with _progress(len(datas), show_progress) as advance:
        for i, data in enumerate(datas):
            results: dict[str, PdqResult] = {}
            seconds: dict[str, float] = {}
            try:
                # Rotate the order so no method always runs with a warm (or cold) cache.
                for k in range(len(METHODS)):
                    name = METHODS[(i + k) % len(METHODS)]
                    t0 = time.perf_counter()
                    results[name] = hashers[name](data)
                    seconds[name] = time.perf_counter() - t0
            except Exception:
                # Undecodable or refused input: counted, and left out of every method's numbers.
                failed += 1
                advance()
                continue
            for name in METHODS:
                tallies[name].seconds.append(seconds[name])
            ref, fst = results["reference"], results["fast"]
            bits.append(ref.hash.distance(fst.hash))
            quality_ref.append(ref.quality)
            quality_diff.append(fst.quality - ref.quality)
            advance()

    n = len(bits)
    out: dict[str, Any] = {"images": n, "failed": failed, "results": {}}
    for name in METHODS:
        secs = np.asarray(tallies[name].seconds, dtype=np.float64)
        total = float(secs.sum())
        ms = _percentiles(secs * 1000.0)
        out["results"][name] = {
            "images_per_s": n / total if total > 0 else 0.0,
            "p50_ms": ms["p50"],
            "p99_ms": ms["p99"],
        }
    out["fast_vs_reference_bits"] = _percentiles(bits)
    high = np.asarray(quality_ref, dtype=np.int64) >= HIGH_QUALITY
    arr_bits = np.asarray(bits, dtype=np.int64)
    out["quality80_images"] = int(high.sum())
    out["quality80_beyond_10_bits"] = int((arr_bits[high] > FAST_BITS_TARGET).sum())
    out["fast_vs_reference_quality_max_abs_diff"] = int(np.abs(quality_diff).max()) if n else 0
    rate = {name: out["results"][name]["images_per_s"] for name in METHODS}
    out["speedup_fast_vs_pdqhash"] = rate["fast"] / rate["pdqhash"] if rate["pdqhash"] else 0.0
    out["speedup_fast_vs_reference"] = (
        rate["fast"] / rate["reference"] if rate["reference"] else 0.0
    )
    out["fast_draft_min_side"] = FAST_DRAFT_MIN_SIDE
    out["jit_warmup_s"] = warmup_s
    return out


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"PDQ hashing, {report['images']} images, one thread, bytes to hash")
    table.add_column("method")
    table.add_column("images/s", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("vs pdqhash", justify="right")
    base = report["results"]["pdqhash"]["images_per_s"]
    for name in METHODS:
        r = report["results"][name]
        ratio = r["images_per_s"] / base if base else 0.0
        table.add_row(
            name,
            f"{r['images_per_s']:.1f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{ratio:.2f}x",
        )
    console.print(table)
    b = report["fast_vs_reference_bits"]
    console.print(
        f"fast vs reference, Hamming bits: p50 {b['p50']:.0f}, p99 {b['p99']:.0f}, "
        f"max {b['max']:.0f}; quality >= {HIGH_QUALITY} beyond {FAST_BITS_TARGET} bits: "
        f"{report['quality80_beyond_10_bits']} of {report['quality80_images']}; "
        f"max quality difference {report['fast_vs_reference_quality_max_abs_diff']}"
    )
    console.print(
        f"fast draft_min_side {report['fast_draft_min_side']}; kernel compile/load before "
        f"timing {report['jit_warmup_s']:.1f} s; failed to decode: {report['failed']}"
    )


def run_hash_bench(photos: Path, json_out: bool, limit: int | None) -> int:
    """Run ``hashwall bench hash``; print a table (or one JSON object) and return the exit code."""
    if not photos.is_dir():
        print(f"error: {photos} is not a folder of images", file=sys.stderr)
        return 2
    if limit is not None and limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    files = find_images(photos, limit)
    if not files:
        print(f"error: no image files under {photos}", file=sys.stderr)
        return 1
    datas: list[bytes] = []
    unreadable = 0
    for path in files:
        try:
            datas.append(path.read_bytes())
        except OSError:
            unreadable += 1
    report = measure(datas, show_progress=not json_out and sys.stdout.isatty())
    report["failed"] += unreadable
    if json_out:
        print(json.dumps(report))
    else:
        _print_table(report)
    return 0 if report["images"] > 0 else 1
