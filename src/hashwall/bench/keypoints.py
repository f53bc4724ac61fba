"""``hashwall bench keypoints``: the keypoint index (:mod:`hashwall.index.keypoints`) at N items.

The bank: N items of 83 keypoints each (a banked photo's average), built in one
``add_records``. Codes are uniform random (``--data random``), or drawn from real photos'
keypoints (``--data photos``): each banked code is the code of a keypoint of a photo from one
half of ``--photos`` (the even places of its sorted file list) with 0 to ``--noise`` random bits
flipped, with that keypoint's geometry (real codes are far from uniform: the first bit is
always 0, neighbouring frequencies agree). A few generated pictures are banked too (the first
items), to be found by their copies.

Measured, one thread (the process is pinned to nothing; the machine may be shared):

* build seconds, the index's bytes per item (``nbytes``) and the process's peak RSS;
* per check that matches nothing: an upload of ~186 codes (random codes, or with ``photos`` the
  real uploads (``upload_keypoints``) of the other half of the photos, taken in turn),
  as it is and mirrored: the candidate stage's wall and thread-CPU time (p50, p99), the
  candidates per check, and the time of the whole ``search`` (candidates then verification);
* per check that matches: uploads that are copies (cropped, mirrored, turned, screenshot-like)
  of a banked picture: the candidates, the picture's hits, ``search`` time, the inliers it
  found and whether the picture came first.

``--data real`` measures the candidate stage on real photos instead
(:mod:`hashwall.bench.keypoint_photos`): banks of 100 to ``--n`` distinct photos of
``--photos``, transformed copies of 40 of them (the evaluation's hard transforms) and 100
photos never banked as distractors, both candidate rules (``plain``: hits per item; ``vote``:
hits that one placement explains), with the recall of copies among candidates, the candidates
per upload and the check's time (its JSON: ``{"data": "real", "seed", "bank_photos",
"copied_photos", "copies", "transforms", "distractor_uploads", "copy_inliers_min",
"verify_ms", "rows": [{"n", "rule", "min_hits", "min_inliers", "copies_accepted",
"copies_candidates", "copies_found", "recall", "copy_hits_min",
"distractor_candidates_mean", "distractor_candidates_max", "distractor_candidates_share",
"distractor_candidates_by_variant", "distractor_matches",
"copy_other_candidates_mean", "candidates_p50_ms", "candidates_p99_ms", "search_p50_ms",
"search_p99_ms", "copy_search_p50_ms", "copy_search_p99_ms", "bytes_per_item"}],
"projection": {rule: {"n", "candidates", "verify_ms"}}}``).

Otherwise ``--json`` prints one object: ``{"n", "data", "noise", "codes_per_item", "build_s",
"bytes_per_item", "bytes_per_code", "index_bytes", "peak_rss_bytes", "misses": {"checks",
"codes_per_check", "candidates_p50_ms", "candidates_p99_ms", "candidates_cpu_p50_ms",
"candidates_cpu_p99_ms", "search_p50_ms", "search_p99_ms", "matched_per_check_mean",
"candidates_per_check_mean", "candidates_per_check_max"}, "copies": [{"picture", "copy",
"codes", "candidates", "hits", "search_ms", "inliers", "first"}]}``.
"""

from __future__ import annotations

import hashlib
import io
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hashwall.bench.index_data import CACHE_DIR, photo_files
from hashwall.bench.pictures import scene

#: Keypoints of a banked photo (its average) and of an upload (with its second orientations).
CODES_PER_ITEM = 83
CODES_PER_QUERY = 186
DEFAULT_PHOTOS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "photos"


