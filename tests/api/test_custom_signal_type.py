"""A signal type is one module plus its registration: a made-up type, defined here and named
nowhere in hashwall's source, is banked, checked, fed and withdrawn through the real API and
store, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import hashwall
from hashwall.hashing.signals import SIGNAL_TYPES, DistanceSignalType, registered

from app_harness import Api, assert_problem, running_api
from support import fresh_database_url


class Tile64Signal(DistanceSignalType):
    """A made-up 64-bit perceptual code: 16 hex digits, Hamming distance, no quality rule."""

    name: ClassVar[str] = "tile64"
    bits = 64
    default_threshold = 6
    max_threshold = 12

    @classmethod
    def get_examples(cls) -> tuple[str, ...]:
        return ("0f1e2d3c4b5a6978", "f0e1d2c3b4a59687")


BANKED = Tile64Signal.get_examples()[0]


def flip(value: str, bits: int) -> str:
    """``value`` with its ``bits`` lowest bits inverted."""
    return format(int(value, 16) ^ ((1 << bits) - 1), "016x")


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The API, over a fresh store, of a process where the made-up type is registered."""
    url = fresh_database_url(str(request.param), tmp_path, request)
    with registered(Tile64Signal), running_api(url) as served:
        yield served
    assert "tile64" not in SIGNAL_TYPES


def check(api: Api, value: str, key: str = "feed") -> dict[str, Any]:
    response = api.post("/v1/check", key, json={"signals": [{"type": "tile64", "value": value}]})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_made_up_type_is_named_nowhere_in_hashwall() -> None:
    source = Path(hashwall.__file__).parent
    assert not [p for p in source.rglob("*.py") if "tile64" in p.read_text(encoding="utf-8")]


def test_a_made_up_type_is_banked_checked_fed_and_withdrawn(api: Api) -> None:
    created = api.post(
        "/v1/cases",
        "intake_a",
        json={"items": [{"signals": [{"type": "tile64", "value": BANKED.upper()}]}]},
    )
    assert created.status_code == 201, created.text
    case = created.json()
    item_ref = case["items"][0]["item_ref"]
    api.catch_up()

    near = check(api, flip(BANKED, 5))  # within the type's default radius (6)
    assert near["decision"] == "block"  # a partner's case: vouched
    [match] = near["matches"]
    assert match["signal_type"] == "tile64"
    assert match["distance"] % 8 == 0  # revealed (this platform's policy), coarse
    assert match.get("orientation") is None  # the type has none
    assert check(api, flip(BANKED, 7))["decision"] == "allow"  # past it
    assert check(api, BANKED, key="photos")["decision"] == "block"
    assert_problem(
        api.post("/v1/check", "feed", json={"signals": [{"type": "tile64", "value": "xyz"}]}),
        400,
        "invalid_hash",
    )

    page = api.get("/v1/feed", "feed", params={"limit": 10}).json()
    [fed] = page["items"]
    assert fed["item"] == item_ref
    assert [(s["type"], s["value"]) for s in fed["signals"]] == [("tile64", BANKED)]

    withdrawn = api.post(
        "/v1/cases/withdraw", json={"case_number": case["case_number"], "pin": case["pin"]}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    # No catch_up: the store is re-read before any non-allow answer.
    assert check(api, BANKED)["decision"] == "allow"
    api.catch_up()
    live = api.ctx.live
    assert live is not None
    assert live.search("tile64", [Tile64Signal.code(BANKED)], 0) == []
    events = api.get("/v1/feed", "feed", params={"cursor": page["cursor"]}).json()
    assert [e["type"] for e in events["events"]] == ["item_withdrawn"]
    assert check(api, BANKED)["decision"] == "allow"


def test_a_platform_tunes_the_made_up_types_radius(api: Api) -> None:
    created = api.post(
        "/v1/cases",
        "intake_a",
        json={"items": [{"signals": [{"type": "tile64", "value": BANKED}]}]},
    )
    assert created.status_code == 201, created.text
    api.catch_up()
    assert check(api, flip(BANKED, 5))["decision"] == "block"
    changed = api.post(
        "/v1/admin/platforms/policy",
        "admin",
        json={"platform": "feed", "changes": {"thresholds": {"tile64": 2}}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["policy"]["thresholds"]["tile64"] == 2
    assert check(api, flip(BANKED, 5))["decision"] == "allow"
    assert check(api, flip(BANKED, 2))["decision"] == "block"
    assert check(api, flip(BANKED, 5), key="photos")["decision"] == "block"  # its own policy
    too_wide = api.post(
        "/v1/admin/platforms/policy",
        "admin",
        json={"platform": "feed", "changes": {"thresholds": {"tile64": 13}}},
    )
    assert_problem(too_wide, 400, "invalid_input")
