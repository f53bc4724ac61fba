"""The SDK's names for the answers: each is the very class the server answers with, from
:mod:`hashwall.wire` (``hashwall.client.CheckResult is hashwall.wire.CheckOut``), so the SDK
cannot drift from the server.

The names are the SDK's own, kept from before the two shared their models; the server's names
(``...Out``) are those of the OpenAPI document.
"""

from __future__ import annotations

from hashwall import wire

Response = wire.ResponseModel

# cases
ItemOutcome = wire.ItemOutcome
CaseCreated = wire.CaseCreated
ItemStatus = wire.ItemStatus
CaseStatus = wire.CaseStatus
CaseItemsAdded = wire.CaseItemsAdded
CaseWithdrawal = wire.CaseWithdrawal
PinReissued = wire.PinReissued
CaseVouched = wire.CaseVouched

# checks and matches
CheckMatch = wire.CheckMatchOut
CheckResult = wire.CheckOut
BatchError = wire.BatchError
BatchCheckResult = wire.BatchCheckResult
VerdictRecorded = wire.VerdictOut
PendingMatch = wire.PendingMatchOut

# feed
SignalValue = wire.SignalOut
Policy = wire.PolicyOut
FeedItem = wire.FeedItemOut
FeedEvent = wire.FeedEventOut
FeedPage = wire.FeedPageOut

# operator
Organisation = wire.OrganisationOut
Platform = wire.PlatformOut
Partner = wire.PartnerOut
ApiKey = wire.ApiKeyOut
ApiKeyCreated = wire.ApiKeyCreated
QuarantinedItem = wire.QuarantinedItemOut
ItemStateChange = wire.ItemStateChangeOut
ItemConfirmed = wire.ItemConfirmedOut
CaseItem = wire.CaseItemOut
CaseRecord = wire.CaseRecordOut
CaseErasure = wire.CaseErasureOut
FlaggedItem = wire.FlaggedItemOut
AllowlistEntry = wire.AllowlistEntryOut
AuditRecord = wire.AuditOut
PlatformRetention = wire.PlatformRetentionOut
RetentionReport = wire.RetentionOut

# health
Health = wire.Health
Readiness = wire.Readiness
