"""Verifying a match between two sets of keypoint codes: the similarity transform (scale, turn,
shift) that maps the most of a banked photo's keypoints onto an upload's, and the rules that
make it look like an edited copy of the photo and not another picture of the same things.

:func:`inliers` (through :func:`best_transform`) is what :func:`hashwall.hashing.keypoints.
match_inliers`, the keypoint index, the service and the evaluation count; the extraction of
the keypoints themselves is :mod:`hashwall.hashing.keypoints`, which re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from hashwall.hashing.keypoints import Keypoints

#: Pairs agree with a transform when the point lands within this share of the upload's longer
#: side (times the scale) and the scales and angles agree within these.
POSITION_TOLERANCE = 0.08
LOG_SCALE_TOLERANCE = 0.25
#: Share of a transform's loose pairs that must fit it closely (see :func:`inliers`).
MIN_AGREEMENT = 0.85
#: After the fit, pairs count when the point lands within this share of the upload's longer
#: side (3 pixels of a 512-pixel upload), times the fit's scale (from 0.35 to 1).
FIT_TOLERANCE = 0.006
ANGLE_TOLERANCE = 0.35
#: Share of the banked photo's keypoints that a transform must place inside the upload (see
#: :func:`coverage`): a copy shows most of its photo, one photo of a banked collage of three
#: or more does not.
MIN_COVERAGE = 0.4
#: The upload's frame is taken as the box of its keypoints, grown by this share of its longer
#: side (keypoints keep a few sigma away from the edges).
FRAME_MARGIN = 0.03
#: A copy shows the banked photo's own pixels, so many of its pairs' codes nearly agree;
#: another shot of the same scene (seen from elsewhere, in other light) pairs them loosely.
#: A transform counts only with at least :data:`MIN_CLOSE` distinct pairs within
#: :data:`CLOSE_RADIUS` bits (see :func:`inliers`).
CLOSE_RADIUS = 6
MIN_CLOSE = 5
#: A copy's pairs lie all over the part of the banked photo it shows; a frame, a logo or one
#: object that two pictures share puts them in one corner. The part shown (the box of the
#: banked keypoints the transform places inside the upload) is cut into SPREAD_GRID x
#: SPREAD_GRID cells, and the pairs must lie in at least :data:`MIN_CELLS` of them.
SPREAD_GRID = 4
MIN_CELLS = 4
#: Where the upload shows a banked keypoint's structure again (an upload keypoint within
#: REFOUND_TOLERANCE of the upload's longer side, times the transform's scale, of where the
#: transform puts it, at the size it gives it), a copy shows the same pixels there and the
#: codes agree; another shot of the scene finds the same corners again with other patches
#: round them. A transform's inliers must be at least MIN_REFOUND_SHARE of the banked
#: keypoints it finds again (see :func:`refound`).
REFOUND_TOLERANCE = 0.02
MIN_REFOUND_SHARE = 0.3


def inliers(
    query: Keypoints,
    banked: Keypoints,
    q_idx: npt.NDArray[np.intp],
    b_idx: npt.NDArray[np.intp],
    *,
    copy_rules: bool = True,
) -> int:
    """The most distinct keypoints (on both sides) that one similarity transform maps from
    ``banked`` onto ``query``, over the candidate pairs ``(q_idx[i], b_idx[i])``; 0 when no
    transform explains its pairs as a copy of one photo does.

    Each pair proposes the transform its own scales, angles and places imply. The pairs that
    agree with it loosely (:data:`POSITION_TOLERANCE`: one pair's scale and angle are rough)
    are fitted by least squares, and the pairs within :data:`FIT_TOLERANCE` of that fit (times
    its scale, at least 0.35), with scale and angle agreeing, are counted (then fitted and
    counted once more). An edited copy of a photo keeps nearly all of the pairs near the fit
    within it; two shots of one scene do not (what is nearer the camera moves apart), so a
    transform counts only when at least :data:`MIN_AGREEMENT` of the pairs within
    :data:`POSITION_TOLERANCE` of it fit it closely. It must also look like a copy in three
    more ways: at least :data:`MIN_CLOSE` of its pairs have codes within
    :data:`CLOSE_RADIUS` bits (the same pixels, not the same place seen again), it shows at
    least :data:`MIN_COVERAGE` of the banked photo (:func:`coverage`), its pairs lie in
    at least :data:`MIN_CELLS` cells of the part it shows (:func:`spread_cells`), and they
    are at least :data:`MIN_REFOUND_SHARE` of the banked keypoints the upload shows again
    (:func:`refound`). ``copy_rules=False`` leaves out the close codes, the spread and the
    share found again (the evaluation's ``hashwall_loose``, to show what they remove)."""
    found = best_transform(query, banked, q_idx, b_idx, copy_rules=copy_rules)
    return 0 if found is None else found.inliers


@dataclass(frozen=True, slots=True)
class Transform:
    """The transform :func:`best_transform` keeps, with what the rules that make it look like a
    copy measure of it (``python -m hashwall.eval.features`` records them)."""

    #: Distinct keypoints it maps (on both sides).
    inliers: int
    #: Distinct pairs of them with codes within :data:`CLOSE_RADIUS` bits.
    close: int
    #: Cells of the part shown that hold a pair (:func:`spread_cells`).
    cells: int
    #: Share of the banked keypoints it places inside the upload (:func:`coverage`).
    coverage: float
    #: Banked keypoints the upload shows again (:func:`refound`).
    refound: int
    #: Its scale (upload over banked).
    scale: float

    def rules(self) -> dict[str, bool]:
        """Whether it passes each rule that makes a transform look like a copy, by name."""
        return {
            "close": self.close >= MIN_CLOSE,
            "spread": self.cells >= MIN_CELLS,
            "refound": self.inliers >= MIN_REFOUND_SHARE * self.refound,
        }


def best_transform(
    query: Keypoints,
    banked: Keypoints,
    q_idx: npt.NDArray[np.intp],
    b_idx: npt.NDArray[np.intp],
    *,
    copy_rules: bool = True,
) -> Transform | None:
    """The transform with the most inliers that :func:`inliers` accepts (see there), or None.
    With ``copy_rules=False`` the rules on close codes, spread and keypoints found again are
    measured but not applied."""
    if len(q_idx) == 0:
        return None
    log_s = np.log(query.scale[q_idx] / banked.scale[b_idx]).astype(np.float64)
    turn = np.angle(np.exp(1j * (query.angle[q_idx] - banked.angle[b_idx]).astype(np.float64)))
    zb = banked.x[b_idx].astype(np.float64) + 1j * banked.y[b_idx].astype(np.float64)
    zq = query.x[q_idx].astype(np.float64) + 1j * query.y[q_idx].astype(np.float64)
    # hypothesis h (rows) applied to every pair j (columns): zq ~ a_h * zb + t_h
    a = np.exp(log_s + 1j * turn)
    t = zq - a * zb
    err = np.abs(a[:, None] * zb[None, :] + t[:, None] - zq[None, :])
    ok = err < POSITION_TOLERANCE * np.maximum(np.abs(a), 0.3)[:, None]
    ok &= np.abs(log_s[None, :] - log_s[:, None]) < LOG_SCALE_TOLERANCE
    ok &= np.abs(np.angle(np.exp(1j * (turn[None, :] - turn[:, None])))) < ANGLE_TOLERANCE
    close = np.bitwise_count(query.codes[q_idx] ^ banked.codes[b_idx]) <= CLOSE_RADIUS
    best: Transform | None = None
    for h in np.argsort(-ok.sum(axis=1), kind="stable"):
        most = 0 if best is None else best.inliers
        if _distinct(q_idx, b_idx, ok[h]) <= most:
            break
        row, near = ok[h], ok[h]
        for _ in range(2):
            row, near = _refit(zb, zq, log_s, turn, row)
        fitted = _distinct(q_idx, b_idx, row)
        if fitted > most and fitted >= MIN_AGREEMENT * _distinct(q_idx, b_idx, near):
            n_close = _distinct(q_idx, b_idx, row & close)
            judged = _judge(query, banked, zb[row], zq[row], fitted, n_close, copy_rules)
            if judged is not None:
                best = judged
    return best


def _judge(
    query: Keypoints,
    banked: Keypoints,
    zb: npt.NDArray[np.complex128],
    zq: npt.NDArray[np.complex128],
    fitted: int,
    n_close: int,
    copy_rules: bool,
) -> Transform | None:
    """The transform fitted to the ``fitted`` distinct pairs ``zb -> zq`` (``n_close`` of them
    close), or None when it does not look like a copy: it must show :data:`MIN_COVERAGE` of
    the banked photo and, with ``copy_rules``, pass :meth:`Transform.rules` (checked cheapest
    first; the first that fails ends it)."""
    if copy_rules and n_close < MIN_CLOSE:
        return None
    fit = _similarity(zb, zq)
    if fit is None or not len(query):
        return None
    placed = _place(banked, fit)
    inside = _inside_frame(query, placed)
    if inside.mean() < MIN_COVERAGE:
        return None
    cells = spread_cells(banked, inside, zb)
    if copy_rules and cells < MIN_CELLS:
        return None
    found = _refound_at(query, banked, fit, placed, inside)
    out = Transform(fitted, n_close, cells, float(inside.mean()), found, abs(fit[0]))
    return None if copy_rules and not all(out.rules().values()) else out


def refound(
    query: Keypoints,
    banked: Keypoints,
    zb: npt.NDArray[np.complex128],
    zq: npt.NDArray[np.complex128],
    inside: npt.NDArray[np.bool_],
) -> int:
    """How many of ``banked``'s keypoints marked ``inside`` the upload shows again: an upload
    keypoint lies within :data:`REFOUND_TOLERANCE` (times the scale, at least 0.3) of where
    the similarity fitted to ``zb -> zq`` places it, its size within
    :data:`LOG_SCALE_TOLERANCE` of the size it gives it, whatever its code."""
    fit = _similarity(zb, zq)
    if fit is None or not len(query):
        return 0
    return _refound_at(query, banked, fit, _place(banked, fit), inside)


def _refound_at(
    query: Keypoints,
    banked: Keypoints,
    fit: tuple[complex, complex, complex],
    placed: npt.NDArray[np.complex128],
    inside: npt.NDArray[np.bool_],
) -> int:
    """:func:`refound` for the similarity ``fit``, which puts ``banked``'s keypoints at
    ``placed``."""
    a = fit[0]
    sizes = banked.scale.astype(np.float64) * abs(a)
    found = query.x.astype(np.float64) + 1j * query.y.astype(np.float64)
    near = np.abs(placed[:, None] - found[None, :]) < REFOUND_TOLERANCE * max(abs(a), 0.3)
    near &= (
        np.abs(np.log(np.maximum(sizes, 1e-9)[:, None] / query.scale.astype(np.float64)[None, :]))
        < LOG_SCALE_TOLERANCE
    )
    return int((near.any(axis=1) & inside).sum())


def coverage(
    query: Keypoints,
    banked: Keypoints,
    zb: npt.NDArray[np.complex128],
    zq: npt.NDArray[np.complex128],
) -> float:
    """The share of ``banked``'s keypoints that the similarity fitted to the pairs ``zb ->
    zq`` (places as complex numbers) puts inside the upload's frame (the box of ``query``'s
    keypoints, grown by :data:`FRAME_MARGIN`).

    A crop, a pad, a screenshot or a caption keeps most of the banked photo in the upload; a
    photo that is one part of a banked collage (or a small element of a banked picture, shared
    by many) covers only its part: the rule that keeps a bank of collages from matching each
    innocent photo in them."""
    inside = _placed_inside(query, banked, zb, zq)
    return 0.0 if inside is None else float(inside.mean())


def _placed_inside(
    query: Keypoints,
    banked: Keypoints,
    zb: npt.NDArray[np.complex128],
    zq: npt.NDArray[np.complex128],
) -> npt.NDArray[np.bool_] | None:
    """Which of ``banked``'s keypoints the similarity fitted to ``zb -> zq`` places inside the
    upload's frame (see :func:`coverage`); None without a fit."""
    fit = _similarity(zb, zq)
    if fit is None or not len(query):
        return None
    return _inside_frame(query, _place(banked, fit))


def _place(banked: Keypoints, fit: tuple[complex, complex, complex]) -> npt.NDArray[np.complex128]:
    """Where the similarity ``fit`` (see :func:`_similarity`) puts ``banked``'s keypoints."""
    a, mb, mq = fit
    placed: npt.NDArray[np.complex128] = (
        a * (banked.x.astype(np.float64) + 1j * banked.y.astype(np.float64) - mb) + mq
    )
    return placed


def _inside_frame(query: Keypoints, placed: npt.NDArray[np.complex128]) -> npt.NDArray[np.bool_]:
    """Which of the places ``placed`` lie inside the upload's frame (the box of ``query``'s
    keypoints, grown by :data:`FRAME_MARGIN`); ``query`` has keypoints."""
    x0, x1 = float(query.x.min()) - FRAME_MARGIN, float(query.x.max()) + FRAME_MARGIN
    y0, y1 = float(query.y.min()) - FRAME_MARGIN, float(query.y.max()) + FRAME_MARGIN
    inside: npt.NDArray[np.bool_] = (
        (placed.real >= x0) & (placed.real <= x1) & (placed.imag >= y0) & (placed.imag <= y1)
    )
    return inside


def spread_cells(
    banked: Keypoints, inside: npt.NDArray[np.bool_], zb: npt.NDArray[np.complex128]
) -> int:
    """How many cells of a :data:`SPREAD_GRID` grid hold a pair's banked place ``zb``; the
    grid covers the box of the banked keypoints marked ``inside`` (the part of the banked
    photo the upload shows)."""
    if not inside.any() or not len(zb):
        return 0
    xs, ys = banked.x[inside].astype(np.float64), banked.y[inside].astype(np.float64)
    cols = _cells(zb.real, float(xs.min()), float(xs.max()))
    rows = _cells(zb.imag, float(ys.min()), float(ys.max()))
    return len(np.unique(rows * SPREAD_GRID + cols))


def _cells(values: npt.NDArray[np.float64], low: float, high: float) -> npt.NDArray[np.int64]:
    step = max(high - low, 1e-9) / SPREAD_GRID
    out: npt.NDArray[np.int64] = np.clip(
        np.floor((values - low) / step), 0, SPREAD_GRID - 1
    ).astype(np.int64)
    return out


def _similarity(
    zb: npt.NDArray[np.complex128], zq: npt.NDArray[np.complex128]
) -> tuple[complex, complex, complex] | None:
    """The least-squares similarity ``zq ~ a (zb - mb) + mq`` of paired places (complex
    numbers) as ``(a, mb, mq)``; None for fewer than two places, or none apart."""
    if len(zb) < 2:
        return None
    mb, mq = zb.mean(), zq.mean()
    spread = np.vdot(zb - mb, zb - mb).real
    if spread <= 1e-12:
        return None
    a = np.vdot(zb - mb, zq - mq) / spread
    return None if a == 0 else (complex(a), complex(mb), complex(mq))


def _distinct(q_idx: npt.NDArray[np.intp], b_idx: npt.NDArray[np.intp], row: Any) -> int:
    return min(len(np.unique(q_idx[row])), len(np.unique(b_idx[row])))


def _refit(
    zb: npt.NDArray[np.complex128],
    zq: npt.NDArray[np.complex128],
    log_s: npt.NDArray[np.float64],
    turn: npt.NDArray[np.float64],
    row: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """The least-squares similarity of the pairs in ``row``: the pairs within
    :data:`FIT_TOLERANCE` of it (relative to its scale: a picture shown smaller shows its
    parallax smaller), and those within :data:`POSITION_TOLERANCE` (both with scale and angle
    agreeing)."""
    fitted = _similarity(zb[row], zq[row])
    if fitted is None:
        none = np.zeros_like(row)
        return none, none
    a, mb, mq = fitted
    agree = np.abs(log_s - np.log(np.abs(a))) < LOG_SCALE_TOLERANCE
    agree &= np.abs(np.angle(np.exp(1j * (turn - np.angle(a))))) < ANGLE_TOLERANCE
    miss = np.abs(a * (zb - mb) + mq - zq)
    fit: npt.NDArray[np.bool_] = agree & (miss < FIT_TOLERANCE * min(max(abs(a), 0.35), 1.0))
    near: npt.NDArray[np.bool_] = agree & (miss < POSITION_TOLERANCE * max(abs(a), 0.3))
    return fit, near
