"""The repository contract: every method, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from hashwall.domain import PlatformPolicy
from hashwall.errors import AlreadyExists, InvalidInput, NotFound
from hashwall.hashing.signals import Signal
from hashwall.store.ids import CASE_NUMBER_PATTERN
from hashwall.store.repo import Repository, Store
from hashwall.store.repositories.signals import SignalBlock, SignalRecord, UnevenValues

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_B = "d8f8f0cec0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b23"
SHA_A = "a" * 64
MD5_A = "b" * 32


class Clock:
    """A settable clock for the repository."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _case_with_item(repo: Repository, *, trust: str = "vouched") -> tuple[int, int]:
    case = repo.create_case(pin_hash="argon2-hash", channel="anonymous")
    item = repo.add_item(case.id, kind="image", trust=trust)  # type: ignore[arg-type]
    return case.id, item.id


def test_organisations_platforms_and_policies(repo: Repository) -> None:
    org = repo.add_organisation("Example Social")
    assert repo.get_organisation("Example Social") == org
    assert repo.get_organisation_by_id(org.id) == org
    assert repo.get_organisation("nobody") is None
    with pytest.raises(AlreadyExists):
        repo.add_organisation("Example Social")
    other = repo.add_organisation("Another Co")
    assert [o.name for o in repo.list_organisations()] == ["Another Co", "Example Social"]

    feed = repo.add_platform(org.id, "feed")
    assert feed.policy == PlatformPolicy()
    assert feed.policy.thresholds == {} and feed.policy.unvouched_answer == "review"
    strict = PlatformPolicy(thresholds={"pdq": 20}, reveal_distance=True, retention_days=7)
    chat = repo.add_platform(org.id, "chat", strict)
    repo.add_platform(other.id, "photos")
    assert repo.get_platform("chat") == chat and chat.policy == strict
    assert repo.get_platform_by_id(feed.id) == feed
    assert repo.get_platform("nope") is None
    assert [p.name for p in repo.list_platforms()] == ["chat", "feed", "photos"]
    assert [p.name for p in repo.list_platforms(org.id)] == ["chat", "feed"]
    with pytest.raises(AlreadyExists):
        repo.add_platform(other.id, "feed")
    with pytest.raises(NotFound):
        repo.add_platform(999_999, "orphan")

    loose = PlatformPolicy(thresholds={"pdq": 10}, unvouched_answer="allow", video_bank_percent=80)
    updated = repo.set_platform_policy(feed.id, loose)
    assert updated.policy == loose and repo.get_platform("feed") == updated
    with pytest.raises(NotFound):
        repo.set_platform_policy(999_999, loose)


