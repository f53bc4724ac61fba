"""Searches from other threads during adds and removes never crash nor see a half change."""

from __future__ import annotations

import threading

import numpy as np

from hashwall.hashing.codes import Hash256
from hashwall.index.mih import MihIndex

from index_codes import random_codes


def test_searches_during_adds_and_removes_see_whole_batches_only() -> None:
    rng = np.random.default_rng(20)
    base = random_codes(rng, 5000)
    # every batch adds 10 copies of one code under 10 ids, or removes all 10 at once: a
    # search for that code must see 0 or 10 of them, never a part
    batch_codes = random_codes(rng, 40)
    index = MihIndex(delta_max=64, removed_max=64)  # small limits: compactions happen too
    index.add(np.arange(5000), base)
    errors: list[str] = []
    stop = threading.Event()

    def searcher() -> None:
        while not stop.is_set():
            for b in range(batch_codes.shape[0]):
                n = len(index.search(Hash256(bytes(batch_codes[b])), 0))
                if n not in (0, 10):
                    errors.append(f"batch {b}: saw {n} of 10")
            if len(index.search(Hash256(bytes(base[7])), 0)) != 1:
                errors.append("lost an untouched id")

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for round_ in range(30):
            for b in range(batch_codes.shape[0]):
                ids = 10_000 + b * 10 + np.arange(10)
                if round_ % 2 == 0:
                    index.add(ids, np.repeat(batch_codes[b : b + 1], 10, axis=0))
                else:
                    index.remove(ids)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert len(index) == 5000
