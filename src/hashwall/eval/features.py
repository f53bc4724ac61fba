"""What the keypoint rules that make a transform look like a copy see, transform by transform:
the measurements the rules were chosen on (docs/accuracy.md, *How the rules were chosen*).

``python -m hashwall.eval.features --photos DIR --out FILE [--limit N] [--copies N]
[--distractor-limit N] [--seed S] [--swap] [--workers N]`` makes the split, the transformed
copies and the distractors (plain and with the shared overlays) exactly as ``hashwall eval``
does with the same options, and checks them against the bank's keypoint codes by brute force.
For every transformed copy it keeps the best transform to its own banked photo; for every
distractor, the best transform to each banked photo with at least :data:`MIN_KEPT` inliers.
The transforms are found with the rules measured but not applied
(:func:`~hashwall.hashing.keypoints.best_transform` with ``copy_rules=False``), so the file
shows what each rule would remove: one JSON line each, with the inliers, close pairs, cells,
coverage, banked keypoints found again, scale, and whether it passes each rule. It prints,
per rule, the copies that verified and that the rule alone would lose, and the distractor
pairs at the bank's level that it would remove.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from hashwall.eval.runner import _uploads, choose_split, copied_indexes
from hashwall.eval.transforms import SHARED_OVERLAYS, SUITE
from hashwall.hashing.keypoint_verify import Transform, best_transform
from hashwall.hashing.keypoints import (
    CODE_RADIUS,
    QUERY_DRAFT_MIN_SIDE,
    Keypoints,
    code_distances,
    keypoints,
    required_inliers,
    upload_keypoints,
)
from hashwall.media.decode import decode_image
from hashwall.settings import Settings

#: Distractor pairs with fewer inliers than this are left out of the file.
MIN_KEPT = 4

_BANK: dict[str, Any] = {}


def _load_bank(paths: list[str]) -> None:
    """Each worker's bank: every banked photo's keypoints, and their codes in one array."""
    settings = Settings()
    found = [keypoints(decode_image(Path(p).read_bytes(), settings).pixels) for p in paths]
    sizes = [len(k) for k in found]
    _BANK.update(
        settings=settings,
        names=[Path(p).name for p in paths],
        keypoints=found,
        codes=np.concatenate([k.codes for k in found]).astype(np.uint64)
        if found
        else np.zeros(0, np.uint64),
        owner=np.repeat(np.arange(len(found)), sizes),
        starts=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
    )


def best_per_banked(query: Keypoints, only: int | None = None) -> dict[int, Transform]:
    """The best transform (rules measured, not applied) from each banked photo with candidate
    pairs onto ``query``, as it is or mirrored; ``only``: that banked photo alone."""
    out: dict[int, Transform] = {}
    if not len(query) or not len(_BANK["codes"]):
        return out
    for side in (query, query.mirrored()):
        q_idx, c_idx = np.nonzero(code_distances(side.codes, _BANK["codes"]) <= CODE_RADIUS)
        owners = _BANK["owner"][c_idx]
        for item in np.unique(owners) if only is None else [only]:
            sel = owners == item
            banked: Keypoints = _BANK["keypoints"][item]
            start = _BANK["starts"][item]
            found = best_transform(side, banked, q_idx[sel], c_idx[sel] - start, copy_rules=False)
            if found is not None and (item not in out or found.inliers > out[item].inliers):
                out[int(item)] = found
    return out


def _row(
    kind: str, photo: str, variant: str, banked: str, found: Transform | None
) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": kind, "photo": photo, "variant": variant, "banked": banked}
    if found is None:
        row.update(inliers=0, rules={})
    else:
        row.update(asdict(found), rules=found.rules())
    return row


def run_task(task: tuple[str, int, str, int]) -> list[dict[str, Any]]:
    """One photo's rows: a banked photo's transformed copies, or a distractor with its
    overlays."""
    kind, index, path, seed = task
    data = Path(path).read_bytes()
    names = list(SUITE) if kind == "copy" else ["plain", *SHARED_OVERLAYS]
    rows: list[dict[str, Any]] = []
    for name, upload, _error in _uploads(data, names, seed, index):
        if upload is None:
            continue
        image = decode_image(upload, _BANK["settings"], draft_min_side=QUERY_DRAFT_MIN_SIDE)
        query = upload_keypoints(image.pixels)
        if kind == "copy":
            found = best_per_banked(query, only=index).get(index)
            rows.append(_row(kind, Path(path).name, name, _BANK["names"][index], found))
            continue
        for item, found in best_per_banked(query).items():
            if found.inliers >= MIN_KEPT:
                rows.append(_row(kind, Path(path).name, name, _BANK["names"][item], found))
    return rows


def summarise(rows: list[dict[str, Any]], bank_size: int) -> dict[str, Any]:
    """Per rule: the copies that verify with the rules left out and that the rule alone would
    lose, and the distractor pairs at the bank's level that it would remove."""
    level = required_inliers(bank_size)
    copies = [r for r in rows if r["kind"] == "copy"]
    verified = [r for r in copies if r["inliers"] >= level]
    pairs = [r for r in rows if r["kind"] == "distractor" and r["inliers"] >= level]
    out: dict[str, Any] = {
        "level": level,
        "copies": len(copies),
        "copies_verified_without_rules": len(verified),
        "copies_verified_with_rules": sum(all(r["rules"].values()) for r in verified),
        "distractor_pairs_without_rules": len(pairs),
        "distractor_pairs_with_rules": sum(all(r["rules"].values()) for r in pairs),
        "rules": {},
    }
    for rule in ("close", "spread", "refound"):
        out["rules"][rule] = {
            "copies_lost": sum(not r["rules"][rule] for r in verified),
            "distractor_pairs_removed": sum(not r["rules"][rule] for r in pairs),
        }
    return out