@pytest.mark.parametrize(
    "bad",
    [
        {"thresholds": {"pdq": -1}},
        {"thresholds": {"pdq": True}},
        {"thresholds": {"pdq": 257}},
        {"thresholds": {1: 3}},
        {"unvouched_answer": "block"},
        {"video_upload_percent": 0},
        {"video_bank_percent": 101},
        {"retention_days": -1},
    ],
)
def test_policy_refuses_values_outside_the_rules(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        PlatformPolicy(**bad)  # type: ignore[arg-type]


def test_partners(repo: Repository) -> None:
    helpline = repo.add_partner("Revenge Porn Helpline")
    assert repo.get_partner("Revenge Porn Helpline") == helpline
    assert repo.get_partner_by_id(helpline.id) == helpline
    assert repo.get_partner("unknown") is None
    with pytest.raises(AlreadyExists):
        repo.add_partner("Revenge Porn Helpline")
    repo.add_partner("Another Hotline")
    assert [p.name for p in repo.list_partners()] == ["Another Hotline", "Revenge Porn Helpline"]


def test_api_key_lifecycle(store: Store) -> None:
    clock = Clock()
    store.clock = clock
    with store.write() as repo:
        org = repo.add_organisation("Org")
        platform = repo.add_platform(org.id, "feed")
        partner = repo.add_partner("Helpline")
        admin = repo.add_api_key(role="admin", secret_hash="sha256$x", label="first admin")
        intake = repo.add_api_key(role="intake", secret_hash="sha256$y", partner_id=partner.id)
        checker = repo.add_api_key(
            role="platform",
            secret_hash="sha256$z",
            platform_id=platform.id,
            scopes=["verdict", "check", "check"],
        )
        assert checker.scopes == ("check", "verdict")
        assert admin.scopes == () and admin.label == "first admin" and not admin.revoked
        assert intake.partner_id == partner.id and intake.platform_id is None
        assert repo.get_api_key(checker.key_id) == checker
        assert repo.get_api_key("key_missing") is None

        clock.now += timedelta(hours=1)
        revoked = repo.revoke_api_key(intake.key_id)
        assert revoked.revoked and revoked.revoked_at == clock.now
        clock.now += timedelta(hours=1)
        assert repo.revoke_api_key(intake.key_id).revoked_at == revoked.revoked_at  # idempotent
        with pytest.raises(NotFound):
            repo.revoke_api_key("key_missing")
        assert [k.key_id for k in repo.list_api_keys()] == [
            admin.key_id,
            intake.key_id,
            checker.key_id,
        ]
        assert intake.key_id not in {k.key_id for k in repo.list_api_keys(include_revoked=False)}

        for wrong in (
            {"role": "admin", "platform_id": platform.id},
            {"role": "intake"},
            {"role": "intake", "partner_id": partner.id, "platform_id": platform.id},
            {"role": "platform", "scopes": ["check"]},
            {"role": "platform", "platform_id": platform.id},  # no scope
            {"role": "platform", "platform_id": platform.id, "scopes": ["delete"]},
            {"role": "admin", "scopes": ["check"]},
            {"role": "root"},
        ):
            with pytest.raises(InvalidInput):
                repo.add_api_key(secret_hash="sha256$w", **wrong)  # type: ignore[arg-type]


def test_cases(store: Store) -> None:
    clock = Clock()
    store.clock = clock
    with store.write() as repo:
        partner = repo.add_partner("Helpline")
        anon = repo.create_case(pin_hash="hash-1", channel="anonymous")
        filed = repo.create_case(pin_hash="hash-2", channel="partner", partner_id=partner.id)
        assert CASE_NUMBER_PATTERN.fullmatch(anon.case_number)
        assert anon.status == "active" and anon.created_at == clock.now
        assert anon.partner_id is None and filed.partner_id == partner.id
        assert repo.get_case(anon.case_number) == anon
        typed = anon.case_number.lower().replace("-", " ").replace("0", "o")
        assert repo.get_case(typed) == anon  # as a person might type it
        assert repo.get_case("HW-0000-0000-0000") is None
        assert repo.get_case("not a case number") is None
        assert repo.get_case_by_id(filed.id) == filed
        with pytest.raises(InvalidInput):
            repo.create_case(pin_hash="h", channel="partner")
        with pytest.raises(InvalidInput):
            repo.create_case(pin_hash="h", channel="anonymous", partner_id=partner.id)

        assert repo.set_case_pin(anon.id, "hash-3").pin_hash == "hash-3"
        clock.now += timedelta(days=1)
        withdrawn = repo.set_case_status(anon.id, "withdrawn")
        assert withdrawn.status == "withdrawn" and withdrawn.withdrawn_at == clock.now
        with pytest.raises(NotFound):
            repo.set_case_status(999_999, "withdrawn")
        assert [c.id for c in repo.list_cases()] == [anon.id, filed.id]
        assert [c.id for c in repo.list_cases(partner_id=partner.id)] == [filed.id]
        assert [c.id for c in repo.list_cases(status="active")] == [filed.id]


def test_items(store: Store) -> None:
    clock = Clock()
    store.clock = clock
    with store.write() as repo:
        case = repo.create_case(pin_hash="h", channel="anonymous")
        photo = repo.add_item(case.id, kind="image", trust="unvouched")
        video = repo.add_item(case.id, kind="video", trust="vouched")
        assert photo.state == "active" and photo.live and not photo.csam
        assert photo.state_changed_at is None
        assert repo.get_item(photo.item_ref) == photo
        assert repo.get_item(photo.item_ref, for_update=True) == photo
        assert repo.get_item_by_id(video.id, for_update=True) == video
        assert repo.get_item("itm_missing") is None
        assert repo.list_items(case.id) == [photo, video]
        assert repo.get_items_by_ids([photo.id, video.id, 999_999]) == {
            photo.id: photo,
            video.id: video,
        }
        assert repo.get_items_by_ids([]) == {}

        clock.now += timedelta(minutes=5)
        quarantined = repo.set_item_state(photo.id, "quarantined")
        assert quarantined.state == "quarantined" and quarantined.live
        assert quarantined.state_changed_at == clock.now
        assert repo.list_items_by_state("quarantined") == [quarantined]
        assert repo.list_items_by_state("quarantined", after_id=photo.id) == []
        assert repo.set_item_trust(photo.id, "confirmed").trust == "confirmed"
        assert repo.set_item_csam(photo.id).csam is True
        assert repo.set_item_csam(photo.id, False).csam is False
        assert not repo.set_item_state(video.id, "withdrawn").live
        with pytest.raises(NotFound):
            repo.set_item_state(999_999, "deleted")
        for wrong in ({"kind": "audio", "trust": "vouched"}, {"kind": "image", "trust": "yes"}):
            with pytest.raises(InvalidInput):
                repo.add_item(case.id, **wrong)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            repo.set_item_state(photo.id, "gone")  # type: ignore[arg-type]


def test_signals_of_any_type_are_stored_searched_streamed_and_deleted(repo: Repository) -> None:
    _, item_id = _case_with_item(repo)
    _, other_id = _case_with_item(repo)
    stored = repo.add_signals(
        item_id,
        [
            Signal(type="pdq", value=PDQ_A, quality=90),
            Signal(type="sha256", value=SHA_A),
            SignalRecord(type="md5", value=MD5_A),
            # A type the store has never heard of: no schema change needed.
            SignalRecord(
                type="vpdq_frame", value=PDQ_B, quality=70, frame_number=3, frame_timestamp=0.1
            ),
        ],
    )
    assert [s.type for s in stored] == ["pdq", "sha256", "md5", "vpdq_frame"]
    assert repo.list_signals(item_id) == stored
    assert stored[3].to_record().to_dict() == {
        "type": "vpdq_frame",
        "value": PDQ_B,
        "quality": 70,
        "frame_number": 3,
        "frame_timestamp": 0.1,
    }
    assert repo.add_signals(item_id, []) == []
    repo.add_signals(other_id, [Signal(type="pdq", value=PDQ_B, quality=60)])

    assert [i.id for i in repo.find_items_by_signal("sha256", [SHA_A, "c" * 64])] == [item_id]
    assert repo.find_items_by_signal("md5", [SHA_A]) == []
    assert repo.find_items_by_signal("sha256", []) == []

    chunks = list(repo.iter_live_signals("pdq", chunk_size=1))
    assert [len(c) for c in chunks] == [1, 1]
    assert [(c.item_ids, c.values, c.qualities) for c in chunks] == [
        ([item_id], [PDQ_A], [90]),
        ([other_id], [PDQ_B], [60]),
    ]
    frames = list(repo.iter_live_signals("vpdq_frame"))
    assert frames[0].frame_numbers == [3]

    repo.set_item_state(other_id, "withdrawn")
    assert [c.item_ids for c in repo.iter_live_signals("pdq")] == [[item_id]]
    assert repo.find_items_by_signal("pdq", [PDQ_B]) == []
    assert len(repo.find_items_by_signal("pdq", [PDQ_B], states=["withdrawn"])) == 1

    assert repo.delete_item_signals(item_id) == 4
    assert repo.list_signals(item_id) == []
    assert list(repo.iter_live_signals("sha256")) == []


def _rows_of(repo: Repository, signal_type: str) -> set[tuple[int, int, str]]:
    """``(item id, frame number or -1, value)`` of the live signals, row by row."""
    return {
        (item_id, -1 if frame is None else frame, value)
        for chunk in repo.iter_live_signals(signal_type)
        for item_id, frame, value in zip(
            chunk.item_ids, chunk.frame_numbers, chunk.values, strict=True
        )
    }


def test_live_signal_blocks_hold_the_live_rows_of_a_type_in_ranges(repo: Repository) -> None:
    """The fast read of an index build gives the same rows as the row-by-row read, whatever
    the ranges: live items only, frames when asked for, nothing for a type nobody holds."""
    held: list[int] = []
    for n in range(7):
        _, item_id = _case_with_item(repo)
        held.append(item_id)
        repo.add_signals(
            item_id,
            [
                Signal(type="pdq", value=f"{n:02x}" * 32, quality=90),
                Signal(type="sha256", value=f"{n + 16:02x}" * 32),
            ],
        )
    repo.add_signals(held[0], [SignalRecord("vpdq_frame", PDQ_A, 80, 4, 0.13)])
    repo.add_signals(held[0], [SignalRecord("vpdq_frame", PDQ_B, 80, 9, 0.3)])
    repo.set_item_state(held[3], "withdrawn")  # its rows are there, the item is not live

    for span in (1, 3, 1000):
        blocks = list(repo.live_signal_blocks("pdq", 64, span=span))
        got = {
            (item_id, frame, block.value_list()[k])
            for block in blocks
            for k, (item_id, frame) in enumerate(
                zip(block.item_ids.tolist(), block.frame_numbers.tolist(), strict=True)
            )
        }
        assert got == _rows_of(repo, "pdq") and len(got) == 6
        assert held[3] not in {row[0] for row in got}
        assert all(len(block) and len(block.values) == 64 * len(block) for block in blocks)
    frames = list(repo.live_signal_blocks("vpdq_frame", 64, frames=True))
    pairs = zip(frames[0].item_ids.tolist(), frames[0].frame_numbers.tolist(), strict=True)
    assert sorted(pairs) == [
        (held[0], 4),
        (held[0], 9),
    ]
    sha = [block.value_list() for block in repo.live_signal_blocks("sha256", 64, span=2)]
    assert sorted(v for values in sha for v in values) == sorted(
        r[2] for r in _rows_of(repo, "sha256")
    )
    assert list(repo.live_signal_blocks("md5", 32)) == []

    repo.add_signals(held[1], [Signal(type="md5", value="short")])
    with pytest.raises(UnevenValues):
        list(repo.live_signal_blocks("md5", 32))


def test_matches_verdicts_exemptions_and_retention(store: Store) -> None:
    clock = Clock()
    store.clock = clock
    with store.write() as repo:
        org = repo.add_organisation("Org")
        platform = repo.add_platform(org.id, "feed")
        _, item_id = _case_with_item(repo)
        first = repo.add_match(
            check_id="chk_1",
            platform_id=platform.id,
            item_id=item_id,
            decision="block",
            signal_type="pdq",
            distance=4,
            orientation="rotate90",
        )
        clock.now += timedelta(days=10)
        second = repo.add_match(
            check_id="chk_2", platform_id=platform.id, item_id=item_id, decision="review"
        )
        assert repo.get_match(first.match_ref) == first and first.distance == 4
        assert repo.get_match("mch_missing") is None
        assert repo.list_matches(platform_id=platform.id) == [first, second]
        assert repo.list_matches(check_id="chk_2") == [second]
        assert repo.list_matches(item_id=item_id, limit=1) == [first]
        with pytest.raises(InvalidInput):
            repo.add_match(check_id="c", platform_id=platform.id, item_id=item_id, decision="allow")  # type: ignore[arg-type]

        verdict = repo.add_verdict(
            item_id=item_id,
            platform_id=platform.id,
            organisation_id=org.id,
            verdict="not_ncii",
            match_id=first.id,
            upload_pdq=PDQ_A,
        )
        repo.add_verdict(
            item_id=item_id, platform_id=platform.id, organisation_id=org.id, verdict="csam"
        )
        assert [v.verdict for v in repo.list_verdicts(item_id)] == ["not_ncii", "csam"]
        assert repo.list_verdicts(item_id, verdict="not_ncii") == [verdict]
        with pytest.raises(InvalidInput):
            repo.add_verdict(
                item_id=item_id, platform_id=platform.id, organisation_id=org.id, verdict="meh"
            )  # type: ignore[arg-type]

        exemption = repo.add_exemption(
            platform_id=platform.id, item_id=item_id, upload_pdq=PDQ_A, verdict_id=verdict.id
        )
        assert repo.list_exemptions(platform.id, [item_id]) == [exemption]
        assert repo.list_exemptions(platform.id, []) == []
        with pytest.raises(InvalidInput):
            repo.add_exemption(platform_id=platform.id, item_id=item_id)

        # Retention: matches older than the cutoff go; the verdict stays, detached.
        assert repo.delete_matches_before(platform.id, clock.now - timedelta(days=5)) == 1
        assert repo.list_matches(platform_id=platform.id) == [second]
        kept = repo.list_verdicts(item_id, verdict="not_ncii")
        assert len(kept) == 1 and kept[0].match_id is None


def test_allowlist(repo: Repository) -> None:
    entry = repo.add_to_allowlist(Signal(type="pdq", value=PDQ_A, quality=95), note="stock photo")
    assert repo.add_to_allowlist(SignalRecord("pdq", PDQ_A, 95)) == entry  # idempotent
    md5 = repo.add_to_allowlist(SignalRecord("md5", MD5_A))
    assert repo.list_allowlist() == [entry, md5]
    assert repo.list_allowlist(signal_type="md5") == [md5]
    assert repo.list_allowlist(after_id=entry.id) == [md5]
    assert repo.find_allowlisted("pdq", [PDQ_A, PDQ_B]) == {PDQ_A}
    assert repo.find_allowlisted("pdq", []) == set()
    repo.remove_from_allowlist(entry.id)
    assert repo.list_allowlist() == [md5]
    with pytest.raises(NotFound):
        repo.remove_from_allowlist(entry.id)


def test_audit_log_newest_first(repo: Repository) -> None:
    first = repo.add_audit("key.create", target="key_abc", details={"role": "admin"})
    second = repo.add_audit("feed.read", actor_key_id="key_abc", details={"cursor": 10})
    third = repo.add_audit("item.quarantine", actor_key_id="key_def", target="itm_x")
    assert first.actor_key_id is None and first.details == {"role": "admin"}
    assert third.details == {}
    assert repo.list_audit() == [third, second, first]
    assert repo.list_audit(limit=1) == [third]
    assert repo.list_audit(before_id=third.id) == [second, first]
    assert repo.list_audit(actor_key_id="key_abc") == [second]
    assert repo.list_audit(action="key.create") == [first]


def test_times_are_timezone_aware_utc_on_both_back_ends(store: Store) -> None:
    clock = Clock()
    clock.now = datetime(2026, 3, 1, 9, 30, tzinfo=UTC) + timedelta(microseconds=123)
    store.clock = clock
    with store.write() as repo:
        org_id = repo.add_organisation("Org").id
    with store.read() as repo:
        org = repo.get_organisation_by_id(org_id)
    assert org is not None and org.created_at == clock.now and org.created_at.tzinfo == UTC


def test_write_rolls_back_on_error_and_read_sees_committed_state(store: Store) -> None:
    with pytest.raises(RuntimeError), store.write() as repo:
        repo.add_organisation("Ghost")
        raise RuntimeError("boom")
    with store.write() as repo:
        repo.add_organisation("Kept")
    with store.read() as repo:
        assert [o.name for o in repo.list_organisations()] == ["Kept"]


def test_public_ids_are_random_and_not_row_ids(repo: Repository) -> None:
    org = repo.add_organisation("Org")
    platform = repo.add_platform(org.id, "feed")
    case_numbers, item_refs, match_refs, key_ids = [], [], [], []
    for _ in range(20):
        case = repo.create_case(pin_hash="h", channel="anonymous")
        item = repo.add_item(case.id, kind="image", trust="vouched")
        match = repo.add_match(
            check_id="chk", platform_id=platform.id, item_id=item.id, decision="block"
        )
        key = repo.add_api_key(role="admin", secret_hash="sha256$x")
        case_numbers.append(case.case_number)
        item_refs.append(item.item_ref)
        match_refs.append(match.match_ref)
        key_ids.append(key.key_id)
        for public, row_id in (
            (case.case_number, case.id),
            (item.item_ref, item.id),
            (match.match_ref, match.id),
            (key.key_id, key.id),
        ):
            assert public != str(row_id) and str(row_id) != public.rsplit("-", 1)[-1]
    for ids in (case_numbers, item_refs, match_refs, key_ids):
        assert len(set(ids)) == len(ids)
        assert ids != sorted(ids)  # not handed out in order (20! orderings: never sorted)
    assert all(re.fullmatch(r"itm_[A-Za-z0-9_-]{22}", r) for r in item_refs)
    assert all(re.fullmatch(r"mch_[A-Za-z0-9_-]{22}", r) for r in match_refs)
    assert all(re.fullmatch(r"key_[A-Za-z0-9_-]{16}", k) for k in key_ids)


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), Store(engine).write() as repo:
        repo.add_item(999_999, kind="image", trust="vouched")


