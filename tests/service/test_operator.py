"""Operator use cases on SQLite and PostgreSQL: organisations, platforms, partners, keys,
quarantine decisions, allowlist, audit."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import select

from hashwall.api import mapping
from hashwall.domain import Actor
from hashwall.errors import (
    AlreadyExists,
    Forbidden,
    InvalidHash,
    InvalidInput,
    InvalidKey,
    InvalidState,
    NotFound,
)
from hashwall.hashing.signals import Signal
from hashwall.service import audit as audit_service
from hashwall.service import auth, keys, moderation, tenants
from hashwall.service.context import ServiceContext
from hashwall.settings import Settings
from hashwall.store.credentials import hash_api_secret, parse_api_key
from hashwall.store.tables import api_keys

from bank_ops import PDQ_A, enrol, quarantine

OP = Actor.operator()


def _setup(ctx: ServiceContext) -> None:
    tenants.add_organisation(ctx, OP, "Example Social")
    tenants.add_platform(ctx, OP, organisation="Example Social", name="photos")
    tenants.add_partner(ctx, OP, "Helpline")


def test_organisations_platforms_partners(ctx: ServiceContext) -> None:
    org = tenants.add_organisation(ctx, OP, "  Example Social ")
    assert org.name == "Example Social"
    tenants.add_organisation(ctx, OP, "Another Co")
    with pytest.raises(AlreadyExists):
        tenants.add_organisation(ctx, OP, "Example Social")
    with pytest.raises(InvalidInput):
        tenants.add_organisation(ctx, OP, "   ")
    with pytest.raises(InvalidInput):
        tenants.add_organisation(ctx, OP, "x" * 201)
    assert [o.name for o in tenants.list_organisations(ctx, OP)] == ["Another Co", "Example Social"]

    photos = tenants.add_platform(ctx, OP, organisation="Example Social", name="photos")
    assert photos.organisation == "Example Social"
    assert photos.policy.thresholds == {"pdq": 31, "vpdq_frame": 31}  # every distance type
    assert photos.policy.unvouched_answer == "review"  # DESIGN: review by default
    assert photos.policy.retention_days == ctx.settings.match_retention_days
    chat = tenants.add_platform(
        ctx,
        OP,
        organisation="Another Co",
        name="chat",
        policy=tenants.PolicyUpdate(thresholds={"pdq": 20}, reveal_distance=True),
    )
    assert chat.policy.thresholds["pdq"] == 20 and chat.policy.reveal_distance
    with pytest.raises(NotFound):
        tenants.add_platform(ctx, OP, organisation="Nobody", name="x")
    with pytest.raises(AlreadyExists):
        tenants.add_platform(ctx, OP, organisation="Another Co", name="photos")
    assert [p.name for p in tenants.list_platforms(ctx, OP)] == ["chat", "photos"]
    assert [p.name for p in tenants.list_platforms(ctx, OP, organisation="Another Co")] == ["chat"]
    assert mapping.platform(photos).policy.pdq_threshold == 31

    tenants.add_partner(ctx, OP, "Helpline")
    with pytest.raises(AlreadyExists):
        tenants.add_partner(ctx, OP, "Helpline")
    assert [p.name for p in tenants.list_partners(ctx, OP)] == ["Helpline"]


def test_retention_default_comes_from_settings(ctx: ServiceContext) -> None:
    custom = ServiceContext(ctx.store, Settings(match_retention_days=30))
    tenants.add_organisation(custom, OP, "Org")
    assert (
        tenants.add_platform(custom, OP, organisation="Org", name="p").policy.retention_days == 30
    )


def test_set_policy_changes_only_given_fields_and_validates(ctx: ServiceContext) -> None:
    _setup(ctx)
    updated = tenants.set_platform_policy(
        ctx, OP, "photos", tenants.PolicyUpdate(thresholds={"pdq": 12}, retention_days=7)
    )
    assert updated.policy.thresholds["pdq"] == 12 and updated.policy.retention_days == 7
    assert updated.policy.reveal_distance is False and updated.policy.unvouched_answer == "review"
    allowed = tenants.set_platform_policy(
        ctx, OP, "photos", tenants.PolicyUpdate.from_mapping({"unvouched_answer": "allow"})
    )
    assert allowed.policy.unvouched_answer == "allow" and allowed.policy.thresholds["pdq"] == 12
    bad_updates = [
        {"pdq_threshold": 32},
        {"pdq_threshold": -1},
        {"pdq_threshold": True},
        {"pdq_threshold": "5"},
        {"thresholds": {"pdq": 32}},
        {"thresholds": {"md5": 1}},  # an exact type has no radius
        {"thresholds": {"phash": 1}},
        {"thresholds": ["pdq"]},
        {"unvouched_answer": "block"},  # an unvouched item never blocks
        {"video_upload_percent": 0},
        {"video_bank_percent": 101},
        {"retention_days": -1},
        {"reveal_distance": "yes"},
        {"colour": "red"},
    ]
    for raw in bad_updates:
        with pytest.raises(InvalidInput):
            tenants.set_platform_policy(ctx, OP, "photos", tenants.PolicyUpdate.from_mapping(raw))
    assert tenants.list_platforms(ctx, OP)[0].policy == allowed.policy
    with pytest.raises(NotFound):
        tenants.set_platform_policy(ctx, OP, "nope", tenants.PolicyUpdate(thresholds={"pdq": 3}))
    actions = [a.action for a in audit_service.list_audit(ctx, OP)]
    assert actions.count(audit_service.PLATFORM_POLICY_SET) == 2  # failed changes leave no trace


@pytest.mark.parametrize(
    "actor",
    [
        Actor.reporter(),
        Actor(kind="intake", key_id="key_x", partner_id=1),
        Actor(kind="platform", key_id="key_y", platform_id=1, scopes=frozenset({"check"})),
    ],
)
def test_only_operator_or_admin(ctx: ServiceContext, actor: Actor) -> None:
    calls = [
        lambda: tenants.add_organisation(ctx, actor, "X"),
        lambda: tenants.list_organisations(ctx, actor),
        lambda: tenants.list_platforms(ctx, actor),
        lambda: keys.create_api_key(ctx, actor, role="admin"),
        lambda: keys.list_api_keys(ctx, actor),
        lambda: moderation.list_quarantine(ctx, actor),
        lambda: moderation.add_to_allowlist(ctx, actor, [Signal("md5", "a" * 32)]),
        lambda: audit_service.list_audit(ctx, actor),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call()


def test_api_keys_shown_once_stored_as_hashes(ctx: ServiceContext) -> None:
    _setup(ctx)
    created = keys.create_api_key(ctx, OP, role="platform", platform="photos")
    assert created.info.scopes == ("check", "feed", "verdict")  # default: all three
    body = mapping.created_key(created).model_dump()
    assert body["id"] == created.info.key_id and body["key"] == created.key
    assert body["role"] == "platform" and body["platform"] == "photos"
    key_id, secret = parse_api_key(created.key) or ("", "")
    assert key_id == created.info.key_id
    assert secret not in repr(created)

    some = keys.create_api_key(
        ctx, OP, role="platform", platform="photos", scopes=["feed", "check", "feed"]
    )
    assert some.info.scopes == ("check", "feed")
    intake = keys.create_api_key(ctx, OP, role="intake", partner="Helpline", label=" desk ")
    assert intake.info.partner == "Helpline" and intake.info.label == "desk"
    admin = keys.create_api_key(ctx, OP, role="admin")
    assert admin.info.scopes == () and admin.info.platform is None

    # Nothing stored or listed holds a secret.
    secrets = [parse_api_key(k.key)[1] for k in (created, some, intake, admin)]  # type: ignore[index]
    with ctx.store.read() as repo:
        rows = [dict(r._mapping) for r in repo.conn.execute(select(api_keys))]
    stored = json.dumps(rows, default=str)
    listed = json.dumps(
        [mapping.api_key(k).model_dump(mode="json") for k in keys.list_api_keys(ctx, OP)]
    )
    for s in secrets:
        assert s not in stored and s not in listed
    assert rows[0]["secret_hash"] == hash_api_secret(secret)
    assert "secret_hash" not in listed and '"key"' not in listed
    assert len(keys.list_api_keys(ctx, OP)) == 4

    for bad in [
        {"role": "root"},
        {"role": "platform"},
        {"role": "platform", "platform": "photos", "partner": "Helpline"},
        {"role": "platform", "platform": "photos", "scopes": []},
        {"role": "platform", "platform": "photos", "scopes": ["delete"]},
        {"role": "intake"},
        {"role": "intake", "partner": "Helpline", "scopes": ["check"]},
        {"role": "admin", "platform": "photos"},
        {"role": "admin", "label": "x" * 201},
    ]:
        with pytest.raises(InvalidInput):
            keys.create_api_key(ctx, OP, **bad)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        keys.create_api_key(ctx, OP, role="platform", platform="nope")
    with pytest.raises(NotFound):
        keys.create_api_key(ctx, OP, role="intake", partner="nope")
    assert len(keys.list_api_keys(ctx, OP)) == 4


def test_authenticate_and_revoke(ctx: ServiceContext) -> None:
    _setup(ctx)
    platform_key = keys.create_api_key(ctx, OP, role="platform", platform="photos", scopes=["feed"])
    intake_key = keys.create_api_key(ctx, OP, role="intake", partner="Helpline")
    admin_key = keys.create_api_key(ctx, OP, role="admin")

    actor = auth.authenticate(ctx, platform_key.key)
    assert actor.kind == "platform" and actor.key_id == platform_key.info.key_id
    assert actor.scopes == frozenset({"feed"})
    with ctx.store.read() as repo:
        photos = repo.get_platform("photos")
        helpline = repo.get_partner("Helpline")
    assert photos is not None and helpline is not None
    assert actor.platform_id == photos.id and actor.partner_id is None
    intake = auth.authenticate(ctx, f"  {intake_key.key}\n")
    assert intake.kind == "intake" and intake.partner_id == helpline.id

    key_id, secret = parse_api_key(platform_key.key) or ("", "")
    messages = set()
    for presented in [
        f"{key_id}.{secret}x",  # wrong secret
        f"key_unknown.{secret}",  # unknown id
        key_id,  # malformed
        "",
        ".",
        "x" * 10_000,
        f"{intake_key.info.key_id}.{secret}",  # another key's id
    ]:
        with pytest.raises(InvalidKey) as info:
            auth.authenticate(ctx, presented)
        assert info.value.code == "invalid_key" and info.value.status == 401
        messages.add(info.value.message)

    # An admin key acts as the operator; the audit names its key.
    admin = auth.authenticate(ctx, admin_key.key)
    revoked = keys.revoke_api_key(ctx, admin, platform_key.info.key_id)
    assert revoked.revoked and revoked.platform == "photos"
    again = keys.revoke_api_key(ctx, OP, platform_key.key)  # full key string accepted; idempotent
    assert again.revoked_at == revoked.revoked_at
    with pytest.raises(InvalidKey) as info:
        auth.authenticate(ctx, platform_key.key)
    messages.add(info.value.message)
    assert len(messages) == 1  # unknown, wrong, malformed and revoked: one answer
    with pytest.raises(NotFound):
        keys.revoke_api_key(ctx, OP, "key_nope")

    revocations = audit_service.list_audit(ctx, OP, action=audit_service.API_KEY_REVOKED)
    assert [(a.actor_key_id, a.target) for a in revocations] == [
        (admin_key.info.key_id, platform_key.info.key_id)
    ]
    assert [k.key_id for k in keys.list_api_keys(ctx, OP, include_revoked=False)] == [
        intake_key.info.key_id,
        admin_key.info.key_id,
    ]


def test_quarantine_list_reinstate_delete(ctx: ServiceContext) -> None:
    _setup(ctx)
    rng = random.Random(4)
    a = enrol(ctx.store, rng=rng)
    b = enrol(ctx.store, rng=rng)
    c = enrol(ctx.store, rng=rng)
    assert moderation.list_quarantine(ctx, OP) == []
    for banked in (a, b):
        assert quarantine(ctx.store, banked.item_ref)
    with ctx.store.write() as repo:
        item = repo.get_item(a.item_ref)
        org = repo.get_organisation("Example Social")
        photos = repo.get_platform("photos")
        assert item is not None and org is not None and photos is not None
        repo.add_verdict(
            item_id=item.id,
            platform_id=photos.id,
            organisation_id=org.id,
            verdict="not_ncii",
            upload_pdq=PDQ_A,
        )
        repo.add_exemption(platform_id=photos.id, item_id=item.id, upload_pdq=PDQ_A)
    queue = moderation.list_quarantine(ctx, OP)
    assert [q.item_ref for q in queue] == [a.item_ref, b.item_ref]
    assert queue[0].not_ncii_verdicts == 1 and queue[0].not_ncii_organisations == 1
    shown = mapping.quarantined_item(queue[0]).model_dump()
    assert shown["item"] == a.item_ref and "signals" not in shown
    assert [q.item_ref for q in moderation.list_quarantine(ctx, OP, after=a.item_ref)] == [
        b.item_ref
    ]
    assert [q.item_ref for q in moderation.list_quarantine(ctx, OP, limit=1)] == [a.item_ref]

    admin = auth.authenticate(ctx, keys.create_api_key(ctx, OP, role="admin").key)
    back = moderation.reinstate_item(ctx, admin, b.item_ref)
    assert (back.previous_state, back.state) == ("quarantined", "active")
    with ctx.store.read() as repo:
        events = repo.read_events()
        reinstated = repo.get_item(b.item_ref)
    assert reinstated is not None and reinstated.state == "active"
    assert events[-1].seq == back.event_seq and events[-1].type == "item_reinstated"
    assert events[-1].item_ref == b.item_ref
    with pytest.raises(InvalidState):
        moderation.reinstate_item(ctx, OP, b.item_ref)  # already active
    with pytest.raises(NotFound):
        moderation.reinstate_item(ctx, OP, "itm_nope")

    gone = moderation.delete_item(ctx, OP, a.item_ref)
    assert (gone.previous_state, gone.state) == ("quarantined", "deleted")
    deleted_c = moderation.delete_item(ctx, OP, c.item_ref)  # an active item can be deleted too
    assert deleted_c.previous_state == "active"
    with ctx.store.read() as repo:
        item_a = repo.get_item(a.item_ref)
        assert item_a is not None and item_a.state == "deleted"
        assert repo.list_signals(item_a.id) == []
        assert repo.list_exemptions(photos.id, [item_a.id]) == []
        assert repo.list_verdicts(item_a.id)[0].upload_pdq is None
        events = repo.read_events()
    dump = json.dumps([e.payload for e in events])
    for banked in (a, c):
        for signal in banked.signals:
            assert signal.value not in dump  # erased from earlier events too
    for signal in b.signals:
        assert signal.value in dump  # the reinstated item keeps its values
    assert [e.type for e in events if e.item_ref == a.item_ref][-1] == "item_deleted"
    with pytest.raises(InvalidState):
        moderation.delete_item(ctx, OP, a.item_ref)
    assert moderation.list_quarantine(ctx, OP) == []

    audit = audit_service.list_audit(ctx, OP)
    assert [(e.action, e.target, e.actor_key_id) for e in audit[:3]] == [
        (audit_service.ITEM_DELETED_ACTION, c.item_ref, None),
        (audit_service.ITEM_DELETED_ACTION, a.item_ref, None),
        (audit_service.ITEM_REINSTATED_ACTION, b.item_ref, admin.key_id),
    ]


def test_allowlist(ctx: ServiceContext) -> None:
    md5 = "0123456789ABCDEF0123456789ABCDEF"
    entries = moderation.add_to_allowlist(
        ctx,
        OP,
        [{"type": "md5", "value": md5}, Signal("pdq", PDQ_A, 100)],
        note="stock photo",
    )
    assert [(e.type, e.value, e.added) for e in entries] == [
        ("md5", md5.lower(), True),
        ("pdq", PDQ_A, True),
    ]
    again = moderation.add_to_allowlist(ctx, OP, [{"type": "md5", "value": md5}])
    assert again[0].id == entries[0].id and again[0].added is False
    for bad in [
        [{"type": "md5", "value": "zz"}],
        [{"type": "pdq", "value": "0" * 64}],  # no real image has no bits set
        [{"type": "colour", "value": "ff"}],
        [{"type": "sha256", "value": "a" * 64}, {"type": "md5", "value": "short"}],
    ]:
        with pytest.raises(InvalidHash):
            moderation.add_to_allowlist(ctx, OP, bad)
    with pytest.raises(InvalidInput):
        moderation.add_to_allowlist(ctx, OP, [])
    listed = moderation.list_allowlist(ctx, OP)
    assert [e.type for e in listed] == ["md5", "pdq"]  # nothing of the failed calls
    assert [e.type for e in moderation.list_allowlist(ctx, OP, signal_type="pdq")] == ["pdq"]
    assert moderation.list_allowlist(ctx, OP, after_id=listed[0].id) == listed[1:]
    moderation.remove_from_allowlist(ctx, OP, listed[0].id)
    with pytest.raises(NotFound):
        moderation.remove_from_allowlist(ctx, OP, listed[0].id)
    assert [e.type for e in moderation.list_allowlist(ctx, OP)] == ["pdq"]
    actions = [e.action for e in audit_service.list_audit(ctx, OP)]
    assert actions == [
        audit_service.ALLOWLIST_REMOVED,
        audit_service.ALLOWLIST_ADDED,
        audit_service.ALLOWLIST_ADDED,
    ]


def test_audit_listing_filters_and_pages(ctx: ServiceContext) -> None:
    _setup(ctx)
    admin = auth.authenticate(ctx, keys.create_api_key(ctx, OP, role="admin").key)
    tenants.add_partner(ctx, admin, "Hotline")
    everything = audit_service.list_audit(ctx, OP)
    assert [e.action for e in everything] == [
        audit_service.PARTNER_ADDED,
        audit_service.API_KEY_CREATED,
        audit_service.PARTNER_ADDED,
        audit_service.PLATFORM_ADDED,
        audit_service.ORGANISATION_ADDED,
    ]
    assert everything[0].actor_key_id == admin.key_id
    assert all(e.actor_key_id is None for e in everything[1:])
    assert [
        e.target for e in audit_service.list_audit(ctx, OP, action=audit_service.PARTNER_ADDED)
    ] == [
        "Hotline",
        "Helpline",
    ]
    assert [e.target for e in audit_service.list_audit(ctx, OP, actor_key_id=admin.key_id)] == [
        "Hotline"
    ]
    assert audit_service.list_audit(ctx, OP, limit=2, before_id=everything[1].id) == everything[2:4]
    body = mapping.audit_record(everything[0]).model_dump()
    assert body["actor"] == f"admin:{admin.key_id}" and body["action"] == "partner_added"
    assert body["actor_key_id"] == admin.key_id
    assert all(e.actor == "operator" for e in everything[1:])
    with pytest.raises(InvalidInput):
        audit_service.list_audit(ctx, OP, limit=0)
