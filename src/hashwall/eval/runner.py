"""Run the evaluation: bank photos, check transformed copies and distractors, measure.

Enrolment runs in this process; checking is spread over worker processes (one task per
photo: all of its transformed copies, or a distractor with its shared overlays). Every
transformed copy is uploaded as JPEG quality 95 (what a platform receives after the
reposter's edit); a distractor is checked as its own file and with each shared overlay.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from hashwall.eval.methods import DEFAULT_METHODS, METHODS, NO_DISTANCE, Method, Prepared
from hashwall.eval.transforms import SHARED_OVERLAYS, SUITE, transform_rng

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
UPLOAD_QUALITY = 95
HIST_BINS = 257  # distances 0..256
SCORE_BINS = 33  # scores 0..31, and 32 or more


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by path."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def upload_bytes(img: Image.Image) -> bytes:
    """What a platform receives for a transformed copy: JPEG at ``UPLOAD_QUALITY``."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=UPLOAD_QUALITY)
    return buf.getvalue()


@dataclass(slots=True)
class Tally:
    """What one method saw over the run."""

    found: dict[str, int] = field(default_factory=dict)
    checked: dict[str, int] = field(default_factory=dict)
    cross_matches: int = 0  # a transformed copy matched a different banked photo
    false_matches: list[dict[str, Any]] = field(default_factory=list)
    false_by_variant: dict[str, int] = field(default_factory=dict)
    distractor_pairs: int = 0
    check_ms: list[float] = field(default_factory=list)
    true_hist: np.ndarray = field(default_factory=lambda: np.zeros(HIST_BINS, np.int64))
    false_hist: np.ndarray = field(default_factory=lambda: np.zeros(HIST_BINS, np.int64))
    #: Histograms of a method's second measure (``Method.scores``), where it has one.
    true_score_hist: np.ndarray = field(default_factory=lambda: np.zeros(SCORE_BINS, np.int64))
    false_score_hist: np.ndarray = field(default_factory=lambda: np.zeros(SCORE_BINS, np.int64))
    true_scores_by_transform: dict[str, list[int]] = field(default_factory=dict)
    true_by_transform: dict[str, list[int]] = field(default_factory=dict)
    values: int = 0
    nbytes: int = 0


# --- worker side ---------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(methods: list[Method], seed: int) -> None:
    _WORKER["methods"] = methods
    _WORKER["seed"] = seed


def _measure(
    methods: list[Method], data: bytes, timed: bool
) -> Iterator[tuple[Method, dict[int, int], float | None, Any]]:
    """Check one upload with every method: (method, matches, ms or None, query).

    Timed: each method decodes and hashes on its own and its query plus search is timed.
    Untimed (transformed copies): methods that decode alike share the decoded upload and
    may share their hashing (pdq and pdq8 compute the dihedral PDQ once).
    """
    shared: dict[str, Prepared] = {}
    for method in methods:
        if timed:
            prepared = method.prepare(data)
        else:
            if method.prepare_key not in shared:
                shared[method.prepare_key] = method.prepare(data, shared=True)
            prepared = shared[method.prepare_key]
        t0 = time.perf_counter()
        query = method.query(prepared)
        matches = method.search(query)
        ms = (time.perf_counter() - t0) * 1000.0
        yield method, matches, ms if timed else None, query


def _uploads(
    data: bytes, names: Sequence[str], seed: int, index: int
) -> Iterator[tuple[str, bytes | None, str | None]]:
    """(name, upload bytes or None, error) for each transform of one photo."""
    with Image.open(io.BytesIO(data)) as opened:
        img = opened.convert("RGB")
    for name in names:
        if name == "plain":
            yield name, data, None
            continue
        try:
            out = SUITE[name](img, transform_rng(seed, index, name))
            yield name, upload_bytes(out), None
        except (OSError, ValueError) as exc:  # a transform that cannot apply to this photo
            yield name, None, f"{type(exc).__name__}: {exc}"


def run_task(task: tuple[str, int, str]) -> dict[str, Any]:
    """One photo: a banked photo's transformed copies, or a distractor with its overlays."""
    kind, index, path = task
    methods: list[Method] = _WORKER["methods"]
    seed: int = _WORKER["seed"]
    data = Path(path).read_bytes()
    names = list(SUITE) if kind == "bank" else ["plain", *SHARED_OVERLAYS]
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    for name, upload, error in _uploads(data, names, seed, index):
        if upload is None:
            errors.append(f"{path} {name}: {error}")
            continue
        try:
            for method, matches, ms, query in _measure(methods, upload, timed=kind != "bank"):
                dist = method.distances(query)
                row: dict[str, Any] = {"method": method.name, "transform": name, "ms": ms}
                row["matches"] = matches
                if kind == "bank":
                    row["own"] = int(dist[index]) if dist is not None else NO_DISTANCE
                elif dist is not None:
                    row["hist"] = np.bincount(dist[dist >= 0], minlength=HIST_BINS)
                scores = method.scores(query)
                if scores is not None and kind == "bank":
                    row["own_score"] = int(scores[index])
                elif scores is not None:
                    capped = np.minimum(scores, SCORE_BINS - 1)
                    row["score_hist"] = np.bincount(capped, minlength=SCORE_BINS)
                rows.append(row)
        except Exception as exc:  # one bad upload must not stop the run
            errors.append(f"{path} {name}: {type(exc).__name__}: {exc}")
    return {"kind": kind, "index": index, "path": path, "rows": rows, "errors": errors}


