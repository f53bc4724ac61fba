"""What every wire model shares: the two base classes, the size limits and the common fields.

Request models refuse unknown fields (a typo is a 422, not a silent default). Response models
are frozen values; the server builds them with no field it does not declare, and the SDK reads
them keeping the fields a newer server adds (``extra="allow"`` at validation).
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field

#: Most items in one intake request (the service's ``intake.MAX_ITEMS_PER_REQUEST``).
MAX_ITEMS: Final = 100
#: Most uploads in one batch check.
MAX_BATCH: Final = 100
#: Most signals one item or upload carries (one per type; a few types exist).
MAX_SIGNALS: Final = 16
#: Longest reason an operator gives for the audit (the service's ``MAX_REASON_LENGTH``).
MAX_REASON_LENGTH: Final = 500

ShortText = Annotated[str, Field(min_length=1, max_length=256)]
CaseNumber = Annotated[
    str,
    Field(min_length=1, max_length=64, description="The case number, e.g. HW-0A1B-2C3D-4E5F."),
]
Pin = Annotated[str, Field(min_length=1, max_length=64, description="The case's PIN.")]
Reason = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_REASON_LENGTH,
        description="Why, for the audit log (a ticket number; no personal data).",
    ),
]
#: The 8 dihedral PDQ hashes of an image (compared, never stored).
#: The most ``pdq_regions`` one upload may carry.
MAX_REGIONS = 8
Orientations = Annotated[
    list[Annotated[str, Field(max_length=64)]], Field(min_length=8, max_length=8)
]


class ApiModel(BaseModel):
    """Base of every request model: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    """Base of every response model: a frozen value with no undeclared field."""

    model_config = ConfigDict(extra="forbid", frozen=True)
