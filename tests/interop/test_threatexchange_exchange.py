"""The exchange class itself: feed pages as the tooling's updates, trust as opinions, and
verdicts back through ``report_opinion`` against a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tx_support import require_threatexchange

from conftest import random_pdq
from hashwall import Client
from live_server import Served, prepare_store, served_in_thread, wait_indexed

from support import fresh_database_url


def page(items: list[dict[str, Any]], events: list[dict[str, Any]]) -> dict[str, Any]:
    """A feed page's JSON form (``GET /v1/feed``)."""
    return {"platform": "feed", "phase": "events", "snapshot_seq": None, "items": items,
            "events": events, "cursor": "hwf1.x", "more": False, "head_seq": 9}  # fmt: skip


def event(seq: int, event_type: str, ref: str, **fields: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": event_type,
        "item": ref,
        "created_at": "2026-01-01T00:00:00Z",
        **fields,
    }


def test_feed_pages_become_updates_removals_and_opinions() -> None:
    require_threatexchange()
    from threatexchange.exchanges.fetch_state import AggregateSignalOpinionCategory as Agg
    from threatexchange.signal_type.md5 import VideoMD5Signal
    from threatexchange.signal_type.pdq.signal import PdqSignal

    from hashwall.interop.threatexchange import (
        HashwallCollabConfig,
        HashwallSignalExchangeAPI,
        PhotoMD5Signal,
        page_updates,
    )

    rng = np.random.default_rng(8)
    a, b, c, d = (random_pdq(rng) for _ in range(4))
    api = HashwallSignalExchangeAPI
    stored: dict[str, Any] = {}
    first = page(
        [
            {"item": "itm_a", "kind": "image", "trust": "vouched", "state": "active",
             "signals": [{"type": "pdq", "value": a, "quality": 90},
                         {"type": "md5", "value": "a" * 32}]},
            {"item": "itm_b", "kind": "image", "trust": "unvouched", "state": "active",
             "signals": [{"type": "pdq", "value": b, "quality": 90}]},
        ],
        [event(3, "item_added", "itm_c", kind="video", trust="vouched", state="active",
               signals=[{"type": "md5", "value": "c" * 32}, {"type": "pdq", "value": c}]),
         event(4, "trust_changed", "itm_c", trust="confirmed")],
    )  # fmt: skip
    api.naive_fetch_merge(stored, page_updates(first))
    assert stored["itm_c"].trust == "confirmed" and stored["itm_c"].kind == "video"

    second = page(
        [],
        [event(5, "item_quarantined", "itm_b"),
         event(6, "item_withdrawn", "itm_a"),
         event(7, "trust_changed", "itm_gone", trust="vouched"),  # an item never fetched
         event(8, "item_added", "itm_d", kind="image", trust="vouched", state="active",
               signals=[{"type": "pdq", "value": d}]),
         event(9, "item_deleted", "itm_d")],
    )  # fmt: skip
    api.naive_fetch_merge(stored, page_updates(second))
    assert set(stored) == {"itm_b", "itm_c"}
    assert stored["itm_b"].state == "quarantined" and stored["itm_b"].trust == "unvouched"

    collab = HashwallCollabConfig(name="hw", server="http://hashwall.invalid")
    types = [PdqSignal, VideoMD5Signal, PhotoMD5Signal]
    by_type = api.naive_convert_to_signal_type(types, collab, stored)
    assert set(by_type[PdqSignal]) == {b, c}  # a withdrawn, d deleted: gone
    assert set(by_type[VideoMD5Signal]) == {"c" * 32}
    assert PhotoMD5Signal not in by_type  # itm_a's photo md5 left with it
    opinion = by_type[PdqSignal][b].get_as_aggregate_opinion()
    assert opinion.category == Agg.DISPUTED and opinion.tags == {"unvouched", "quarantined"}
    opinion = by_type[PdqSignal][c].get_as_aggregate_opinion()
    assert opinion.category == Agg.POSITIVE_CLASS and opinion.tags == {"confirmed"}


