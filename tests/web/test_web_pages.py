"""The reporter pages as HTTP answers: their headers, their assets, and their strings."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from hashwall.api.app import create_app
from hashwall.settings import Settings
from hashwall.web import render

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

#: Every URL a page loads by itself (scripts, stylesheets, icons); links are followed only on click.
LOADS = re.compile(r"""<(?:script|link)\b[^>]*?(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)
PAGES = ("/report", "/case", "/demo")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """The app without its lifespan: these pages need no store."""
    yield TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}")))


@pytest.mark.parametrize("path", PAGES)
def test_page_is_served_with_a_strict_policy_and_leaves_no_trace(
    client: TestClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self'"
    assert policy["worker-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_only_assets_of_this_server_and_has_no_inline_code(
    client: TestClient, path: str
) -> None:
    text = client.get(path).text
    loads = LOADS.findall(text)
    assert loads, "the page loads its stylesheet and script"
    for url in loads:
        assert "//" not in url and ":" not in url, url
        assert client.get(f"/{url}").status_code == 200, url
    # The only script element without src is the strings' JSON data block, which never runs.
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", text)
    assert inline == [' type="application/json" id="strings"']
    assert re.findall(r"\son[a-z]+\s*=", text, flags=re.I) == [], "no inline event handlers"


def test_every_module_a_page_imports_is_served_with_a_worker_policy(client: TestClient) -> None:
    served = render.static_files()
    for name in served:
        response = client.get(f"/web/{name}")
        assert response.status_code == 200, name
        if name.endswith(".js"):
            assert response.headers["content-type"].startswith("text/javascript")
            assert response.headers["content-security-policy"] == (
                "default-src 'none'; script-src 'self'"
            )
            for imported in re.findall(r"""from\s+["'](\.[^"']+)["']""", response.text):
                target = (Path(name).parent / imported).as_posix().removeprefix("./")
                assert Path(target).as_posix() in served or target in served, (name, imported)


def test_nothing_outside_the_static_folder_is_served(client: TestClient) -> None:
    for name in ("../render.py", "..%2Frender.py", "strings/en.json", "missing.js", ""):
        assert client.get(f"/web/{name}").status_code == 404, name


def test_every_string_is_used_and_every_placeholder_has_a_string() -> None:
    web = render.WEB
    text = render.strings()
    templates = "".join(p.read_text() for p in (web / "templates").glob("*.html"))
    scripts = "".join(p.read_text() for p in (web / "static").rglob("*.js"))
    used = set(re.findall(r"\{\{@?([a-z0-9_]+)\}\}", templates))
    for a, b in re.findall(r"""T\.([a-z0-9_]+)|fmt\(\s*"([a-z0-9_]+)""", scripts):
        used.add(a or b)
    # Keys the scripts build from a prefix and a server value (item states, hashing errors).
    dynamic = re.findall(r"T\[`([a-z_]+)\$\{", scripts)
    built = {key for key in text if any(key.startswith(prefix) for prefix in dynamic)}
    generated = {"title", "script", "strings_json", "body"}
    assert used - set(text) - generated == set()
    assert set(text) - used - built - {"lang"} == set()
    json.dumps(text)  # plain JSON, ready for a translator's tools


def test_pages_render_every_string_escaped() -> None:
    html = render.render("report")
    assert "{{" not in html
    assert render.strings()["report_title"] in html
