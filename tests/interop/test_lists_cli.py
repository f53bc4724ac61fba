"""``hashwall export`` and ``hashwall import`` as the operator runs them, including a list
pulled from the ``threatexchange`` tooling's local-file and sample exchanges."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tx_support import require_threatexchange, tx_cli
from typer.testing import CliRunner, Result

from conftest import migrated_context, random_pdq
from hashwall.cli.main import app

runner = CliRunner()


@pytest.fixture
def store_env(tmp_path: Path) -> dict[str, str]:
    """``HASHWALL_DATABASE_URL`` of a migrated SQLite store with the partner ``Helpline``."""
    url = f"sqlite:///{tmp_path / 'hashwall.db'}"
    _, store = migrated_context(url)
    store.dispose()
    return {"HASHWALL_DATABASE_URL": url}


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, list(args), env=env)
    assert "Traceback" not in result.output, result.output
    return result


def one_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return document


def test_import_then_export_through_the_commands(store_env: dict[str, str], tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    pdqs = [random_pdq(rng) for _ in range(3)]
    listing = tmp_path / "list.txt"  # the tooling's local-file format
    listing.write_text("# a partner's list\n" + "".join(f"pdq {p}\n" for p in pdqs) + "pdq zz\n")
    report = one_json(run(store_env, "import", str(listing), "--partner", "Helpline",
                          "--label", "from a file", "--json"))  # fmt: skip
    assert (report["items_banked"], report["refused"]) == (3, 1)
    assert report["refusals"][0]["line"] == 5 and report["refusals"][0]["code"] == "invalid_hash"
    human = run(store_env, "import", str(listing), "--partner", "Helpline", "--label", "again")
    assert human.exit_code == 0 and "banked 0 item(s)" in human.stdout
    assert "3 item(s) already banked" in human.stdout

    out = tmp_path / "bank.csv"
    summary = one_json(run(store_env, "export", "--output", str(out), "--json"))
    assert summary == {"signals": 3, "file": str(out)}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    lines = out.read_text().splitlines()
    assert lines[0] == "signal_type,value,trust,item_ref"
    assert sorted(line.split(",")[1] for line in lines[1:]) == sorted(pdqs)
    jsonl = run(store_env, "export", "--format", "jsonl")
    assert jsonl.exit_code == 0
    rows = [json.loads(line) for line in jsonl.stdout.splitlines() if line.startswith("{")]
    assert {r["trust"] for r in rows} == {"vouched"} and len(rows) == 3


def test_import_needs_a_partner_a_label_and_one_source(store_env: dict[str, str]) -> None:
    result = run(store_env, "import", "--partner", "Helpline", "--label", "x", "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["error"]["code"] == "invalid_input"
    result = run(store_env, "import", "list.csv", "--label", "x", "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["error"]["code"] == "invalid_input"


def test_import_from_the_local_file_exchange_keeps_its_opinion_as_trust(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    require_threatexchange()
    rng = np.random.default_rng(6)
    pdqs = [random_pdq(rng) for _ in range(2)]
    listing = tmp_path / "exchange.txt"
    listing.write_text("".join(f"pdq {p}\n" for p in pdqs) + f"video_md5 {'d' * 32}\n")
    home = tmp_path / "home"
    tx_cli(home).run("config", "collab", "edit", "local_file", "mylist", "--create",
                     "--filename", str(listing))  # fmt: skip
    env = {**store_env, "HOME": str(home), "TX_STATEDIR": str(home / ".threatexchange")}
    report = one_json(run(env, "import", "--exchange", "mylist", "--partner", "Helpline",
                          "--label", "local file", "--json"))  # fmt: skip
    assert (report["items_banked"], report["refused"]) == (3, 0)
    exported = run(env, "export", "--format", "jsonl")
    rows = {r["value"]: r for r in map(json.loads, exported.stdout.splitlines()) if r}
    # the local-file exchange's only opinion is INVESTIGATION_SEED: unvouched (review)
    assert {rows[p]["trust"] for p in pdqs} == {"unvouched"}
    assert rows["d" * 32]["signal_type"] == "md5"

    missing = run(env, "import", "--exchange", "nope", "--partner", "Helpline", "--label", "x")
    assert missing.exit_code == 1 and "not_found" in missing.output


def test_import_from_the_sample_exchange_refuses_what_hashwall_has_no_type_for(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    require_threatexchange()
    env = {**store_env, "HOME": str(tmp_path), "TX_STATEDIR": str(tmp_path / ".tx")}
    report = one_json(run(env, "import", "--exchange", "sample", "--partner", "Helpline",
                          "--label", "sample", "--json"))  # fmt: skip
    assert report["items_banked"] > 0
    codes = {r["code"] for r in report["refusals"]}
    assert codes <= {"unsupported_type", "invalid_hash"} and "unsupported_type" in codes


def test_a_platform_s_feed_copy_exports_in_the_same_shape(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    a, b, c = (random_pdq(rng) for _ in range(3))
    copy = tmp_path / "bank.json"
    copy.write_text(json.dumps({"format": "hashwall-feed-mirror/1", "items": {
        "itm_a": {"kind": "image", "trust": "vouched", "state": "active",
                  "signals": [{"type": "pdq", "value": a, "quality": 90},
                              {"type": "md5", "value": "a" * 32, "quality": None}]},
        "itm_b": {"kind": "image", "trust": "unvouched", "state": "quarantined",
                  "signals": [{"type": "pdq", "value": b, "quality": 80}]},
        "itm_c": {"kind": "image", "trust": "vouched", "state": "withdrawn",
                  "signals": [{"type": "pdq", "value": c, "quality": 80}]},
    }}))  # fmt: skip
    result = run({}, "export", "--feed-copy", str(copy))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "signal_type,value,trust,item_ref",
        f"pdq,{a},vouched,itm_a",
        f"md5,{'a' * 32},vouched,itm_a",
        f"pdq,{b},quarantined,itm_b",
    ]
