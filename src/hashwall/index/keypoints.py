"""``KeypointIndex``: banked photos' keypoint codes, searched in two stages.

A banked photo has ~83 keypoints (:mod:`hashwall.hashing.keypoints`), an upload ~186, so a
million photos hold ~83 million codes: comparing every code of an upload with every banked
code (as :func:`~hashwall.hashing.keypoints.match_inliers` does for one photo) cannot scale.

1. **Hits.** A pair of codes is a *hit* when their low 32-bit halves differ in at most one
   bit, or their high halves do (so every pair within 3 bits is a hit), and the codes differ
   in at most ``CODE_RADIUS`` bits (the verification pairs nothing farther). Each half of each
   upload code, as it is and mirrored, gives 33 probe values (itself and its 32 one-bit
   flips), looked up in a bucketed sorted table of that half of every banked code.
2. **Candidates: hits that one placement explains** (after Lowe's Hough transform). Each hit
   implies a scale ratio and a turn (the upload keypoint's over the banked one's); it votes,
   per side (the upload as it is, mirrored), for the two nearest bins of each: log scale
   ratios in bins of :data:`SCALE_BIN` (twice the verification's ``LOG_SCALE_TOLERANCE``,
   and a little), turns in :data:`TURN_BINS` bins of 2 pi / 8 (at least twice
   ``ANGLE_TOLERANCE``). Every inlier of a verified match lies within those tolerances of
   the match's fit, so all of a match's hits share a bin. A bin counts its hits on distinct
   places on both sides, the fewer (a keypoint's second orientation, or one banked keypoint
   hit by several upload codes, is one point). A bin of at least ``min_hits`` (3 or more)
   is then tested by placement (:func:`_aligned`): the similarity through two of its hits
   must map ``min_hits`` of them (distinct places) within :data:`ALIGN_TOLERANCE`. A match's
   inliers lie within ``FIT_TOLERANCE`` of its fit (times its scale, at most 1), and the
   similarity through the two of them farthest apart on the banked photo maps every other
   within four times that, so the test keeps every bin that holds ``min_hits`` of a match's
   inliers (unless they lie within :data:`ALIGN_MIN_SPAN` of each other; a bin of more than
   :data:`ALIGN_MAX_HITS` hits is not tested, the cost being their cube). An item with a bin
   that passes is a candidate; its *hits* are that bin's count. So an item that the
   verification would match with ``min_hits`` hits (distinct places) among its inliers is
   always a candidate. ``vote=False`` gives the plain rule, for comparison: an item's hits
   are the upload's codes that hit any of its codes (within one bit in a half, whatever the
   rest), counted per side, the larger.
3. **Verification.** Each candidate's keypoints, rebuilt from the arrays, go through
   ``match_inliers(query, item)`` (every pair within ``CODE_RADIUS`` bits, then the geometry).

The stored side (the segments, their layout and half tables) is in
:mod:`hashwall.index.keypoint_tables`; the candidate stage (hits, votes, the placement test:
the names of stage 2) in :mod:`hashwall.index.keypoint_votes`.

Real codes are far from uniform: between different photos they hit ~300 times as often as
random codes do, so with the plain rule the candidates of a check grow with the bank (0.85% of
it at ``min_hits`` 3 among 1,104 real photos: 9.4 a distractor upload, ~8,500 at a million
photos) and their verification is the cost of a check. Voting keeps 0.013% (0.14 a distractor
upload; most of them uploads in the evaluation's phone-screenshot frame, whose drawing lines
up with a few banked photos) and loses no copy that the plain rule finds: of 1,219 copies (40
photos, 31 hard transforms) that the verification accepts, both keep 1,217 (the other two
have fewer than 3 hits by either rule): ``docs/benchmarks.md``, "Keypoint index".
:data:`MIN_HITS` is 3: at 4 the votes lose 8 more of those copies; at 2 (no placement test)
they keep one more and ten times the candidates.

Mutations: the main segment is immutable; adds go to a small delta segment (rebuilt on each
add, merged into the main one past a size), removals to per-item tombstones (an item is
filtered out of every search at once; the main segment is rebuilt without the dead past a
share, under the mutation lock: ~20 s at 1M photos, while searches go on with the old
snapshot). Each mutation publishes a new snapshot in one assignment, so a search never sees
half of a change.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hashwall.hashing.keypoints import MIN_INLIERS, MIRROR_MASK, Keypoints, match_inliers
from hashwall.index.keypoint_tables import (
    CodeArray,
    GeometryArray,
    IdArray,
    Part,
    Segment,
    gather_items,
    quantise,
    rebuild,
)
from hashwall.index.keypoint_votes import QuerySides, plain_hits, voted_hits

__all__ = ["DELTA_MIN_CODES", "MIN_HITS", "KeypointIndex", "quantise", "rebuild"]

#: Codes a delta segment holds at most before it is merged into the main one (at least).
DELTA_MIN_CODES = 1 << 16

#: Hits that make an item a candidate (see the module docstring).
MIN_HITS = 3


class KeypointIndex:
    """Banked photos' keypoint codes; see the module docstring for the design.

    Thread safety: searches run concurrently with each other and with mutations (a search
    reads one published snapshot); mutations are serialised by a lock.
    """

    def __init__(self, *, delta_max_codes: int | None = None) -> None:
        self._delta_max = delta_max_codes
        self._lock = threading.Lock()
        self._snap: tuple[Part, Part] = (Part.of(Segment.empty()), Part.of(Segment.empty()))

    # --- size ----------------------------------------------------------------------------

    def __len__(self) -> int:
        main, delta = self._snap
        return main.live_items + delta.live_items

    def nbytes(self) -> int:
        """Bytes held by the arrays of the current snapshot (tombstones included)."""
        return sum(p.segment.nbytes() + int(p.dead.nbytes) for p in self._snap)

    def codes(self) -> int:
        """Codes held, tombstoned items' included."""
        return sum(int(p.segment.codes.size) for p in self._snap)

    # --- mutations -----------------------------------------------------------------------

    def add(self, item_ids: npt.ArrayLike, keypoint_sets: Sequence[Keypoints]) -> None:
        """Bank (or replace) ``item_ids[i] -> keypoint_sets[i]``."""
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        if ids.size != len(keypoint_sets):
            raise ValueError(f"{ids.size} ids for {len(keypoint_sets)} keypoint sets")
        counts, codes, geometry = quantise(keypoint_sets)
        self.add_records(ids, counts, codes, geometry)

    def add_records(
        self,
        item_ids: npt.ArrayLike,
        counts: npt.ArrayLike,
        codes: npt.ArrayLike,
        geometry: npt.ArrayLike,
    ) -> None:
        """Bank (or replace) items given as arrays: item ``i`` has the next ``counts[i]`` of
        ``codes`` (uint64) and ``geometry`` (``(n, 4)`` uint16, as :func:`quantise` gives).
        The arrays may be kept by the index: do not change them afterwards."""
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        cnt = np.asarray(counts, dtype=np.int64).reshape(-1)
        cds = np.asarray(codes, dtype=np.uint64).reshape(-1)
        geo = np.asarray(geometry, dtype=np.uint16).reshape(-1, 4)
        if cnt.size != ids.size or int(cnt.sum()) != cds.size or geo.shape[0] != cds.size:
            raise ValueError("counts must give every item its codes and geometry")
        if (cnt < 0).any():
            raise ValueError("negative counts")
        if ids.size > 1 and np.unique(ids).size != ids.size:  # last one wins
            _, first_in_rev = np.unique(ids[::-1], return_index=True)
            keep = np.sort(ids.size - 1 - first_in_rev)
            offsets = np.r_[0, np.cumsum(cnt)].astype(np.int64)
            ids, cnt, cds, geo = gather_items(ids, offsets, cds, geo, keep)
        with self._lock:
            main, delta = (p.kill(ids) for p in self._snap)
            limit = self._delta_limit(main)
            if delta.live_codes + cds.size > limit:
                main = Part.of(self._merge(main, delta, (ids, cnt, cds, geo)))
                delta = Part.of(Segment.empty())
            else:
                delta = Part.of(self._merge(delta, None, (ids, cnt, cds, geo)))
            self._snap = (main, delta)

    def remove(self, item_ids: npt.ArrayLike) -> None:
        """Withdraw items: no search returns them from now on. Unknown ids are ignored."""
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        with self._lock:
            main, delta = (p.kill(ids) for p in self._snap)
            if main.n_dead > max(1024, main.segment.items // 16):
                main = Part.of(self._merge(main, delta, None))
                delta = Part.of(Segment.empty())
            self._snap = (main, delta)

    def compact(self) -> None:
        """Rebuild one segment of the live items (no tombstones, no delta)."""
        with self._lock:
            main, delta = self._snap
            self._snap = (Part.of(self._merge(main, delta, None)), Part.of(Segment.empty()))

    def _delta_limit(self, main: Part) -> int:
        if self._delta_max is not None:
            return self._delta_max
        return max(DELTA_MIN_CODES, int(main.segment.codes.size) // 256)

    @staticmethod
    def _merge(
        a: Part,
        b: Part | None,
        new: tuple[IdArray, npt.NDArray[np.int64], CodeArray, GeometryArray] | None,
    ) -> Segment:
        """One segment of the live items of ``a`` and ``b`` and the ``new`` ones."""
        pieces = [p.segment.gather(p.live()) for p in (a, b) if p is not None and p.live_items]
        if new is not None:
            pieces.append(new)
        if not pieces:
            return Segment.empty()
        if len(pieces) == 1:
            ids, counts, codes, geometry = pieces[0]
        else:
            ids = np.concatenate([p[0] for p in pieces])
            counts = np.concatenate([p[1] for p in pieces])
            codes = np.concatenate([p[2] for p in pieces])
            geometry = np.concatenate([p[3] for p in pieces])
        return Segment.build(ids, counts, codes, geometry)

    # --- searching -----------------------------------------------------------------------

    def _candidates(
        self, query: Keypoints, min_hits: int, vote: bool
    ) -> list[tuple[Segment, int, int]]:
        if not len(query):
            return []
        codes = np.concatenate([query.codes, query.codes ^ MIRROR_MASK]).astype(np.uint64)
        sides = QuerySides.of(query) if vote else None
        out: list[tuple[Segment, int, int]] = []
        for part in self._snap:
            if not part.live_items:
                continue
            seg = part.segment
            if sides is not None:
                pos, hits = voted_hits(seg, codes, sides, min_hits)
            else:
                pos, hits = plain_hits(seg, codes)
            keep = (hits >= min_hits) & ~part.dead[pos]
            out.extend(
                (seg, p, h) for p, h in zip(pos[keep].tolist(), hits[keep].tolist(), strict=True)
            )
        return out

    def candidates(
        self, query: Keypoints, min_hits: int = MIN_HITS, *, vote: bool = True
    ) -> list[tuple[int, int]]:
        """``(item_id, hits)`` of every live item with at least ``min_hits`` hits from the
        upload's codes, most hits first: counted in the item's best vote bin (``vote``, see
        the module docstring), or plainly (``vote=False``: the upload's codes that hit any
        of the item's, as it is or mirrored, the larger count)."""
        found = [(int(seg.ids[p]), h) for seg, p, h in self._candidates(query, min_hits, vote)]
        return sorted(found, key=lambda t: (-t[1], t[0]))

    def search(
        self,
        query: Keypoints,
        min_inliers: int = MIN_INLIERS,
        min_hits: int = MIN_HITS,
        *,
        vote: bool = True,
    ) -> list[tuple[int, int]]:
        """``(item_id, inliers)`` of the candidates that ``match_inliers`` verifies with at
        least ``min_inliers``, most inliers first."""
        out: list[tuple[int, int]] = []
        for seg, pos, _ in self._candidates(query, min_hits, vote):
            n = match_inliers(query, seg.keypoints(pos))
            if n >= min_inliers:
                out.append((int(seg.ids[pos]), n))
        return sorted(out, key=lambda t: (-t[1], t[0]))

    def keypoints(self, item_id: int) -> Keypoints | None:
        """The stored keypoints of a live item (None when it is not banked)."""
        ids = np.array([item_id], dtype=np.int64)
        for part in self._snap:
            for pos in part.segment.positions(ids).tolist():
                if not part.dead[pos]:
                    return part.segment.keypoints(pos)
        return None
