"""``hashwall eval``: how well each matching method finds transformed copies of banked photos,
and how often it matches distinct photos (see ``docs/accuracy.md``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def eval_command(
    photos: Annotated[Path, typer.Option(help="Folder of photos to bank (searched recursively).")],
    out: Annotated[Path, typer.Option(help="Folder for results.json, report.md and plots.")],
    distractors: Annotated[
        Path | None,
        typer.Option(
            help="Folder of distinct photos to check against the bank (default: the photos "
            "of --photos not banked)."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Bank at most this many photos (a seeded sample).")
    ] = None,
    distractor_limit: Annotated[
        int | None,
        typer.Option(min=1, help="Check at most this many distractors (a seeded sample)."),
    ] = None,
    copies: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Check the transformed copies of at most this many banked photos (a seeded "
            "sample; default: all): a bigger bank for the distractor run, at the recall "
            "run's cost.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sampling and of the transforms.")] = 0,
    swap: Annotated[
        bool,
        typer.Option(
            help="Turn the split around: bank the distractors the run would pick and check "
            "the photos it would bank as distractors (a check on photos a rule was not "
            "chosen on). Needs the distractors to come from --photos."
        ),
    ] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: the cores, at most 4).")
    ] = None,
    same_person: Annotated[
        Path | None,
        typer.Option(
            help="Folder of photos of the same people, one subfolder per person (see "
            "hashwall.eval.sameperson): their false matches are reported separately."
        ),
    ] = None,
    methods: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated methods to compare (default: all but hashwall_loose, which "
            "shows what the keypoint rules on close codes, spread and keypoints found again "
            "remove)."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Bank photos, check a seeded suite of transformed copies and distinct photos, and write
    recall per transform, false matches, distances and check cost for each method."""
    from hashwall.eval.runner import run_eval_command

    raise typer.Exit(
        run_eval_command(
            photos=photos,
            distractors=distractors,
            out=out,
            limit=limit,
            distractor_limit=distractor_limit,
            seed=seed,
            workers=workers,
            same_person=same_person,
            methods=methods,
            json_out=json_out,
            copies=copies,
            swap=swap,
        )
    )
