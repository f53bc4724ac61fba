"""The ``threatexchange`` tooling with hashwall as one of its exchanges, driven as a platform
would drive it: the real package, its CLI, a real hashwall server over HTTP.

The tooling's PDQ index finds nothing while it holds exactly one hash, so at least two PDQ
hashes stay banked at every step below.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tx_support import TxCli, require_threatexchange, tx_cli

from hashwall import Client, hash_file
from live_server import Served, prepare_store, served_in_thread

from support import encode, fresh_database_url, textured_rgb

EXTENSION = "hashwall.interop.threatexchange"


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    """A hashwall server (cheap PINs) over a fresh SQLite store."""
    require_threatexchange()
    url = fresh_database_url("sqlite", tmp_path, request)
    with served_in_thread(url, prepare_store(url)) as served:
        yield served


def write_photos(folder: Path) -> dict[str, Path]:
    """Four different photos, and ``resaved``: partner_a re-encoded (not the same bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = {"partner_a": 11, "partner_b": 12, "anonymous": 13, "unbanked": 14}
    paths = {}
    for name, seed in seeds.items():
        paths[name] = folder / f"{name}.jpg"
        paths[name].write_bytes(encode(textured_rgb(400, 300, seed=seed), "JPEG", quality=92))
    paths["resaved"] = folder / "resaved.png"
    pixels = np.asarray(textured_rgb(400, 300, seed=11))
    paths["resaved"].write_bytes(encode(pixels, "PNG"))
    return paths


def configured_cli(server: Served, home: Path) -> TxCli:
    """The CLI with the extension added and a collaboration ``hw`` on ``server``."""
    cli = tx_cli(home, TX_HASHWALL_KEY=server.keys["feed"])
    added = cli.run("config", "extensions", "add", EXTENSION)
    assert "hashwall - HashwallSignalExchangeAPI" in added.stdout
    cli.run("config", "collab", "edit", "hashwall", "hw", "--create", "--server", server.url)
    return cli


def test_banked_photos_match_unbanked_do_not_and_a_withdrawal_reaches_the_next_fetch(
    server: Served, tmp_path: Path
) -> None:
    photos = write_photos(tmp_path / "photos")
    with Client(server.url, key=server.keys["intake"]) as intake:
        partner = intake.create_case([hash_file(photos[n]) for n in ("partner_a", "partner_b")])
    with Client(server.url) as anonymous:
        anonymous.create_case([hash_file(photos["anonymous"])])
    cli = configured_cli(server, tmp_path / "home")

    fetched = cli.run("fetch")
    assert "[hashwall] hw" in fetched.stdout + fetched.stderr
    assert cli.match_lines("photo", photos["partner_a"]) == [
        "pdq 0 (hw) POSITIVE_CLASS vouched",
        "photo_md5 - (hw) POSITIVE_CLASS vouched",
    ]
    assert "pdq 0 (hw) POSITIVE_CLASS vouched" in cli.match_lines("photo", photos["partner_b"])
    assert "pdq 0 (hw) INVESTIGATION_SEED unvouched" in cli.match_lines(
        "photo", photos["anonymous"]
    )
    # a re-encoded copy: the same picture, other bytes: PDQ finds it, the md5 does not
    resaved = cli.match_lines("photo", photos["resaved"])
    assert len(resaved) == 1 and resaved[0].startswith("pdq ")
    assert "(hw) POSITIVE_CLASS vouched" in resaved[0]
    assert cli.match_lines("photo", photos["unbanked"]) == []

    with Client(server.url, key=server.keys["intake"]) as intake:
        intake.withdraw(partner.case_number, item_ref=partner.items[0].item_ref)
    cli.run("fetch")  # resumes from the saved cursor: only the withdrawal comes
    assert cli.match_lines("photo", photos["partner_a"]) == []
    assert cli.match_lines("photo", photos["resaved"]) == []
    assert "pdq 0 (hw) POSITIVE_CLASS vouched" in cli.match_lines("photo", photos["partner_b"])
    assert "pdq 0 (hw) INVESTIGATION_SEED unvouched" in cli.match_lines(
        "photo", photos["anonymous"]
    )
    state = list((tmp_path / "home" / ".threatexchange").rglob("hw.state.pickle"))
    assert state and hash_file(photos["partner_a"]).pdq.hex.encode() not in state[0].read_bytes()


def test_a_fetch_without_a_key_fails_and_says_how_to_give_one(
    server: Served, tmp_path: Path
) -> None:
    cli = configured_cli(server, tmp_path / "home")
    no_key = tx_cli(cli.home)
    done = no_key.run("fetch", check=False)
    assert done.returncode != 0
    assert "TX_HASHWALL_KEY" in done.stdout + done.stderr


def test_hashwall_pdq_is_the_tooling_s_own(server: Served, tmp_path: Path) -> None:
    photos = write_photos(tmp_path / "photos")
    cli = configured_cli(server, tmp_path / "home")
    for name in ("partner_a", "anonymous", "resaved"):
        printed = cli.run("hash", "photo", str(photos[name])).stdout.split()
        assert printed[printed.index("pdq") + 1] == hash_file(photos[name]).pdq.hex


def test_the_local_file_exchange_works_non_interactively(tmp_path: Path) -> None:
    """The reference the steps above follow: the package's own local-file exchange."""
    require_threatexchange()
    photos = write_photos(tmp_path / "photos")
    listing = tmp_path / "list.txt"
    listing.write_text(
        "".join(f"pdq {hash_file(photos[n]).pdq.hex}\n" for n in ("partner_a", "partner_b"))
    )
    cli = tx_cli(tmp_path / "home")
    cli.run("config", "collab", "edit", "local_file", "mylist", "--create",
            "--filename", str(listing))  # fmt: skip
    cli.run("fetch")
    assert cli.match_lines("photo", photos["partner_a"]) == ["pdq 0 (mylist) INVESTIGATION_SEED"]
    assert cli.match_lines("photo", photos["unbanked"]) == []
