"""A run's files: ``results.json`` (the summary), ``details.json`` (every false match, the
distance histograms), ``report.md`` (tables) and PNG plots (when matplotlib is installed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from hashwall.eval.runner import EvalRun, Tally
from hashwall.eval.transforms import SHARED_OVERLAYS, SUITE


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else 0.0


def _recall(t: Tally) -> dict[str, float]:
    return {
        name: round(t.found.get(name, 0) / t.checked[name], 4)
        for name in SUITE
        if t.checked.get(name)
    }


def summary(run: EvalRun) -> dict[str, Any]:
    """``results.json``: the shape the issue fixed, one entry per method."""
    n = max(1, len(run.bank))
    methods: dict[str, Any] = {}
    for name, t in run.tallies.items():
        methods[name] = {
            "recall": _recall(t),
            "false_matches": len(t.false_matches),
            "distractor_pairs": t.distractor_pairs,
            "hashes_per_image": round(t.values / n, 3),
            "bytes_per_image": round(t.nbytes / n, 1),
            "check_ms_p50": _percentile(t.check_ms, 50),
            "check_ms_p99": _percentile(t.check_ms, 99),
        }
    return {
        "bank_images": len(run.bank),
        "distractor_images": len(run.distractors),
        "methods": methods,
    }


def _group_recall(t: Tally) -> dict[str, float]:
    found: dict[str, int] = {}
    checked: dict[str, int] = {}
    for name, tr in SUITE.items():
        if t.checked.get(name):
            found[tr.group] = found.get(tr.group, 0) + t.found.get(name, 0)
            checked[tr.group] = checked.get(tr.group, 0) + t.checked[name]
    return {g: round(found[g] / checked[g], 4) for g in checked}


def details(run: EvalRun) -> dict[str, Any]:
    """``details.json``: what a reader needs to audit the summary."""
    out: dict[str, Any] = {
        "seed": run.seed,
        "seconds": round(run.seconds, 1),
        "bank": [str(p) for p in run.bank],
        "distractors": [str(p) for p in run.distractors],
        "shared_overlays": list(SHARED_OVERLAYS),
        "errors": run.errors,
        "same_person": run.same_person,
        "methods": {},
    }
    for m in run.methods:
        t = run.tallies[m.name]
        out["methods"][m.name] = {
            "description": m.description,
            "recall_by_group": _group_recall(t),
            "transformed_copies": sum(t.checked.values()),
            "cross_matches": t.cross_matches,
            "false_by_variant": t.false_by_variant,
            "false_matches": t.false_matches,
            "true_distance_median": {
                k: float(np.median(v)) for k, v in t.true_by_transform.items()
            },
            "true_distance_hist": t.true_hist.tolist(),
            "false_distance_hist": t.false_hist.tolist(),
        }
        if t.true_score_hist.any() or t.false_score_hist.any():
            out["methods"][m.name]["true_score_hist"] = t.true_score_hist.tolist()
            out["methods"][m.name]["false_score_hist"] = t.false_score_hist.tolist()
    return out


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _min_false(t: Tally) -> str:
    nz = np.nonzero(t.false_hist)[0]
    return str(int(nz[0])) if nz.size else "-"


def _upper_bound(false: int, pairs: int) -> str:
    """The 95% upper bound on the per-pair false-match rate (rule of three when none)."""
    if pairs == 0:
        return "-"
    if false == 0:
        return f"{3.0 / pairs:.1e}"
    return f"{(false + 1.96 * np.sqrt(false)) / pairs:.1e}"


def markdown(run: EvalRun) -> tuple[str, str]:
    """``report.md`` and the short table printed at the end of a run."""
    s = summary(run)
    names = list(s["methods"])
    head = ["method", *names]
    overview_rows = [
        ["false matches", *(str(s["methods"][n]["false_matches"]) for n in names)],
        ["distractor pairs", *(str(s["methods"][n]["distractor_pairs"]) for n in names)],
        [
            "95% upper bound per pair",
            *(
                _upper_bound(s["methods"][n]["false_matches"], s["methods"][n]["distractor_pairs"])
                for n in names
            ),
        ],
        ["smallest distractor distance", *(_min_false(run.tallies[n]) for n in names)],
        ["hashes per banked image", *(str(s["methods"][n]["hashes_per_image"]) for n in names)],
        ["bytes per banked image", *(str(s["methods"][n]["bytes_per_image"]) for n in names)],
        ["check ms p50", *(f"{s['methods'][n]['check_ms_p50']:.2f}" for n in names)],
        ["check ms p99", *(f"{s['methods'][n]['check_ms_p99']:.2f}" for n in names)],
    ]
    groups = list(dict.fromkeys(tr.group for tr in SUITE.values()))
    by_group = {n: _group_recall(run.tallies[n]) for n in names}
    group_rows = [[g, *(f"{by_group[n].get(g, float('nan')):.2f}" for n in names)] for g in groups]
    recall_rows = [
        [tr, *(f"{s['methods'][n]['recall'].get(tr, float('nan')):.2f}" for n in names)]
        for tr in SUITE
    ]
    variant_rows = [
        [v, *(str(run.tallies[n].false_by_variant.get(v, 0)) for n in names)]
        for v in ["plain", *SHARED_OVERLAYS]
    ]
    short = (
        f"bank {s['bank_images']} photos, {s['distractor_images']} distractors "
        f"(plain and with {len(SHARED_OVERLAYS)} shared overlays), seed {run.seed}\n\n"
        + _table(["recall by group", *names], group_rows)
        + "\n\n"
        + _table(head, overview_rows)
    )
    parts = [
        "# hashwall eval report",
        "",
        short,
        "",
        "## False matches by distractor variant",
        "",
        _table(["variant", *names], variant_rows),
        "",
        "## Recall per transform",
        "",
        _table(["transform", *names], recall_rows),
        "",
        "## Worst false matches",
        "",
    ]
    any_false = False
    for n in names:
        for m in run.tallies[n].false_matches[:10]:
            any_false = True
            parts.append(
                f"- {n}: {m['distractor']} ({m['variant']}) ~ {m['banked']} at {m['distance']}"
            )
    if not any_false:
        parts.append("None.")
    parts += _scores_markdown(run, names)
    if run.same_person is not None:
        parts += ["", same_person_markdown(run.same_person)]
    if run.errors:
        parts += ["", f"## Errors ({len(run.errors)})", ""]
        parts += [f"- {e}" for e in run.errors[:50]]
    parts += ["", f"Run time: {run.seconds:.0f} s.", ""]
    return "\n".join(parts), short


#: Inlier levels whose recall the report gives per group (see docs/accuracy.md for which
#: level a bank of a given size needs).
SCORE_LEVELS = (5, 8, 12)


def _scores_markdown(run: EvalRun, names: list[str]) -> list[str]:
    """Histograms of the second measure (keypoint inliers) of methods that have one: how many
    pairs reached each count, distractor pairs beside transformed copies."""
    parts: list[str] = []
    for n in names:
        t = run.tallies[n]
        if not (t.true_score_hist.any() or t.false_score_hist.any()):
            continue
        last = len(t.false_score_hist) - 1
        top = max(int(np.nonzero(t.false_score_hist)[0].max(initial=0)) + 2, 8)
        counts = list(range(min(top, last)))
        rows = [
            [
                str(c),
                str(int(t.false_score_hist[c])),
                str(int(t.true_score_hist[c])),
            ]
            for c in counts
        ]
        rest = slice(len(counts), None)
        rows.append(
            [
                f">= {len(counts)}",
                str(int(t.false_score_hist[rest].sum())),
                str(int(t.true_score_hist[rest].sum())),
            ]
        )
        parts += [
            "",
            f"## {n}: inliers per pair",
            "",
            "The most keypoints one transform explains, for every distractor ~ banked pair "
            "and for every transformed copy ~ its original.",
            "",
            _table(["inliers", "distractor pairs", "transformed copies"], rows),
        ]
        by_group: dict[str, list[int]] = {}
        for name, scores in t.true_scores_by_transform.items():
            by_group.setdefault(SUITE[name].group, []).extend(scores)
        if by_group:
            heads = [f"at least {k}" for k in SCORE_LEVELS]
            group_rows = [
                [g, *(f"{np.mean(np.asarray(v) >= k):.2f}" for k in SCORE_LEVELS)]
                for g, v in by_group.items()
            ]
            parts += [
                "",
                "Share of each group's copies whose inliers alone reach a level (a bigger "
                "bank needs a higher level to keep its false matches as rare):",
                "",
                _table(["group", *heads], group_rows),
            ]
    return parts


def same_person_markdown(sp: dict[str, Any]) -> str:
    """The same-person section: every photo against a bank of all the others."""
    names = list(sp["methods"])
    rows = [
        [label, *(str(sp["methods"][n].get(key, "-")) for n in names)]
        for label, key in (
            ("pairs checked", "pairs"),
            ("false matches", "false_matches"),
            ("of which the same person", "same_person_false_matches"),
            ("closest distance, same person", "closest_same_person"),
            ("closest distance, other people", "closest_other_person"),
            ("most keypoint inliers, same person", "most_inliers_same_person"),
            ("most keypoint inliers, other people", "most_inliers_other_person"),
        )
    ]
    lines = [
        "## Different photos of the same person",
        "",
        f"{sp['photos']} photos of {sp['people']} people, each checked plain and with the "
        "shared overlays against a bank of all the others.",
        "",
        _table(["", *names], rows),
    ]
    for n in names:
        for m in sp["methods"][n]["matches"][:10]:
            lines.append(f"- {n}: {m['photo']} ({m['variant']}) ~ {m['banked']} at {m['distance']}")
    return "\n".join(lines)


def plots(run: EvalRun, out: Path) -> tuple[list[str], str | None]:
    """``recall.png`` and ``distances.png``; a note instead when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "plots skipped: matplotlib is not installed (pip install matplotlib)"
    s = summary(run)
    names = list(s["methods"])
    transforms = list(SUITE)
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(transforms) + 1.5))
    y = np.arange(len(transforms))
    height = 0.8 / max(1, len(names))
    for k, n in enumerate(names):
        values = [s["methods"][n]["recall"].get(tr, 0.0) for tr in transforms]
        ax.barh(y + k * height, values, height=height, label=n)
    ax.set_yticks(y + 0.4 - height / 2, transforms, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("recall")
    ax.legend(loc="lower right")
    ax.set_title(f"recall per transform ({s['bank_images']} banked photos)")
    fig.tight_layout()
    fig.savefig(out / "recall.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.4 * len(names)), squeeze=False)
    bins = np.arange(0, 256, 2) + 1
    for ax, n in zip(axes[:, 0], names, strict=True):
        t = run.tallies[n]
        for hist, label in (
            (t.true_hist, "transformed copy ~ its original"),
            (t.false_hist, "distractor ~ banked"),
        ):
            total = hist.sum()
            if total:
                # PDQ distances are even (every hash has 128 bits set): bins of 2 bits.
                pairs = hist[:256].reshape(128, 2).sum(axis=1)
                ax.step(bins, pairs / total, where="mid", label=f"{label} ({int(total)})")
        ax.axvline(31, color="grey", linestyle=":", label="radius 31")
        ax.set_title(n, fontsize=9)
        ax.set_xlim(0, 200)
        ax.legend(fontsize=7)
    axes[-1, 0].set_xlabel("Hamming distance (best orientation)")
    fig.tight_layout()
    fig.savefig(out / "distances.png", dpi=110)
    plt.close(fig)
    return ["recall.png", "distances.png"], None


def write_outputs(run: EvalRun, out: Path) -> dict[str, Any]:
    """Write every file into ``out`` (created); returns the printed table and file names."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary(run), indent=2) + "\n")
    (out / "details.json").write_text(json.dumps(details(run), indent=1) + "\n")
    report, short = markdown(run)
    (out / "report.md").write_text(report)
    files, note = plots(run, out)
    return {
        "files": ["results.json", "details.json", "report.md", *files],
        "table": short,
        "plots_note": note,
    }
