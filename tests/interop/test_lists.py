"""Hash lists in and out (``service/lists.py``): export the live bank, import a list as one
case of an intake partner, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import numpy as np
import pytest

from conftest import random_pdq
from hashwall.domain import Actor
from hashwall.hashing.signals import Signal
from hashwall.service.context import ServiceContext
from hashwall.service.intake import ItemSubmission, create_case
from hashwall.service.list_formats import ListLine, read_list, write_list
from hashwall.service.lists import export_bank, import_list
from hashwall.service.withdraw import withdraw_item

OPERATOR = Actor.operator()


def partner_actor(ctx: ServiceContext) -> Actor:
    with ctx.store.read() as repo:
        partner = repo.get_partner("Helpline")
    assert partner is not None
    return Actor(kind="intake", key_id="key_test", partner_id=partner.id)


def submission(pdq: str, md5: str | None = None) -> ItemSubmission:
    signals = [Signal("pdq", pdq, 90)] + ([Signal("md5", md5)] if md5 else [])
    return ItemSubmission(tuple(signals))


def exported(ctx: ServiceContext) -> list[tuple[str, str, str | None]]:
    return sorted((line.signal_type, line.value, line.trust) for line in export_bank(ctx, OPERATOR))


def parsed(text: str, fmt: str = "csv") -> list[ListLine]:
    lines = list(read_list(io.StringIO(text), fmt))  # type: ignore[arg-type]
    assert all(isinstance(line, ListLine) for line in lines), lines
    return lines  # type: ignore[return-value]


def test_export_is_the_live_bank_with_trust_and_never_a_withdrawn_item(ctx: ServiceContext) -> None:
    rng = np.random.default_rng(1)
    pdqs = [random_pdq(rng) for _ in range(4)]
    partner = create_case(
        ctx, partner_actor(ctx), [submission(pdqs[0], "a" * 32), submission(pdqs[1])]
    )
    anonymous = create_case(ctx, Actor.reporter(), [submission(pdqs[2]), submission(pdqs[3])])
    with ctx.store.write() as repo:
        quarantined = repo.get_item(anonymous.accepted[1].item_ref)
        assert quarantined is not None
        repo.set_item_state(quarantined.id, "quarantined")
    withdraw_item(ctx, partner_actor(ctx), partner.case_number, partner.accepted[1].item_ref)

    assert exported(ctx) == sorted(
        [
            ("pdq", pdqs[0], "vouched"),
            ("md5", "a" * 32, "vouched"),
            ("pdq", pdqs[2], "unvouched"),
            ("pdq", pdqs[3], "quarantined"),
        ]
    )
    out = io.StringIO()
    write_list(export_bank(ctx, OPERATOR), out, "csv")
    header, *rows = out.getvalue().splitlines()
    assert header == "signal_type,value,trust,item_ref"
    assert len(rows) == 4 and pdqs[1] not in out.getvalue()
    refs = {row.split(",")[3] for row in rows}
    assert partner.accepted[0].item_ref in refs and partner.accepted[1].item_ref not in refs


def test_import_banks_a_list_as_one_partner_case_and_a_rerun_banks_nothing_new(
    ctx: ServiceContext,
) -> None:
    rng = np.random.default_rng(2)
    pdqs = [random_pdq(rng) for _ in range(5)]
    text = "signal_type,value,trust,item_ref,quality\n" + "".join(
        f"pdq,{p},vouched,src{i},80\n" for i, p in enumerate(pdqs)
    )
    text += f"md5,{'b' * 32},vouched,src0,\n"  # the same item as the first line
    progress: list[tuple[int, int]] = []
    first = import_list(
        ctx,
        OPERATOR,
        parsed(text),
        partner="Helpline",
        label="list A",
        batch=2,
        on_batch=lambda so_far: progress.append((so_far.lines, so_far.items_banked)),
    )
    assert (first.items_banked, first.signals_banked, first.refused) == (5, 6, [])
    # Progress after each of the 3 batches (2, 2 and 1 items), the last one the final count.
    assert len(progress) == 3 and progress[-1] == (first.lines, 5)
    assert [banked for _, banked in progress] == [2, 4, 5]
    assert first.case_number is not None
    with ctx.store.read() as repo:
        case = repo.get_case(first.case_number)
        assert case is not None and case.channel == "partner"
        items = repo.list_items(case.id)
        assert len(items) == 5 and {i.trust for i in items} == {"vouched"}
        assert sorted(s.type for s in repo.list_signals(items[0].id)) == ["md5", "pdq"]
        audit = [e for e in repo.list_audit(limit=100) if e.action == "list_imported"]
        assert {e.details["label"] for e in audit} == {"list A"} and len(audit) == 3

    again = import_list(ctx, OPERATOR, parsed(text), partner="Helpline", label="list A")
    assert (again.items_banked, again.already_banked, again.case_number) == (0, 5, None)
    assert len(exported(ctx)) == 6


def test_import_refuses_invalid_low_quality_and_allowlisted_values_line_by_line(
    ctx: ServiceContext,
) -> None:
    rng = np.random.default_rng(3)
    good, public, faint = (random_pdq(rng) for _ in range(3))
    with ctx.store.write() as repo:
        repo.add_to_allowlist(Signal("pdq", public, 100), note="a famous photo")
    text = (
        "type,value,trust,quality\n"
        f"pdq,{good},unvouched,90\n"
        f"pdq,{public},vouched,90\n"
        f"pdq,{faint},vouched,20\n"
        "pdq,not-a-hash,vouched,90\n"
        f"sha1,{'c' * 40},vouched,\n"
        "md5,only,two\n"
    )
    report = import_list(ctx, OPERATOR, read_list(io.StringIO(text), "csv"), partner="Helpline",
                         label="mixed")  # fmt: skip
    assert report.items_banked == 1
    assert [(r.line, r.code) for r in report.refused] == [
        (3, "allowlisted"),
        (4, "low_quality"),
        (5, "invalid_hash"),
        (6, "invalid_hash"),
        (7, "invalid_input"),
    ]
    assert exported(ctx) == [("pdq", good, "unvouched")]


def test_an_unknown_partner_is_not_found(ctx: ServiceContext) -> None:
    from hashwall.errors import NotFound

    with pytest.raises(NotFound):
        import_list(ctx, OPERATOR, [], partner="Nobody", label="x")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_exported_bank_imports_into_another_store_as_the_same_list(
    ctx: ServiceContext, other_ctx: ServiceContext, fmt: str
) -> None:
    rng = np.random.default_rng(4)
    pdqs = [random_pdq(rng) for _ in range(6)]
    create_case(
        ctx, partner_actor(ctx), [submission(p, f"{i:032x}") for i, p in enumerate(pdqs[:4])]
    )
    create_case(ctx, Actor.reporter(), [submission(p) for p in pdqs[4:]])
    out = io.StringIO()
    write_list(export_bank(ctx, OPERATOR), out, fmt)  # type: ignore[arg-type]

    report = import_list(other_ctx, OPERATOR, read_list(io.StringIO(out.getvalue()), fmt),  # type: ignore[arg-type]
                         partner="Helpline", label="copy")  # fmt: skip
    assert (report.items_banked, report.signals_banked, report.refused) == (6, 10, [])
    assert exported(other_ctx) == exported(ctx)
    with other_ctx.store.read() as repo:
        item_signals = [len(repo.list_signals(i.id)) for i in repo.list_items(1)]
    assert sorted(item_signals) == [1, 1, 2, 2, 2, 2]  # the lines of an item stay one item