# --- main side -----------------------------------------------------------------------------


@dataclass(slots=True)
class EvalRun:
    """Everything a run measured (turned into files by :mod:`hashwall.eval.report`)."""

    bank: list[Path]
    distractors: list[Path]
    tallies: dict[str, Tally]
    methods: list[Method]
    seed: int
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    same_person: dict[str, Any] | None = None


def pick(paths: list[Path], limit: int | None, seed: int) -> list[Path]:
    """A seeded sample of ``limit`` paths (all of them without a limit), in path order."""
    if limit is None or limit >= len(paths):
        return list(paths)
    return sorted(random.Random(seed).sample(paths, limit))


def enrol_bank(
    bank: list[Path], method_names: Sequence[str], tallies: dict[str, Tally]
) -> tuple[list[Method], list[Path], list[str]]:
    """Bank every photo with every method; photos a method cannot read are left out of all."""
    methods = [METHODS[n]() for n in method_names]
    kept: list[Path] = []
    errors: list[str] = []
    for path in bank:
        data = path.read_bytes()
        try:
            prepared = [m.prepare(data) for m in methods]
        except Exception as exc:
            errors.append(f"{path}: not banked: {type(exc).__name__}: {exc}")
            continue
        for m, p in zip(methods, prepared, strict=True):
            stored = m.enrol(p)
            tallies[m.name].values += stored.values
            tallies[m.name].nbytes += stored.nbytes
        kept.append(path)
    return methods, kept, errors


def _absorb(run: EvalRun, result: dict[str, Any]) -> None:
    run.errors.extend(result["errors"])
    index = result["index"]
    for row in result["rows"]:
        t = run.tallies[row["method"]]
        name = row["transform"]
        if row["ms"] is not None:
            t.check_ms.append(row["ms"])
        matches: dict[int, int] = row["matches"]
        if result["kind"] == "bank":
            t.checked[name] = t.checked.get(name, 0) + 1
            t.found[name] = t.found.get(name, 0) + int(index in matches)
            t.cross_matches += sum(1 for i in matches if i != index)
            if "own_score" in row:
                t.true_score_hist[min(row["own_score"], SCORE_BINS - 1)] += 1
                t.true_scores_by_transform.setdefault(name, []).append(row["own_score"])
            if row["own"] >= 0:
                t.true_hist[min(row["own"], HIST_BINS - 1)] += 1
                t.true_by_transform.setdefault(name, []).append(row["own"])
        else:
            t.distractor_pairs += len(run.bank)
            t.false_by_variant[name] = t.false_by_variant.get(name, 0) + len(matches)
            for bank_id, distance in sorted(matches.items()):
                t.false_matches.append(
                    {
                        "distractor": result["path"],
                        "variant": name,
                        "banked": str(run.bank[bank_id]),
                        "distance": distance,
                    }
                )
            if "hist" in row:
                t.false_hist += row["hist"]
            if "score_hist" in row:
                t.false_score_hist += row["score_hist"]


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def run_eval(
    bank_paths: list[Path],
    distractor_paths: list[Path],
    *,
    seed: int = 0,
    workers: int | None = None,
    method_names: Sequence[str] = DEFAULT_METHODS,
    progress: bool = True,
    copies: int | None = None,
) -> EvalRun:
    """Bank ``bank_paths``, check every transformed copy and every distractor; see the module
    docstring. ``copies``: make the transformed copies of at most this many banked photos (a
    seeded sample), for a bank larger than the recall run needs (false matches grow with it)."""
    started = time.perf_counter()
    tallies = {n: Tally() for n in method_names}
    methods, bank, errors = enrol_bank(bank_paths, method_names, tallies)
    run = EvalRun(bank, distractor_paths, tallies, methods, seed, errors=errors)
    copied = copied_indexes(len(bank), copies, seed)
    tasks = [("bank", i, str(bank[i])) for i in copied]
    tasks += [("distractor", i, str(p)) for i, p in enumerate(distractor_paths)]
    workers = workers or default_workers()
    with _Progress(progress, len(tasks)) as advance:
        if workers == 1:
            _init_worker(methods, seed)
            for task in tasks:
                _absorb(run, run_task(task))
                advance()
        else:
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(workers, initializer=_init_worker, initargs=(methods, seed)) as pool:
                for result in pool.imap_unordered(run_task, tasks, chunksize=1):
                    _absorb(run, result)
                    advance()
    for t in tallies.values():
        t.false_matches.sort(key=lambda m: (m["distance"], m["distractor"], m["variant"]))
    run.seconds = time.perf_counter() - started
    return run


