"""Benchmark data for ``hashwall bench index``: uniform hashes, or the shape of a real bank.

``photos``: each distinct image is a real PDQ hash of a photo with 64-96 random bits flipped
(so the bit statistics of real PDQ hashes are kept while images stay distinct), banked as a
cluster of 1-20 variants at 0-31 bits (re-encodes, frames, enrollment variants). Queries are
half variants (0-31 bits) of banked hashes, half fresh derived images.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
from numba import njit

Words = npt.NDArray[np.uint64]
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hashwall"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def photo_files(photos: Path) -> list[Path]:
    """Image files under ``photos`` (recursive), in a stable order."""
    return sorted(p for p in photos.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def photo_hashes(photos: Path) -> Words:
    """Real PDQ hashes of the photos as ``(n, 4)`` words, cached under ``~/.cache/hashwall``."""
    from PIL import Image

    from hashwall.hashing.pdq import pdq_reference
    from hashwall.index.base import bytes_to_words

    files = photo_files(photos)
    if not files:
        raise FileNotFoundError(f"no images under {photos}")
    key = hashlib.sha256()
    for p in files:
        st = p.stat()
        key.update(f"{p.relative_to(photos)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    cache = CACHE_DIR / f"photos-pdq-{key.hexdigest()[:16]}.npy"
    if cache.exists():
        return np.asarray(np.load(cache, allow_pickle=False), dtype=np.uint64)
    rows = []
    for p in files:
        with Image.open(p) as im:
            rows.append(
                np.frombuffer(pdq_reference(np.asarray(im.convert("RGB"))).hash.value, np.uint8)
            )
    words = bytes_to_words(np.stack(rows))
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, words, allow_pickle=False)
    tmp.replace(cache)
    return words


@njit(cache=True)
def _seed(seed: int) -> None:
    np.random.seed(seed)


@njit(cache=True)
def _flip(h: Words, k: int, perm: npt.NDArray[np.int64]) -> None:
    # partial Fisher-Yates: k distinct bit positions out of 256
    for i in range(k):
        j = i + np.random.randint(0, 256 - i)
        t = perm[i]
        perm[i] = perm[j]
        perm[j] = t
        b = perm[i]
        h[b >> 6] ^= np.uint64(1) << np.uint64(63 - (b & 63))


@njit(cache=True)
def _bank(bases: Words, n: int) -> Words:
    out = np.empty((n, 4), dtype=np.uint64)
    img = np.empty(4, dtype=np.uint64)
    perm = np.arange(256)
    row = 0
    while row < n:
        b = np.random.randint(0, bases.shape[0])
        img[:] = bases[b]
        _flip(img, np.random.randint(64, 97), perm)
        size = np.random.randint(1, 21)
        for _ in range(size):
            if row >= n:
                break
            out[row] = img
            _flip(out[row], np.random.randint(0, 32), perm)
            row += 1
    return out


@njit(cache=True)
def _queries(bases: Words, bank: Words, q: int) -> Words:
    out = np.empty((q, 4), dtype=np.uint64)
    perm = np.arange(256)
    for i in range(q):
        if i % 2 == 0:
            out[i] = bank[np.random.randint(0, bank.shape[0])]
            _flip(out[i], np.random.randint(0, 32), perm)
        else:
            out[i] = bases[np.random.randint(0, bases.shape[0])]
            _flip(out[i], np.random.randint(64, 97), perm)
    return out


def make_data(
    kind: str, n: int, queries: int, seed: int, bases: Words | None
) -> tuple[Words, Words]:
    """``(bank (n, 4), queries (q, 4))`` words for ``kind`` = ``random`` or ``photos``."""
    if kind == "random":
        rng = np.random.default_rng(seed)
        bank = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64, endpoint=False)
        return bank, rng.integers(0, 2**64, size=(queries, 4), dtype=np.uint64, endpoint=False)
    if kind != "photos" or bases is None:
        raise ValueError(f"unknown data kind {kind!r} (random | photos needs the photo hashes)")
    _seed(seed)
    bank = _bank(np.ascontiguousarray(bases, dtype=np.uint64), n)
    return bank, _queries(np.ascontiguousarray(bases, dtype=np.uint64), bank, queries)
