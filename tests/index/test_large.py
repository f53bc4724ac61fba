"""Large banks (slow): exact answers at a realistic scale, streamed build through the holder."""

from __future__ import annotations

import numpy as np
import pytest

from hashwall.bench.index_data import make_data
from hashwall.index.base import words_to_bytes
from hashwall.index.live import IndexHolder

from index_codes import ReferenceScan

pytestmark = pytest.mark.slow


def test_two_million_clustered_codes_streamed_answer_exactly_like_the_oracle() -> None:
    rng = np.random.default_rng(40)
    bases = rng.integers(0, 2**64, size=(300, 4), dtype=np.uint64, endpoint=False)
    bank, queries = make_data("photos", 2_000_000, 40, 41, bases)
    codes = words_to_bytes(bank)
    ids = rng.permutation(2_000_000).astype(np.int64) * 1_000_003  # unsorted, large ids
    holder = IndexHolder()
    step = 250_000
    holder.build_from(
        ((ids[i : i + step], codes[i : i + step]) for i in range(0, ids.size, step)),
        last_event=7,
    )
    assert holder.size == 2_000_000
    oracle = ReferenceScan()
    oracle.add(ids, codes)
    q = words_to_bytes(queries)
    for r in (0, 15, 31, 40):
        assert holder.index.search_many(q, r) == oracle.search_many(q, r)
    assert holder.search_dihedral(q[:8], 31) == oracle.search_dihedral(q[:8], 31)
