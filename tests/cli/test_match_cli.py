"""``hashwall match --bank``: local answers from a feed copy agree with the service's checks."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from remote_cli import json_lines, write_pictures
from typer.testing import CliRunner, Result

from hashwall import Client, hash_file, hash_image
from hashwall.bench.pictures import scene
from hashwall.cli.check import EXIT_BLOCK, EXIT_ERROR, EXIT_REVIEW
from hashwall.cli.main import app
from hashwall.eval.transforms import SUITE
from hashwall.service.feed_copy import FeedCopy
from live_server import Served, prepare_store, served_in_thread, wait_indexed

from support import fresh_database_url

runner = CliRunner()


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    """A server (cheap PINs) over a fresh SQLite store."""
    url = fresh_database_url("sqlite", tmp_path, request)
    with served_in_thread(url, prepare_store(url)) as served:
        yield served


@pytest.fixture
def pictures(tmp_path: Path) -> dict[str, Path]:
    """photo, rotated, other and broken .jpg files."""
    return write_pictures(tmp_path / "pictures")


def run(*args: str) -> Result:
    """Invoke hashwall; never a traceback."""
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result


def sync(server: Served, folder: Path) -> Path:
    """``hashwall feed sync`` into ``folder``; the bank copy's folder."""
    synced = run("feed", "sync", "--server", server.url, "--key", server.keys["feed"],
                 "--dir", str(folder))  # fmt: skip
    assert synced.exit_code == 0, synced.output
    return folder


def test_local_answers_agree_with_the_service(
    server: Served, pictures: dict[str, Path], tmp_path: Path
) -> None:
    with Client(server.url) as reporter:
        unvouched = reporter.create_case([hash_file(pictures["photo"])])  # anonymous: review
    with Client(server.url, key=server.keys["intake"]) as partner:
        vouched = partner.create_case([hash_file(pictures["other"])])  # vouched: block
    wait_indexed(server.url, 2)
    bank = sync(server, tmp_path / "feed")

    files = [pictures["rotated"], pictures["other"]]
    local = run("match", *map(str, files), "--bank", str(bank), "--json")
    assert local.exit_code == EXIT_BLOCK, local.output
    answers = json_lines(local)
    with Client(server.url, key=server.keys["feed"]) as feed:
        remote = [
            feed.check(hash_image(p.read_bytes(), fast=True, orientations=True)) for p in files
        ]
    assert [a["decision"] for a in answers] == [r.decision for r in remote] == ["review", "block"]
    # The feed copy knows the banked items' refs (the service's answers never say them).
    assert [[m["item_ref"] for m in a["matches"]] for a in answers] == [
        [unvouched.items[0].item_ref],
        [vouched.items[0].item_ref],
    ]
    assert all("item_ref" not in m.model_dump() for r in remote for m in r.matches)
    assert answers[0]["matches"][0]["orientation"] != "original"

    review = run("match", str(pictures["rotated"]), "--bank", str(bank / "bank.json"))  # old path
    assert review.exit_code == EXIT_REVIEW and "review" in review.stdout
    broken = run("match", str(pictures["broken"]), str(pictures["rotated"]), "--bank", str(bank))
    assert broken.exit_code == EXIT_ERROR  # a file that could not be hashed wins

    item = answers[0]["matches"][0]["item_ref"]
    document = FeedCopy.open(bank).view().document()
    assert document["items"][item]["trust"] == "unvouched"
    exported = tmp_path / "export.json"
    assert run("feed", "export", "--dir", str(bank), "--out", str(exported)).exit_code == 0
    assert json.loads(exported.read_text()) == document
    from_json = run("match", *map(str, files), "--bank", str(exported), "--json")
    assert [a["decision"] for a in json_lines(from_json)] == ["review", "block"]


def test_a_withdrawal_reaches_the_copy_on_the_next_sync(
    server: Served, pictures: dict[str, Path], tmp_path: Path
) -> None:
    with Client(server.url) as reporter:
        case = reporter.create_case([hash_file(pictures["photo"])])
    wait_indexed(server.url, 1)
    bank = sync(server, tmp_path / "feed")
    assert run("match", str(pictures["photo"]), "--bank", str(bank)).exit_code == EXIT_REVIEW
    with Client(server.url) as reporter:
        reporter.withdraw(case.case_number, case.pin)
    sync(server, tmp_path / "feed")
    allowed = run("match", str(pictures["photo"]), "--bank", str(bank), "--json")
    assert allowed.exit_code == 0
    assert json_lines(allowed)[0]["reason"] == "no_match"


def test_a_file_that_is_not_a_bank_copy_is_a_clean_error(tmp_path: Path) -> None:
    other = tmp_path / "bank.json"
    other.write_text('{"format": "something else"}')
    photo = write_pictures(tmp_path / "p")["photo"]
    result = run("match", str(photo), "--bank", str(other))
    assert result.exit_code == 1 and result.stderr.startswith("invalid_input: ")
    missing = run("match", str(photo), "--bank", str(tmp_path / "nope.json"), "--json")
    assert json_lines(missing)[0]["error"]["code"] == "invalid_input"
    empty = run("match", str(photo), "--bank", str(tmp_path / "p"), "--json")  # not a copy
    assert "holds no feed copy" in json_lines(empty)[0]["error"]["message"]


def test_a_crop_pdq_misses_is_found_by_keypoints_as_the_service_finds_it(
    server: Served, tmp_path: Path
) -> None:
    """``hashwall match`` computes an image's keypoints by default: a 20% off-centre crop of a
    photo banked with its keypoints blocks as the service's check answers it; PDQ alone
    (``--no-keypoints``) misses it, and after a withdrawal and a sync it is allowed."""
    photo = scene(2)
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    (pictures / "photo.jpg").write_bytes(_jpeg(photo))
    crop = pictures / "crop.jpg"
    crop.write_bytes(_jpeg(SUITE["crop_20_offcentre_keep"](photo, np.random.default_rng(5))))
    other = pictures / "other.jpg"
    other.write_bytes(_jpeg(SUITE["crop_20_offcentre_keep"](scene(3), np.random.default_rng(5))))
    banked = hash_file(pictures / "photo.jpg", orientations=True, keypoints="bank")
    with Client(server.url, key=server.keys["intake"]) as partner:
        case = partner.create_case([banked])  # vouched: block
    wait_indexed(server.url, 1)
    bank = sync(server, tmp_path / "feed")

    found = run("match", str(crop), str(other), "--bank", str(bank), "--json")
    assert found.exit_code == EXIT_REVIEW, found.output
    answers = json_lines(found)
    with Client(server.url, key=server.keys["feed"]) as feed:
        remote = [
            feed.check(hash_file(p, fast=True, orientations=True, keypoints="upload"))
            for p in (crop, other)
        ]
    assert [a["decision"] for a in answers] == [r.decision for r in remote] == ["review", "allow"]
    assert answers[0]["matches"] == [
        {"item_ref": case.items[0].item_ref, "decision": "review", "signal_type": "keypoints"}
    ]
    assert [m.signal_type for m in remote[0].matches] == ["keypoints"]
    pdq_only = run("match", str(crop), "--bank", str(bank), "--no-keypoints", "--json")
    assert pdq_only.exit_code == 0 and json_lines(pdq_only)[0]["decision"] == "allow"

    with Client(server.url, key=server.keys["intake"]) as partner:
        partner.withdraw(case.case_number, case.pin)
    sync(server, tmp_path / "feed")
    after = run("match", str(crop), "--bank", str(bank), "--json")
    assert after.exit_code == 0 and json_lines(after)[0]["reason"] == "no_match"


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=92)
    return buf.getvalue()