def test_shared_reads_see_one_snapshot_and_split_a_block_read(store: Store) -> None:
    """``read_shared`` gives transactions of one snapshot (PostgreSQL; one on SQLite): a row
    written after it began is in none of them, and a block read split between them gives what
    one reader gives, in the same order."""
    from hashwall.service.search import read_blocks

    with store.write() as repo:
        for n in range(9):
            _, item_id = _case_with_item(repo)
            repo.add_signals(item_id, [Signal(type="pdq", value=f"{n:02x}" * 32, quality=90)])
    with store.read_shared(3) as repos:
        assert len(repos) == (3 if store.engine.dialect.name == "postgresql" else 1)
        repos[0].last_event_seq()  # SQLite's snapshot starts at the first read
        with store.write() as writer:  # after the snapshot: seen by none of them
            _, late = _case_with_item(writer)
            writer.add_signals(late, [Signal(type="pdq", value="ee" * 32, quality=90)])
        counts = {len(_rows_of(repo, "pdq")) for repo in repos}
        assert counts == {9}
        ranges = repos[0].signal_id_ranges(span=2)
        assert len(ranges) >= 5

        def values(block: SignalBlock) -> list[str]:
            return block.value_list()

        alone = [values(b) for b in repos[0].live_signal_blocks("pdq", 64, ranges=ranges)]
        split = read_blocks(repos, "pdq", 64, values)
        assert split == read_blocks(repos[:1], "pdq", 64, values)
        assert (
            sorted(v for part in split for v in part) == sorted(v for part in alone for v in part)
            and len(split) >= 1
        )
    with store.read() as repo:
        assert len(_rows_of(repo, "pdq")) == 10
