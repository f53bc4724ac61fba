"""The JSON the commands print with ``--json``, for results of the service.

Where the HTTP API answers with a wire model for a result, a command prints that model (built
by :mod:`hashwall.api.mapping`), so the CLI and the API cannot drift apart: :func:`wire_json`.
Timestamps keep the form the CLI always printed (Python's ISO 8601, ``+00:00``; the API writes
``Z``). What only the CLI shows (a match against a local feed mirror) has its form here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from hashwall.service.lists import ImportReport
    from hashwall.service.local_match import LocalMatch


def wire_json(model: BaseModel) -> dict[str, Any]:
    """A wire model as a JSON object: its fields, timestamps as ISO 8601 text (``+00:00``)."""
    body: dict[str, Any] = _plain(model.model_dump())
    return body


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def local_match(match: LocalMatch) -> dict[str, Any]:
    """A local match: the item ref, the decision, the signal type; ``distance`` and
    ``orientation`` only for a near match; a video's shares and ``ranges`` for a video match."""
    body: dict[str, Any] = {
        "item_ref": match.item_ref,
        "decision": match.decision,
        "signal_type": match.signal_type,
    }
    if match.distance is not None:
        body["distance"] = match.distance
        body["orientation"] = match.orientation
    if match.video is not None:  # the shares and ranges, as the service's check answers them
        shown = match.video.to_dict()
        for name in ("upload_frames_matched_pct", "banked_frames_matched_pct", "ranges"):
            body[name] = shown[name]
    return body


def import_report(report: ImportReport) -> dict[str, Any]:
    """``hashwall import --json``: the counts, and every refused line with its code."""
    return {
        "partner": report.partner,
        "label": report.label,
        "lines": report.lines,
        "items_banked": report.items_banked,
        "signals_banked": report.signals_banked,
        "already_banked": report.already_banked,
        "refused": len(report.refused),
        "case_number": report.case_number,
        "refusals": [
            {"line": r.line, "code": r.code, "message": r.message} for r in report.refused
        ],
    }
