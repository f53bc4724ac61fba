"""Benchmarks run on a fresh clone: without the default photos folder they fall back to random
data and say so; a ``--photos`` folder that does not exist is a clear error, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hashwall.bench import index as index_bench
from hashwall.bench.api import run as api_bench


def test_bench_index_names_the_missing_photos_folder_and_the_way_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-photos"
    code = index_bench.run_index_bench(
        n=500, queries=10, data="photos", photos=missing, json_out=True
    )
    assert code == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "--photos DIR" in err and "--data random" in err


def test_bench_index_without_the_default_photos_measures_random_codes_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    default = tmp_path / "default-photos"
    monkeypatch.setattr(index_bench, "DEFAULT_PHOTOS", default)
    code = index_bench.run_index_bench(
        n=500, queries=10, data="photos", photos=default, json_out=True, methods=("hashwall",)
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["data"] == "random"
    assert "notice" in err and "--photos DIR" in err


def _no_run(backend: str, **kwargs: Any) -> dict[str, Any]:
    raise AssertionError("the benchmark ran although its photos folder is missing")


def test_bench_api_names_a_missing_photos_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(api_bench, "run_backend", _no_run)
    missing = tmp_path / "no-photos"
    code = api_bench.run_api_bench(
        bank=100, workers=1, backends=["sqlite"], concurrency=1, duration=1.0, hit_rate=0.0,
        photos=missing, postgres_url=None, seed=0, json_out=True,
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "--photos DIR" in err


def test_bench_api_without_the_default_photos_skips_media_on_a_random_bank_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[dict[str, Any]] = []

    def no_server(backend: str, **kwargs: Any) -> dict[str, Any]:
        seen.append(kwargs)
        return {"backend": backend}

    default = tmp_path / "default-photos"
    monkeypatch.setattr(api_bench, "DEFAULT_PHOTOS", default)
    monkeypatch.setattr(api_bench, "run_backend", no_server)
    monkeypatch.setattr(api_bench, "_target_met", lambda run: False)
    code = api_bench.run_api_bench(
        bank=1000, workers=1, backends=["sqlite"], concurrency=1, duration=1.0, hit_rate=0.0,
        photos=default, postgres_url=None, seed=0, json_out=True,
    )  # fmt: skip
    assert code == 0
    assert "notice" in capsys.readouterr().err
    [kwargs] = seen
    assert kwargs["media_files"] == []
    random_bank, _ = api_bench.make_hashes(1000, 4 * api_bench.QUERIES, 0, None)
    assert np.array_equal(kwargs["bank"], random_bank)