class _Progress:
    """A rich progress bar (or nothing) that yields an ``advance()`` callable."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self._bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda: None
        if not sys.stderr.isatty():  # a log file: one line per 5% instead of a bar
            done = [0]
            step = max(1, self.total // 20)
            started = time.perf_counter()

            def advance() -> None:
                done[0] += 1
                if done[0] % step == 0 or done[0] == self.total:
                    elapsed = time.perf_counter() - started
                    print(f"photos {done[0]}/{self.total} {elapsed:.0f} s", file=sys.stderr)

            return advance
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(  # on stderr, so that --json output stays clean
            TextColumn("photos"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._bar.__enter__()
        task = self._bar.add_task("eval", total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def choose_split(
    photos: Path,
    distractors: Path | None,
    limit: int | None,
    distractor_limit: int | None,
    seed: int,
    swap: bool,
) -> tuple[list[Path], list[Path]]:
    """The photos to bank and the distractors of a run (``hashwall eval``'s options): a seeded
    sample of ``photos``, and one of ``distractors`` (or of the rest of ``photos``) left out of
    it; ``swap`` turns ``photos``' own split around. Raises InvalidInput."""
    from hashwall.errors import InvalidInput

    all_photos = list_images(photos)
    bank = pick(all_photos, limit, seed)
    if not bank:
        raise InvalidInput(f"no images under {photos}")
    banked = {p.resolve() for p in bank}
    pool = list_images(distractors) if distractors is not None else all_photos
    pool = [p for p in pool if p.resolve() not in banked]
    chosen = pick(pool, distractor_limit, seed + 1)
    if swap:
        if distractors is not None:
            raise InvalidInput("--swap turns --photos' own split around: leave --distractors out")
        bank, chosen = chosen, bank
        if not bank:
            raise InvalidInput(f"--swap: no photos of {photos} are left to bank")
    return bank, chosen


def copied_indexes(bank_size: int, copies: int | None, seed: int) -> Sequence[int]:
    """Which banked photos a run makes transformed copies of: all, or a seeded sample of
    ``copies``."""
    if copies is not None and copies < bank_size:
        return sorted(random.Random(seed + 2).sample(range(bank_size), copies))
    return range(bank_size)


def run_eval_command(
    *,
    photos: Path,
    distractors: Path | None,
    out: Path,
    limit: int | None,
    distractor_limit: int | None,
    seed: int,
    workers: int | None,
    json_out: bool,
    same_person: Path | None = None,
    methods: str | None = None,
    copies: int | None = None,
    swap: bool = False,
) -> int:
    """``hashwall eval``: returns the exit code."""
    from hashwall.cli.output import fail, print_json
    from hashwall.errors import InvalidInput
    from hashwall.eval.report import summary, write_outputs

    if not photos.is_dir():
        fail(InvalidInput(f"--photos {photos} is not a folder"), json_out)
    if distractors is not None and not distractors.is_dir():
        fail(InvalidInput(f"--distractors {distractors} is not a folder"), json_out)
    if same_person is not None and not same_person.is_dir():
        fail(InvalidInput(f"--same-person {same_person} is not a folder"), json_out)
    method_names = DEFAULT_METHODS if methods is None else tuple(methods.split(","))
    unknown = [n for n in method_names if n not in METHODS]
    if unknown or not method_names:
        fail(InvalidInput(f"--methods: unknown {unknown}; known: {', '.join(METHODS)}"), json_out)
    try:
        bank, chosen = choose_split(photos, distractors, limit, distractor_limit, seed, swap)
    except InvalidInput as exc:
        fail(exc, json_out)
    run = run_eval(
        bank,
        chosen,
        seed=seed,
        workers=workers,
        method_names=method_names,
        progress=not json_out,
        copies=copies,
    )
    if same_person is not None:
        from hashwall.eval.sameperson import check_same_person

        run.same_person = check_same_person(same_person, seed, method_names)
    written = write_outputs(run, out)
    if json_out:
        print_json(summary(run))
    else:
        from rich.console import Console

        console = Console()
        console.print(written["table"], soft_wrap=True)
        console.print(f"wrote {', '.join(written['files'])} in {out} ({run.seconds:.0f} s)")
        if written.get("plots_note"):
            console.print(written["plots_note"])
    return 0
