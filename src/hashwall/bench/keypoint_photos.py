"""Keypoints of real photos for ``hashwall bench keypoints --data real``: a bank of distinct
photos, transformed copies of some of them (the evaluation's hard transforms) and other photos
as distractor uploads, decoded and uploaded as the evaluation does.

The photos' sorted file list is shuffled by the seed: the last ``distractors`` are never
banked (each is checked as it is and with the evaluation's shared overlays), the rest are the
bank in that order, and the first ``copied`` of the bank are checked as copies (every
transform of :data:`HARD_TRANSFORMS`, seeded as the evaluation seeds them). Keypoints are
cached under ``~/.cache/hashwall``.
"""

from __future__ import annotations

import hashlib
import io
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hashwall.bench.index_data import CACHE_DIR, photo_files
from hashwall.hashing.keypoints import Keypoints

#: The evaluation's transform groups a copy is made with: the hard ones (small screenshots,
#: x0.25, 30% crops, turns of 15 degrees, overlays, padding, chains), and a mirror and a
#: quarter turn (the index takes an upload mirrored too; a turn changes every angle).
HARD_GROUPS = ("crop_30", "screenshot", "rotate_15", "caption", "meme", "pad", "chain")
EXTRA_TRANSFORMS = ("resize_25", "mirror", "rotate_90")


def hard_transforms() -> list[str]:
    """The names of the transforms copies are made with, in the suite's order."""
    from hashwall.eval.transforms import SUITE

    return [name for name, t in SUITE.items() if t.group in HARD_GROUPS or name in EXTRA_TRANSFORMS]


@dataclass(frozen=True, slots=True)
class PhotoSet:
    """Keypoints of the bank (bank settings), and of uploads (the check's settings)."""

    bank: list[Keypoints]
    #: ``(bank position, transform name, keypoints)`` of each copy
    copies: list[tuple[int, str, Keypoints]]
    #: ``(variant, keypoints)`` of each distractor upload (``plain`` or an overlay's name)
    distractors: list[tuple[str, Keypoints]]


def _upload_keypoints(data: bytes) -> Keypoints:
    from hashwall.hashing.keypoints import QUERY_DRAFT_MIN_SIDE, upload_keypoints
    from hashwall.media.decode import decode_image
    from hashwall.settings import Settings

    image = decode_image(data, Settings(), draft_min_side=QUERY_DRAFT_MIN_SIDE)
    return upload_keypoints(image.pixels)


def _bank_keypoints(data: bytes) -> Keypoints:
    from hashwall.hashing.keypoints import keypoints
    from hashwall.media.decode import decode_image
    from hashwall.settings import Settings

    return keypoints(decode_image(data, Settings()).pixels)


def _uploads(data: bytes, names: list[str], seed: int, index: int) -> list[tuple[str, bytes]]:
    from PIL import Image

    from hashwall.eval.runner import upload_bytes
    from hashwall.eval.transforms import SUITE, transform_rng

    with Image.open(io.BytesIO(data)) as opened:
        img = opened.convert("RGB")
    out = []
    for name in names:
        if name == "plain":
            out.append((name, data))
        else:
            out.append((name, upload_bytes(SUITE[name](img, transform_rng(seed, index, name)))))
    return out


