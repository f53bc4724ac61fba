"""The model every layer speaks: who acts, the tenants, cases and items, and the decisions.

Plain frozen dataclasses and the enumerations they are checked against; nothing here reads a
database, an index or a request. The store maps its rows to these types, the service works on
them, and the API and the CLI map them to their own shapes. It imports nothing of hashwall but
:mod:`hashwall.errors`.
"""

from hashwall.domain.actors import (
    PLATFORM_SCOPES,
    ROLES,
    Actor,
    ActorKind,
    ApiKey,
    Role,
    Scope,
)
from hashwall.domain.allowlist import AllowlistEntry
from hashwall.domain.audit import AuditEntry
from hashwall.domain.cases import (
    CASE_CHANNELS,
    CASE_STATUSES,
    ITEM_KINDS,
    ITEM_STATES,
    ITEM_TRUSTS,
    LIVE_ITEM_STATES,
    Case,
    CaseStatus,
    Channel,
    Item,
    ItemKind,
    ItemState,
    Trust,
)
from hashwall.domain.choices import require_choice
from hashwall.domain.decisions import (
    DECISIONS,
    VERDICTS,
    Decision,
    Exemption,
    MatchRecord,
    Verdict,
    VerdictKind,
)
from hashwall.domain.tenancy import (
    MAX_RADIUS,
    UNVOUCHED_ANSWERS,
    Organisation,
    Partner,
    Platform,
    PlatformPolicy,
    UnvouchedAnswer,
)

__all__ = [
    "CASE_CHANNELS",
    "CASE_STATUSES",
    "DECISIONS",
    "ITEM_KINDS",
    "ITEM_STATES",
    "ITEM_TRUSTS",
    "LIVE_ITEM_STATES",
    "MAX_RADIUS",
    "PLATFORM_SCOPES",
    "ROLES",
    "UNVOUCHED_ANSWERS",
    "VERDICTS",
    "Actor",
    "ActorKind",
    "AllowlistEntry",
    "ApiKey",
    "AuditEntry",
    "Case",
    "CaseStatus",
    "Channel",
    "Decision",
    "Exemption",
    "Item",
    "ItemKind",
    "ItemState",
    "MatchRecord",
    "Organisation",
    "Partner",
    "Platform",
    "PlatformPolicy",
    "Role",
    "Scope",
    "Trust",
    "UnvouchedAnswer",
    "Verdict",
    "VerdictKind",
    "require_choice",
]