def measure(
    bank: list[Path],
    distractors: list[Path],
    out: Path,
    *,
    seed: int,
    copies: int | None,
    workers: int,
) -> dict[str, Any]:
    """Write every row to ``out`` (JSON lines) and return :func:`summarise` of them."""
    copied = copied_indexes(len(bank), copies, seed)
    tasks = [("copy", i, str(bank[i]), seed) for i in copied]
    tasks += [("distractor", i, str(p), seed) for i, p in enumerate(distractors)]
    names = [str(p) for p in bank]
    rows: list[dict[str, Any]] = []
    with out.open("w") as fh:
        if workers == 1:
            _load_bank(names)
            results: Any = map(run_task, tasks)
            pool = None
        else:
            ctx = multiprocessing.get_context("spawn")
            pool = ctx.Pool(workers, initializer=_load_bank, initargs=(names,))
            results = pool.imap_unordered(run_task, tasks, chunksize=1)
        try:
            for done, task_rows in enumerate(results, 1):
                for row in task_rows:
                    fh.write(json.dumps(row) + "\n")
                rows.extend(task_rows)
                if done % 25 == 0 or done == len(tasks):
                    print(f"photos {done}/{len(tasks)}", file=sys.stderr, flush=True)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    return summarise(rows, len(bank))


def main(argv: list[str] | None = None) -> int:
    from hashwall.errors import InvalidInput

    parser = argparse.ArgumentParser(
        prog="python -m hashwall.eval.features", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, one a transform")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--distractor-limit", type=int, default=None)
    parser.add_argument("--copies", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--swap", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.photos.is_dir():
        parser.error(f"--photos {args.photos} is not a folder")
    try:
        bank, distractors = choose_split(
            args.photos, None, args.limit, args.distractor_limit, args.seed, args.swap
        )
    except InvalidInput as exc:
        parser.error(str(exc))
    summary = measure(
        bank, distractors, args.out, seed=args.seed, copies=args.copies, workers=args.workers
    )
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