def photo_set(
    photos: Path, *, copied: int, distractors: int, seed: int, progress: Any = None
) -> PhotoSet:
    """The keypoints of the split described in the module docstring (cached)."""
    from hashwall.eval.transforms import SHARED_OVERLAYS

    files = photo_files(photos)
    if len(files) < distractors + copied:
        raise FileNotFoundError(
            f"{len(files)} images under {photos}: fewer than {copied} copied and "
            f"{distractors} distractors"
        )
    order = list(files)
    random.Random(seed).shuffle(order)
    bank_files, other_files = order[: len(order) - distractors], order[len(order) - distractors :]
    names = hard_transforms()
    variants = ["plain", *SHARED_OVERLAYS]
    key = hashlib.sha256(f"keypoint-photos-v2\n{seed}\n{copied}\n{distractors}\n".encode())
    key.update(("\0".join(names) + "\n" + "\0".join(variants) + "\n").encode())
    for p in files:
        st = p.stat()
        key.update(f"{p.relative_to(photos)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    cache = CACHE_DIR / f"keypoint-photos-{key.hexdigest()[:16]}.npz"
    labels: list[str] = []
    blobs: list[bytes] = []
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            labels = [str(s) for s in z["labels"]]
            blobs = [bytes(z[f"k{i}"]) for i in range(len(labels))]
    else:
        total = len(bank_files) + copied * len(names) + distractors * len(variants)
        done = 0
        for i, p in enumerate(bank_files):
            data = p.read_bytes()
            labels.append(f"bank/{i}/")
            blobs.append(_bank_keypoints(data).to_bytes())
            done += 1
            if i < copied:
                for name, upload in _uploads(data, names, seed, i):
                    labels.append(f"copy/{i}/{name}")
                    blobs.append(_upload_keypoints(upload).to_bytes())
                    done += 1
            if progress is not None:
                progress(done, total)
        for j, p in enumerate(other_files):
            for name, upload in _uploads(p.read_bytes(), variants, seed, len(bank_files) + j):
                labels.append(f"distractor/{j}/{name}")
                blobs.append(_upload_keypoints(upload).to_bytes())
                done += 1
            if progress is not None:
                progress(done, total)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        arrays: dict[str, Any] = {f"k{i}": np.frombuffer(b, np.uint8) for i, b in enumerate(blobs)}
        with tmp.open("wb") as fh:
            np.savez(fh, labels=np.array(labels), **arrays)
        tmp.replace(cache)
    bank: list[Keypoints] = []
    copies: list[tuple[int, str, Keypoints]] = []
    others: list[tuple[str, Keypoints]] = []
    for label, blob in zip(labels, blobs, strict=True):
        kind, at, name = label.split("/")
        kp = Keypoints.from_bytes(blob)
        if kind == "bank":
            bank.append(kp)
        elif kind == "copy":
            copies.append((int(at), name, kp))
        else:
            others.append((name, kp))
    return PhotoSet(bank, copies, others)


def bank_sizes(n: int) -> list[int]:
    """The bank sizes measured: 100, doubling while below ``n``, then ``n``."""
    sizes = []
    size = 100
    while size < n:
        sizes.append(size)
        size *= 2
    return [*sizes, n]


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t = time.perf_counter_ns()
    out = fn(*args, **kwargs)
    return out, (time.perf_counter_ns() - t) / 1e6


#: The candidate rules compared: ``plain`` (hits counted per item), ``vote`` (per vote bin).
RULES = {"plain": False, "vote": True}


def measure(
    photo: PhotoSet, sizes: list[int], min_hits: int, say: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Both candidate rules at each bank size (the first ``size`` photos of the bank): per
    size and rule, the recall of copies among candidates, candidates per upload and the time
    of a check. Also the inliers of each copy against its photo (what any rule can find)."""
    from hashwall.hashing.keypoints import match_inliers, required_inliers
    from hashwall.index.keypoints import KeypointIndex

    truth_index = KeypointIndex()
    truth_index.add(np.arange(len(photo.bank)), photo.bank)
    own: list[int] = []
    for at, _, q in photo.copies:
        stored = truth_index.keypoints(at)
        own.append(match_inliers(q, stored) if stored is not None else 0)
    del truth_index
    rows: list[dict[str, Any]] = []
    for size in sizes:
        say(f"bank of {size:,} photos")
        index = KeypointIndex()
        index.add(np.arange(size), photo.bank[:size])
        level = required_inliers(size)
        for rule, vote in RULES.items():
            index.candidates(photo.distractors[0][1], min_hits, vote=vote)  # warm up
            d_cand_ms: list[float] = []
            d_cands: list[int] = []
            by_variant: dict[str, int] = {}
            for variant, q in photo.distractors:
                cands, ms = _timed(index.candidates, q, min_hits, vote=vote)
                d_cand_ms.append(ms)
                d_cands.append(len(cands))
                by_variant[variant] = by_variant.get(variant, 0) + len(cands)
            d_search_ms: list[float] = []
            d_matched = 0
            for _, q in photo.distractors:
                matched, ms = _timed(index.search, q, level, min_hits, vote=vote)
                d_search_ms.append(ms)
                d_matched += len(matched)
            accepted = recalled = found = 0
            c_cands: list[int] = []
            c_search_ms: list[float] = []
            own_hits: list[int] = []
            for (at, _, q), inl in zip(photo.copies, own, strict=True):
                if at >= size:
                    continue
                cands = dict(index.candidates(q, min_hits, vote=vote))
                c_cands.append(len(cands) - (at in cands))
                if size == sizes[-1]:  # (elsewhere found = candidate and accepted)
                    matched, ms = _timed(index.search, q, level, min_hits, vote=vote)
                    c_search_ms.append(ms)
                if inl >= level:
                    accepted += 1
                    recalled += at in cands
                    found += at in (dict(matched) if size == sizes[-1] else cands)
                    own_hits.append(cands.get(at, 0))
            rows.append(
                {
                    "n": size,
                    "rule": rule,
                    "min_hits": min_hits,
                    "min_inliers": level,
                    "copies_accepted": accepted,
                    "copies_candidates": recalled,
                    "copies_found": found,
                    "recall": recalled / accepted if accepted else 1.0,
                    "copy_hits_min": min(own_hits) if own_hits else 0,
                    "distractor_candidates_mean": float(np.mean(d_cands)),
                    "distractor_candidates_max": int(max(d_cands)),
                    "distractor_candidates_share": float(np.mean(d_cands)) / size,
                    "distractor_candidates_by_variant": by_variant,
                    "distractor_matches": d_matched,
                    "copy_other_candidates_mean": float(np.mean(c_cands)) if c_cands else 0.0,
                    "candidates_p50_ms": _pct(d_cand_ms, 50),
                    "candidates_p99_ms": _pct(d_cand_ms, 99),
                    "search_p50_ms": _pct(d_search_ms, 50),
                    "search_p99_ms": _pct(d_search_ms, 99),
                    "copy_search_p50_ms": _pct(c_search_ms, 50),
                    "copy_search_p99_ms": _pct(c_search_ms, 99),
                    "bytes_per_item": index.nbytes() / size,
                }
            )
    return rows, {"copy_inliers": own, "verify_ms": _verify_ms(index, photo, min_hits)}


def _verify_ms(index: Any, photo: PhotoSet, min_hits: int, most: int = 2000) -> float:
    """Mean time of one verification (``match_inliers`` of an upload and a stored photo, as
    ``search`` runs it), over the plain rule's candidates of the distractors."""
    from hashwall.hashing.keypoints import match_inliers

    spent: list[float] = []
    for _, q in photo.distractors:
        for item, _ in index.candidates(q, min_hits, vote=False):
            t = time.perf_counter_ns()
            match_inliers(q, index.keypoints(item))
            spent.append((time.perf_counter_ns() - t) / 1e6)
            if len(spent) >= most:
                return float(np.mean(spent))
    return float(np.mean(spent)) if spent else 0.0


#: Photos copied and photos kept out of the bank as distractors.
COPIED = 40
DISTRACTORS = 100
#: The bank size the measured shares are carried to.
TARGET = 1_000_000


def run_real_bench(*, n: int, photos: Path, seed: int, json_out: bool) -> int:
    """``--data real``: both candidate rules on banks of real photos of up to ``n``
    (:func:`bank_sizes`); print a table (or one JSON object). Exit code."""
    import json
    import sys

    from hashwall.index.keypoints import MIN_HITS

    def say(msg: str) -> None:
        if not json_out:
            print(msg, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if done % 200 == 0:
            say(f"  {done:,} of {total:,} keypoint sets")

    say(f"keypoints of the photos under {photos} (cached after the first run)")
    photo = photo_set(photos, copied=COPIED, distractors=DISTRACTORS, seed=seed, progress=progress)
    sizes = bank_sizes(min(n, len(photo.bank)))
    rows, extra = measure(photo, sizes, MIN_HITS, say)
    largest = [r for r in rows if r["n"] == sizes[-1]]
    verify_ms = extra["verify_ms"]
    projection = {
        r["rule"]: {
            "n": TARGET,
            "candidates": r["distractor_candidates_share"] * TARGET,
            "verify_ms": r["distractor_candidates_share"] * TARGET * verify_ms,
        }
        for r in largest
    }
    inliers = extra["copy_inliers"]
    doc: dict[str, Any] = {
        "data": "real",
        "seed": seed,
        "bank_photos": sizes[-1],
        "copied_photos": COPIED,
        "copies": len(photo.copies),
        "transforms": hard_transforms(),
        "distractor_uploads": len(photo.distractors),
        "copy_inliers_min": min(inliers) if inliers else 0,
        "verify_ms": verify_ms,
        "rows": rows,
        "projection": projection,
    }
    if json_out:
        print(json.dumps(doc))
        return 0
    print(
        f"bench keypoints: data=real, banks of {', '.join(f'{s:,}' for s in sizes)} photos; "
        f"{len(photo.copies):,} copies of {COPIED} banked photos ({len(hard_transforms())} "
        f"transforms), {len(photo.distractors)} uploads of {DISTRACTORS} other photos; "
        f"min_hits {MIN_HITS}"
    )
    print(
        "photos  rule   copies in candidates (of accepted)  other cands/copy  "
        "cands/distractor (max, share)  cand. ms p50/p99  search ms p50/p99 (of copies)"
    )
    for r in rows:
        print(
            f"{r['n']:>6}  {r['rule']:<5}  {r['copies_candidates']:>5} of {r['copies_accepted']:<5}"
            f" ({100 * r['recall']:.2f}%)  {r['copy_other_candidates_mean']:>8.3f}  "
            f"{r['distractor_candidates_mean']:>8.3f} ({r['distractor_candidates_max']}, "
            f"{100 * r['distractor_candidates_share']:.4f}%)  "
            f"{r['candidates_p50_ms']:.2f}/{r['candidates_p99_ms']:.2f}  "
            f"{r['search_p50_ms']:.2f}/{r['search_p99_ms']:.2f}"
            + (
                f" ({r['copy_search_p50_ms']:.2f}/{r['copy_search_p99_ms']:.2f})"
                if r["n"] == sizes[-1]
                else ""
            )
        )
    for r in largest:
        variants = ", ".join(f"{k} {v}" for k, v in r["distractor_candidates_by_variant"].items())
        print(
            f"{r['rule']} at {r['n']:,}: distractor candidates by upload ({variants}); "
            f"verified matches of distractors {r['distractor_matches']}"
        )
    print(f"one verification (match_inliers): {verify_ms:.2f} ms")
    for rule, p in projection.items():
        print(
            f"at {TARGET:,} photos (the share of the largest bank), {rule}: "
            f"~{p['candidates']:,.0f} candidates a distractor, ~{p['verify_ms']:,.0f} ms of "
            "verification"
        )
    print(f"index bytes per photo: {rows[-1]['bytes_per_item']:,.0f}")
    return 0
