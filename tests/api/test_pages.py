"""The pages a browser opens (``/``, ``/docs``) load nothing from outside this server."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from hashwall.api.app import create_app
from hashwall.api.routes.pages import ASSETS
from hashwall.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

#: Anything that would make a browser fetch from another host.
EXTERNAL = re.compile(r"""(?:https?:)?//[^\s"'<>]+""", re.IGNORECASE)
#: Every URL a page refers to (links, scripts, stylesheets, icons).
REFERENCES = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """The app without its lifespan: these pages need no store."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}"))
    yield TestClient(app)


def test_home_page_says_what_hashwall_is_and_links_the_docs_and_health(
    client: TestClient,
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "fingerprints" in response.text and "withdraw" in response.text
    links = set(REFERENCES.findall(response.text))
    assert {"docs", "healthz", "readyz", "openapi.json"} <= links
    for link in links:
        target = client.get(f"/{link}")
        assert target.status_code in (200, 503), (link, target.status_code)  # readyz: no store


def test_home_page_loads_nothing_from_elsewhere_and_runs_no_script(client: TestClient) -> None:
    response = client.get("/")
    assert EXTERNAL.findall(response.text) == []
    assert "<script" not in response.text.lower()
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy


def test_docs_page_loads_swagger_ui_from_this_server(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    references = REFERENCES.findall(response.text)
    assert sorted(references) == [
        "/static/favicon.svg",
        "/static/swagger-ui-bundle.js",
        "/static/swagger-ui.css",
    ]
    assert EXTERNAL.findall(response.text) == []
    assert "'/openapi.json'" in response.text
    assert '"validatorUrl": null' in response.text


def test_every_asset_is_served_with_its_type(client: TestClient) -> None:
    for name, (path, media_type) in ASSETS.items():
        assert path.is_file(), path
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].split(";")[0] == media_type.split(";")[0]
        assert response.content == path.read_bytes()


def test_swagger_ui_assets_are_the_real_bundle(client: TestClient) -> None:
    script = client.get("/static/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in script and len(script) > 500_000
    assert ".swagger-ui" in client.get("/static/swagger-ui.css").text


@pytest.mark.parametrize("path", ["/static/index.html", "/static/..%2Fapp.py", "/redoc"])
def test_nothing_else_is_served(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