def _copies() -> dict[str, Callable[[Any], Any]]:
    from PIL import Image, ImageOps

    def crop(im: Any) -> Any:
        return im.crop((round(im.width * 0.18), 0, im.width, round(im.height * 0.85)))

    def turned(im: Any) -> Any:
        t = im.rotate(8, resample=Image.Resampling.BICUBIC)
        w, h = im.size
        return t.crop((round(w * 0.12), round(h * 0.12), round(w * 0.88), round(h * 0.88)))

    def screenshot(im: Any) -> Any:
        small = im.resize((im.width * 2 // 3, im.height * 2 // 3))
        out = Image.new("RGB", (round(small.width * 1.9), round(small.height * 1.9)), (20, 20, 20))
        out.paste(small, ((out.width - small.width) // 2, (out.height - small.height) // 3))
        return out

    return {
        "crop 30%": crop,
        "mirrored": ImageOps.mirror,
        "turned 8 degrees": turned,
        "screenshot-like": screenshot,
    }


def _upload(img: Any) -> Any:
    """An upload's keypoints: the picture as a JPEG (quality 90), the check's settings."""
    from PIL import Image

    from hashwall.hashing.keypoints import upload_keypoints

    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=90)
    with Image.open(io.BytesIO(buf.getvalue())) as out:
        return upload_keypoints(np.asarray(out.convert("RGB")))


def photo_keypoints(photos: Path) -> tuple[list[Any], list[Any]]:
    """Keypoints of the photos: banked (bank settings) for the even places of the sorted file
    list, uploads (query settings) for the odd ones; cached under ``~/.cache/hashwall``."""
    from PIL import Image

    from hashwall.hashing.keypoints import Keypoints, keypoints

    files = photo_files(photos)
    if len(files) < 2:
        raise FileNotFoundError(f"fewer than 2 images under {photos}")
    key = hashlib.sha256(b"keypoints-v2\n")
    for p in files:
        st = p.stat()
        key.update(f"{p.relative_to(photos)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    cache = CACHE_DIR / f"photos-keypoints-{key.hexdigest()[:16]}.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            blobs = [bytes(z[f"k{i}"]) for i in range(len(files))]
    else:
        blobs = []
        for i, p in enumerate(files):
            with Image.open(p) as im:
                rgb = np.asarray(im.convert("RGB"))
            if i % 2 == 0:
                blobs.append(keypoints(rgb).to_bytes())
            else:
                blobs.append(_upload(Image.fromarray(rgb)).to_bytes())
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        arrays: dict[str, Any] = {f"k{i}": np.frombuffer(b, np.uint8) for i, b in enumerate(blobs)}
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)
        tmp.replace(cache)
    sets = [Keypoints.from_bytes(b) for b in blobs]
    return sets[0::2], sets[1::2]


def _flip_bits(rng: np.random.Generator, codes: npt.NDArray[np.uint64], most: int) -> None:
    """Flip 0 to ``most`` distinct random bits of each code, in place."""
    if most <= 0:
        return
    want = rng.integers(0, most + 1, size=codes.size, dtype=np.int8)
    done = np.zeros(codes.size, dtype=np.uint64)
    for k in range(most):
        sel = np.flatnonzero(want > k)
        while sel.size:
            bit = np.uint64(1) << rng.integers(0, 64, size=sel.size, dtype=np.uint64)
            fresh = (done[sel] & bit) == 0
            done[sel[fresh]] |= bit[fresh]
            sel = sel[~fresh]  # drew a bit already flipped: draw again
    codes ^= done


def make_bank(
    first: list[Any], n: int, rng: np.random.Generator, pool: list[Any] | None, noise: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[np.uint16]]:
    """``(counts, codes, geometry)`` of the keypoint sets ``first``, then ``n`` synthetic
    items of :data:`CODES_PER_ITEM` codes (written in chunks into the arrays the index keeps,
    so that the bank is never held twice)."""
    from hashwall.index.keypoints import quantise

    c0, k0, g0 = quantise(first)
    counts = np.concatenate([c0, np.full(n, CODES_PER_ITEM, dtype=np.int64)])
    total = int(counts.sum())
    codes = np.empty(total, dtype=np.uint64)
    geometry = np.empty((total, 4), dtype=np.uint16)
    codes[: k0.size] = k0
    geometry[: k0.size] = g0
    if pool is not None:
        _, pool_codes, pool_geometry = quantise(pool)
    step = 1 << 22
    for at in range(k0.size, total, step):
        end = min(at + step, total)
        if pool is None:
            codes[at:end] = rng.integers(0, 2**64, size=end - at, dtype=np.uint64)
            geometry[at:end] = rng.integers(0, 1 << 16, size=(end - at, 4), dtype=np.uint16)
        else:
            pick = rng.integers(0, pool_codes.size, size=end - at)
            chunk = pool_codes[pick]
            _flip_bits(rng, chunk, noise)
            codes[at:end] = chunk
            geometry[at:end] = pool_geometry[pick]
    return counts, codes, geometry


def random_keypoints(rng: np.random.Generator, codes: npt.NDArray[np.uint64]) -> Any:
    """Keypoints with the given codes at random places, scales and angles (as a photo's lie:
    scales of 0.2-5.2% of the longer side)."""
    from hashwall.hashing.keypoints import Keypoints

    n = codes.size
    f = np.float32
    return Keypoints(
        rng.random(n).astype(f),
        rng.random(n).astype(f),
        (rng.random(n) * 0.05 + 0.002).astype(f),
        (rng.random(n) * 2 * np.pi - np.pi).astype(f),
        codes.astype(np.uint64),
    )


def _random_query(rng: np.random.Generator) -> Any:
    codes = rng.integers(0, 2**64, size=CODES_PER_QUERY, dtype=np.uint64)
    return random_keypoints(rng, codes)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def run_keypoint_bench(
    *,
    n: int,
    queries: int,
    data: str,
    photos: Path,
    noise: int,
    seed: int,
    json_out: bool,
) -> int:
    """Run the benchmark; print the numbers (or one JSON object). Exit code."""
    from hashwall.hashing.keypoints import keypoints
    from hashwall.index.keypoints import KeypointIndex

    if data not in ("random", "photos", "real"):
        print(f"error: --data must be random, photos or real, got {data!r}", file=sys.stderr)
        return 2
    if data in ("photos", "real") and not photos.is_dir():
        print(
            f"error: photos folder not found: {photos}: pass --photos DIR or --data random",
            file=sys.stderr,
        )
        return 2
    if data == "real":
        from hashwall.bench.keypoint_photos import run_real_bench

        return run_real_bench(n=n, photos=photos, seed=seed, json_out=json_out)
    rng = np.random.default_rng(seed)

    def say(msg: str) -> None:
        if not json_out:
            print(msg, file=sys.stderr)

    pool: list[Any] | None = None
    held_out: list[Any] = []
    if data == "photos":
        say(f"keypoints of the photos under {photos} (cached after the first run)")
        pool, held_out = photo_keypoints(photos)
    # the pictures whose copies are searched: banked as the first items
    say("keypoints of the generated pictures and their copies")
    pictures = [scene(seed * 100 + s) for s in range(3)]
    originals = [keypoints(np.asarray(p)) for p in pictures]
    copies = [
        (p_index, name, _upload(make(pictures[p_index])))
        for p_index in range(len(pictures))
        for name, make in _copies().items()
    ]
    k = min(len(originals), n)
    say(f"generating {n:,} items ({data})")
    counts, codes, geometry = make_bank(originals[:k], n - k, rng, pool, noise)
    ids = np.arange(n, dtype=np.int64)
    index = KeypointIndex()
    say("building")
    t0 = time.perf_counter()
    index.add_records(ids, counts, codes, geometry)
    build_s = time.perf_counter() - t0
    del counts, codes, geometry
    nbytes = index.nbytes()
    n_codes = index.codes()
    # warm up (the first searches page in the arrays' structures)
    for _ in range(3):
        index.candidates(_random_query(rng))
    say(f"{queries:,} checks that match nothing")
    cand_wall: list[float] = []
    cand_cpu: list[float] = []
    search_wall: list[float] = []
    n_matched: list[int] = []
    n_cands: list[int] = []
    n_codes_q: list[int] = []
    checks = [
        held_out[i % len(held_out)] if held_out else _random_query(rng) for i in range(queries)
    ]
    for q in checks:
        c, t = time.thread_time_ns(), time.perf_counter_ns()
        cands = index.candidates(q)
        cand_wall.append((time.perf_counter_ns() - t) / 1e6)
        cand_cpu.append((time.thread_time_ns() - c) / 1e6)
        n_cands.append(len(cands))
        n_codes_q.append(len(q))
    for q in checks:  # apart: right after its candidate stage, a search would find it cached
        t = time.perf_counter_ns()
        matched = index.search(q)
        search_wall.append((time.perf_counter_ns() - t) / 1e6)
        n_matched.append(len(matched))
    say("checks that are copies of banked pictures")
    copy_rows = []
    for p_index, name, q in copies:
        if p_index >= k:
            continue
        t = time.perf_counter_ns()
        found = index.search(q)
        ms = (time.perf_counter_ns() - t) / 1e6
        copy_rows.append(
            {
                "picture": p_index,
                "copy": name,
                "codes": len(q),
                "candidates": len(cands := index.candidates(q)),
                "hits": dict(cands).get(p_index, 0),
                "search_ms": ms,
                "inliers": dict(found).get(p_index, 0),
                "first": bool(found) and found[0][0] == p_index,
            }
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    doc: dict[str, Any] = {
        "n": n,
        "data": data,
        "noise": noise if data == "photos" else None,
        "codes_per_item": n_codes / max(n, 1),
        "build_s": build_s,
        "bytes_per_item": nbytes / max(n, 1),
        "bytes_per_code": (nbytes / n_codes) if n_codes else 0.0,
        "index_bytes": nbytes,
        "peak_rss_bytes": peak,
        "misses": {
            "checks": queries,
            "codes_per_check": float(np.mean(n_codes_q)) if n_codes_q else 0.0,
            "candidates_p50_ms": _pct(cand_wall, 50),
            "candidates_p99_ms": _pct(cand_wall, 99),
            "candidates_cpu_p50_ms": _pct(cand_cpu, 50),
            "candidates_cpu_p99_ms": _pct(cand_cpu, 99),
            "search_p50_ms": _pct(search_wall, 50),
            "search_p99_ms": _pct(search_wall, 99),
            "matched_per_check_mean": float(np.mean(n_matched)) if n_matched else 0.0,
            "candidates_per_check_mean": float(np.mean(n_cands)) if n_cands else 0.0,
            "candidates_per_check_max": int(max(n_cands)) if n_cands else 0,
        },
        "copies": copy_rows,
    }
    if json_out:
        print(json.dumps(doc))
        return 0
    m = doc["misses"]
    noise_txt = f", noise 0-{noise} bits" if data == "photos" else ""
    print(f"bench keypoints: n={n:,} items, data={data}{noise_txt}")
    print(
        f"build {build_s:.1f} s; {doc['codes_per_item']:.1f} codes/item; index "
        f"{nbytes / 2**20:,.0f} MiB = {doc['bytes_per_item']:,.0f} B/item "
        f"({doc['bytes_per_code']:.1f} B/code); peak RSS {peak / 2**20:,.0f} MiB"
    )
    print(
        f"{queries:,} checks matching nothing ({m['codes_per_check']:.0f} codes, and mirrored): "
        f"candidate stage p50 {m['candidates_p50_ms']:.2f} ms, p99 {m['candidates_p99_ms']:.2f} "
        f"ms (CPU p50 {m['candidates_cpu_p50_ms']:.2f}, p99 {m['candidates_cpu_p99_ms']:.2f}); "
        f"candidates/check mean {m['candidates_per_check_mean']:.2f}, max "
        f"{m['candidates_per_check_max']}; search p50 {m['search_p50_ms']:.2f} ms, p99 "
        f"{m['search_p99_ms']:.2f} ms"
    )
    print(f"  items matched (verified) per check: mean {m['matched_per_check_mean']:.3f}")
    print(
        "copies of banked pictures: picture, copy, codes, candidates, its hits, search ms, "
        "inliers, first"
    )
    for r in copy_rows:
        print(
            f"  {r['picture']}  {r['copy']:<17} {r['codes']:>4} {r['candidates']:>6} "
            f"{r['hits']:>4} {r['search_ms']:>9.2f} {r['inliers']:>4}  {r['first']}"
        )
    return 0
