"""The operator's tenancy commands: ``org``, ``platform`` (with its matching policy) and
``partner``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from hashwall.api import mapping
from hashwall.cli.forms import wire_json
from hashwall.cli.operator.session import run_operator
from hashwall.cli.output import JsonOption, print_json, show, table, when
from hashwall.domain import Actor
from hashwall.errors import InvalidInput
from hashwall.service import tenants
from hashwall.service.context import ServiceContext
from hashwall.service.signal_policy import effective_thresholds

org_app = typer.Typer(
    name="org", help="Organisations (companies owning platforms).", no_args_is_help=True
)
platform_app = typer.Typer(
    name="platform", help="Platforms and their matching policies.", no_args_is_help=True
)
partner_app = typer.Typer(
    name="partner", help="Intake partners (helplines, hotlines).", no_args_is_help=True
)


# --- organisations ---------------------------------------------------------------------------


@org_app.command("add")
def org_add(
    name: Annotated[str, typer.Argument(help="Unique organisation name.")],
    json_out: JsonOption = False,
) -> None:
    """Add an organisation."""
    org = run_operator(json_out, lambda ctx, actor: tenants.add_organisation(ctx, actor, name))
    if json_out:
        print_json(wire_json(mapping.organisation(org)))
    else:
        Console().print(f"Added organisation {escape(org.name)}.", highlight=False)


@org_app.command("list")
def org_list(json_out: JsonOption = False) -> None:
    """List organisations."""
    orgs = run_operator(json_out, tenants.list_organisations)
    if json_out:
        print_json({"organisations": [wire_json(mapping.organisation(o)) for o in orgs]})
        return
    rows = table("name", "created")
    for org in orgs:
        rows.add_row(org.name, when(org.created_at))
    show(rows, "No organisations yet: `hashwall org add NAME`.")


# --- platforms -------------------------------------------------------------------------------

PdqThresholdOption = Annotated[
    int | None,
    typer.Option("--pdq-threshold", help="PDQ match radius, 0..31 (as --threshold pdq=N)."),
]
ThresholdOption = Annotated[
    list[str] | None,
    typer.Option(
        "--threshold",
        help="A signal type's match radius, TYPE=N (e.g. pdq=24), within the type's range; "
        "repeat for several types.",
    ),
]
RevealDistanceOption = Annotated[
    bool | None,
    typer.Option(
        "--reveal-distance/--no-reveal-distance",
        help="Answers show the Hamming distance, coarsened to a band of 8 bits with an offset "
        "keyed by the banked hash: the exact distance would let the platform rebuild a banked "
        "hash in ~256 checks by flipping bits; coarse, it takes ~100x more, each one a match "
        "on record (docs/security.md).",
    ),
]
RevealOrientationOption = Annotated[
    bool | None,
    typer.Option(
        "--reveal-orientation/--no-reveal-orientation", help="Answers show the orientation."
    ),
]
UnvouchedOption = Annotated[
    str | None,
    typer.Option(
        "--unvouched-answer", help="What a match on an unvouched item answers: review or allow."
    ),
]
VideoUploadOption = Annotated[
    int | None,
    typer.Option("--video-upload-percent", help="% of upload frames that must match, 1..100."),
]
VideoBankOption = Annotated[
    int | None,
    typer.Option("--video-bank-percent", help="% of banked video frames found, 1..100."),
]
RetentionOption = Annotated[
    int | None,
    typer.Option("--retention-days", help="Days match records are kept (default 90)."),
]


def _thresholds(given: list[str] | None) -> dict[str, int] | None:
    """``TYPE=N`` options as a map (``invalid_input`` for anything else)."""
    if not given:
        return None
    out: dict[str, int] = {}
    for text in given:
        name, _, radius = text.partition("=")
        if not name or not radius.strip().isdigit():
            raise InvalidInput(f"--threshold takes TYPE=N (e.g. pdq=24), not {text!r}")
        out[name.strip()] = int(radius)
    return out


def _policy_update(
    thresholds: list[str] | None,
    pdq_threshold: int | None,
    reveal_distance: bool | None,
    reveal_orientation: bool | None,
    unvouched_answer: str | None,
    video_upload_percent: int | None,
    video_bank_percent: int | None,
    retention_days: int | None,
) -> tenants.PolicyUpdate:
    return tenants.PolicyUpdate.from_mapping(
        {
            "thresholds": _thresholds(thresholds),
            "pdq_threshold": pdq_threshold,
            "reveal_distance": reveal_distance,
            "reveal_orientation": reveal_orientation,
            "unvouched_answer": unvouched_answer,
            "video_upload_percent": video_upload_percent,
            "video_bank_percent": video_bank_percent,
            "retention_days": retention_days,
        }
    )


def _print_platforms(platforms: list[tenants.PlatformInfo]) -> None:
    rows = table(
        "name",
        "organisation",
        "thresholds",
        "reveal",
        "unvouched",
        "video % (upload/bank)",
        "retention days",
        "created",
    )
    for p in platforms:
        reveal = (
            ", ".join(
                name
                for name, on in (
                    ("distance", p.policy.reveal_distance),
                    ("orientation", p.policy.reveal_orientation),
                )
                if on
            )
            or "-"
        )
        rows.add_row(
            p.name,
            p.organisation,
            ", ".join(f"{t}={r}" for t, r in effective_thresholds(p.policy).items()),
            reveal,
            p.policy.unvouched_answer,
            f"{p.policy.video_upload_percent}/{p.policy.video_bank_percent}",
            str(p.policy.retention_days),
            when(p.created_at),
        )
    show(rows, "No platforms yet: `hashwall platform add NAME --org ORG`.")


@platform_app.command("add")
def platform_add(
    name: Annotated[str, typer.Argument(help="Unique platform name.")],
    organisation: Annotated[str, typer.Option("--org", help="The owning organisation.")],
    thresholds: ThresholdOption = None,
    pdq_threshold: PdqThresholdOption = None,
    reveal_distance: RevealDistanceOption = None,
    reveal_orientation: RevealOrientationOption = None,
    unvouched_answer: UnvouchedOption = None,
    video_upload_percent: VideoUploadOption = None,
    video_bank_percent: VideoBankOption = None,
    retention_days: RetentionOption = None,
    json_out: JsonOption = False,
) -> None:
    """Add a platform of an organisation, with the default policy plus any options given."""

    def run(ctx: ServiceContext, actor: Actor) -> tenants.PlatformInfo:
        update = _policy_update(
            thresholds,
            pdq_threshold,
            reveal_distance,
            reveal_orientation,
            unvouched_answer,
            video_upload_percent,
            video_bank_percent,
            retention_days,
        )
        return tenants.add_platform(ctx, actor, organisation=organisation, name=name, policy=update)

    platform = run_operator(json_out, run)
    if json_out:
        print_json(wire_json(mapping.platform(platform)))
    else:
        _print_platforms([platform])


@platform_app.command("list")
def platform_list(
    organisation: Annotated[
        str | None, typer.Option("--org", help="Only this organisation's platforms.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """List platforms and their policies."""
    platforms = run_operator(
        json_out, lambda ctx, actor: tenants.list_platforms(ctx, actor, organisation=organisation)
    )
    if json_out:
        print_json({"platforms": [wire_json(mapping.platform(p)) for p in platforms]})
    else:
        _print_platforms(platforms)


@platform_app.command("set-policy")
def platform_set_policy(
    name: Annotated[str, typer.Argument(help="The platform.")],
    thresholds: ThresholdOption = None,
    pdq_threshold: PdqThresholdOption = None,
    reveal_distance: RevealDistanceOption = None,
    reveal_orientation: RevealOrientationOption = None,
    unvouched_answer: UnvouchedOption = None,
    video_upload_percent: VideoUploadOption = None,
    video_bank_percent: VideoBankOption = None,
    retention_days: RetentionOption = None,
    json_out: JsonOption = False,
) -> None:
    """Change a platform's policy: only the options given change."""

    def run(ctx: ServiceContext, actor: Actor) -> tenants.PlatformInfo:
        update = _policy_update(
            thresholds,
            pdq_threshold,
            reveal_distance,
            reveal_orientation,
            unvouched_answer,
            video_upload_percent,
            video_bank_percent,
            retention_days,
        )
        if not update.changes():
            raise InvalidInput("give at least one policy option to change (see --help)")
        return tenants.set_platform_policy(ctx, actor, name, update)

    platform = run_operator(json_out, run)
    if json_out:
        print_json(wire_json(mapping.platform(platform)))
    else:
        _print_platforms([platform])


# --- partners --------------------------------------------------------------------------------


@partner_app.command("add")
def partner_add(
    name: Annotated[str, typer.Argument(help="Unique partner name.")],
    json_out: JsonOption = False,
) -> None:
    """Add an intake partner."""
    partner = run_operator(json_out, lambda ctx, actor: tenants.add_partner(ctx, actor, name))
    if json_out:
        print_json(wire_json(mapping.partner(partner)))
    else:
        Console().print(f"Added partner {escape(partner.name)}.", highlight=False)


@partner_app.command("list")
def partner_list(json_out: JsonOption = False) -> None:
    """List intake partners."""
    partners = run_operator(json_out, tenants.list_partners)
    if json_out:
        print_json({"partners": [wire_json(mapping.partner(p)) for p in partners]})
        return
    rows = table("name", "created")
    for partner in partners:
        rows.add_row(partner.name, when(partner.created_at))
    show(rows, "No partners yet: `hashwall partner add NAME`.")
