"""``hashwall serve`` logs requests without the client's address (reporter data)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from live_server import free_port, prepare_store, server_env, wait_ready

from support import fresh_database_url


def test_access_log_has_the_request_line_and_never_the_client_address(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    prepare_store(url)
    port = free_port()
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "hashwall.cli.serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--log-level", "info"], env=server_env(url), stdout=out, stderr=out
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, process=process)
            # the anonymous reporter channel: exactly where an address must not be kept
            answer = httpx.post(
                f"{base}/v1/cases/status", json={"case_number": "HW-0000-0000-0000", "pin": "x"}
            )
            assert answer.status_code in {401, 404, 422}
        finally:
            process.terminate()
            process.wait(timeout=30)
    access = [line for line in log.read_text().splitlines() if "HTTP/1.1" in line]
    assert any('"POST /v1/cases/status HTTP/1.1" 401' in line for line in access), access
    assert not [line for line in access if "127.0.0.1" in line]
