"""IndexHolder: streams a build from chunks, then follows the event log in order."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hashwall.errors import IndexNotReady
from hashwall.hashing.codes import Hash256
from hashwall.index.base import Match
from hashwall.index.live import IndexEvent, IndexHolder

from index_codes import random_codes


def chunks(codes: np.ndarray, size: int):  # type: ignore[no-untyped-def]
    for start in range(0, codes.shape[0], size):
        yield np.arange(start, min(start + size, codes.shape[0])), codes[start : start + size]


def test_holder_is_not_ready_until_built() -> None:
    holder = IndexHolder()
    assert not holder.ready
    assert holder.size == 0
    with pytest.raises(IndexNotReady):
        holder.search(Hash256(bytes(32)), 0)


def test_holder_builds_from_chunks_then_applies_events_in_order() -> None:
    codes = random_codes(np.random.default_rng(30), 2500)
    holder = IndexHolder()
    holder.build_from(chunks(codes, 1000), last_event=10)
    assert holder.ready and holder.size == 2500 and holder.last_event == 10
    new = random_codes(np.random.default_rng(31), 1)
    applied = holder.apply(
        [
            IndexEvent(9, "remove", np.array([0])),  # already in the build: skipped
            IndexEvent(11, "remove", np.array([1, 2])),
            IndexEvent(12, "add", np.array([5000]), new),
            IndexEvent(14, "remove", np.array([5000])),
            IndexEvent(15, "add", np.array([5000]), new),
        ]
    )
    assert applied == 4
    assert holder.last_event == 15
    assert holder.size == 2499
    assert holder.search(Hash256(bytes(codes[0])), 0) == [Match(0, 0)]
    assert holder.search(Hash256(bytes(codes[1])), 0) == []
    assert holder.search(Hash256(bytes(new[0])), 0) == [Match(5000, 0)]
    assert holder.apply([IndexEvent(15, "remove", np.array([5000]))]) == 0  # replay: ignored


def test_holder_builds_an_empty_bank() -> None:
    holder = IndexHolder()
    holder.build_from([], last_event=0)
    assert holder.ready and holder.size == 0


def test_a_built_holder_has_its_search_kernels_compiled() -> None:
    # In a fresh process nothing else compiles them: a holder that says it is ready must
    # not leave the first request to compile for seconds.
    code = (
        "from hashwall.index import _kernels as k\n"
        "from hashwall.index.live import IndexHolder\n"
        "assert not k.search_tables.signatures and not k.scan.signatures\n"
        "holder = IndexHolder()\n"
        "holder.build_from([])\n"
        "assert holder.ready\n"
        "assert k.search_tables.signatures and k.scan.signatures\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
