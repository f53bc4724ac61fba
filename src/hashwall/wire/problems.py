"""Errors on the wire: ``application/problem+json`` (RFC 9457) with hashwall's stable ``code``."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from hashwall.wire.base import ResponseModel

#: The media type of every error answer.
PROBLEM_JSON = "application/problem+json"


class ValidationIssue(ResponseModel):
    """Where a request did not fit its schema (no input values are echoed)."""

    loc: list[str]
    type: str
    msg: str


class Problem(ResponseModel):
    """Every error: ``application/problem+json`` with hashwall's stable ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: list[ValidationIssue] | None = None
    refusals: list[dict[str, Any]] | None = None