def test_a_local_copy_is_fetched_whole_then_by_its_changes(tmp_path: Path) -> None:
    require_threatexchange()
    from threatexchange.signal_type.pdq.signal import PdqSignal

    from hashwall.interop.threatexchange import HashwallCollabConfig, HashwallSignalExchangeAPI
    from hashwall.service.feed import Cursor
    from hashwall.service.feed_copy import FeedCopy
    from hashwall.service.feed_copy_view import block_of_items

    rng = np.random.default_rng(9)
    a, b, c = (random_pdq(rng) for _ in range(3))
    folder = tmp_path / "copy"
    copy = FeedCopy.open(folder, "http://hashwall.invalid")
    copy.begin_snapshot("feed", {})
    copy.add_block(block_of_items({
        "itm_a": {"kind": "image", "trust": "vouched", "state": "active",
                  "signals": [{"type": "pdq", "value": a, "quality": 90}]},
        "itm_b": {"kind": "image", "trust": "unvouched", "state": "active",
                  "signals": [{"type": "pdq", "value": b, "quality": 90}]},
    }.items()))  # fmt: skip
    copy.finish_snapshot(Cursor("events", 2).encode(), 2)
    api = HashwallSignalExchangeAPI(
        HashwallCollabConfig(name="hw", server="http://hashwall.invalid", copy_dir=str(folder)),
        None,  # type: ignore[arg-type]  # no server is asked
    )
    stored: dict[str, Any] = {}
    deltas = list(api.fetch_iter([PdqSignal], None))
    for delta in deltas:
        api.naive_fetch_merge(stored, delta.updates)
    assert set(stored) == {"itm_a", "itm_b"}
    checkpoint = deltas[-1].checkpoint
    assert not checkpoint.is_stale()

    copy.append_changes([
        {"op": "del", "item": "itm_a"},
        {"op": "set", "item": "itm_b", "trust": "vouched"},
        {"op": "put", "item": "itm_c", "kind": "image", "trust": "vouched", "state": "active",
         "signals": [{"type": "pdq", "value": c, "quality": 90}]},
    ])  # fmt: skip
    copy.save_meta()
    (delta,) = api.fetch_iter([PdqSignal], checkpoint)
    assert delta.updates["itm_a"] is None and delta.updates["itm_b"].signals is None
    api.naive_fetch_merge(stored, delta.updates)
    by_type = api.naive_convert_to_signal_type([PdqSignal], api.collab, stored)
    assert set(by_type[PdqSignal]) == {b, c}
    assert by_type[PdqSignal][b].items == [("itm_b", "vouched", "active")]

    copy.compact()  # a new base: the tooling is told to clear and fetch it whole
    assert delta.checkpoint.is_stale()
    (whole,) = api.fetch_iter([PdqSignal], None)
    assert set(whole.updates) == {"itm_b", "itm_c"}


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    require_threatexchange()
    url = fresh_database_url("sqlite", tmp_path, request)
    with served_in_thread(url, prepare_store(url)) as served:
        yield served


def test_opinions_reported_back_are_verdicts_on_the_platform_s_own_match(server: Served) -> None:
    from threatexchange.exchanges.fetch_state import SignalOpinion, SignalOpinionCategory
    from threatexchange.signal_type.pdq.signal import PdqSignal

    from hashwall.interop.threatexchange import (
        HashwallCollabConfig,
        HashwallCredentials,
        HashwallSignalExchangeAPI,
    )

    rng = np.random.default_rng(9)
    confirmed, false_positive = random_pdq(rng), random_pdq(rng)
    with Client(server.url) as anonymous:
        anonymous.create_case([[{"type": "pdq", "value": v, "quality": 90}]
                               for v in (confirmed, false_positive)])  # fmt: skip
    wait_indexed(server.url, 2)
    collab = HashwallCollabConfig(name="hw", server=server.url)
    api = HashwallSignalExchangeAPI.for_collab(collab, HashwallCredentials(server.keys["feed"]))
    upload = [{"type": "pdq", "value": confirmed, "quality": 90}]
    other = [{"type": "pdq", "value": false_positive, "quality": 90}]
    with Client(server.url, key=server.keys["feed"]) as platform:
        assert platform.check(upload).decision == "review"  # unvouched
        api.report_opinion(
            PdqSignal, confirmed, SignalOpinion(True, SignalOpinionCategory.POSITIVE_CLASS, set())
        )
        assert platform.check(upload).decision == "block"  # confirmed on its own platforms
        api.report_opinion(
            PdqSignal,
            false_positive,
            SignalOpinion(True, SignalOpinionCategory.NEGATIVE_CLASS, set()),
        )
        assert platform.check(other).decision == "allow"  # not_ncii: exempt for this upload
    with pytest.raises(NotImplementedError):
        api.report_opinion(
            PdqSignal,
            confirmed,
            SignalOpinion(True, SignalOpinionCategory.INVESTIGATION_SEED, set()),
        )
