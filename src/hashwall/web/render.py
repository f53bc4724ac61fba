"""The reporter's pages rendered from their templates and the one strings file.

Templates hold ``{{key}}`` (a string of ``strings/en.json``, HTML-escaped) and ``{{@name}}``
(HTML built here: the page body, lists of links, the strings as JSON for the page's script).
Every word a person reads is in the strings file, so a translation is one more file.
"""

from __future__ import annotations

import functools
import html
import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

WEB: Final = Path(str(files("hashwall.web")))
STATIC: Final = WEB / "static"

#: The pages: name -> (title key, script module under static/).
PAGES: Final = {
    "report": ("report_title", "report.js"),
    "case": ("case_title", "case.js"),
    "demo": ("demo_title", "demo.js"),
}

_PLACEHOLDER: Final = re.compile(r"\{\{(@?)([a-z0-9_]+)\}\}")

#: The static files served under ``/web/``: relative path -> media type. Nothing else is.
_MEDIA_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


@functools.cache
def strings(lang: str = "en") -> dict[str, Any]:
    """The strings file of ``lang``."""
    data: dict[str, Any] = json.loads(
        (WEB / "strings" / f"{lang}.json").read_text(encoding="utf-8")
    )
    return data


@functools.cache
def static_files() -> dict[str, tuple[Path, str]]:
    """Every file under ``static/`` that a page may load: ``relative/path`` -> (file, type)."""
    out: dict[str, tuple[Path, str]] = {}
    for path in sorted(STATIC.rglob("*")):
        media_type = _MEDIA_TYPES.get(path.suffix)
        if path.is_file() and media_type is not None:
            out[path.relative_to(STATIC).as_posix()] = (path, media_type)
    return out


def _links(items: list[dict[str, str]]) -> str:
    rows = "".join(
        f'<li><a href="{html.escape(i["url"])}" rel="noreferrer">{html.escape(i["name"])}</a></li>'
        for i in items
    )
    return f'<ul class="links">{rows}</ul>'


def _fill(template: str, text: dict[str, Any], blocks: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        raw, key = match.group(1), match.group(2)
        if raw:
            if key in blocks:
                return blocks[key]
            return _links(text[key])
        return html.escape(str(text[key]))

    return _PLACEHOLDER.sub(one, template)


@functools.cache
def render(page: str, lang: str = "en") -> str:
    """The HTML of ``page`` (a key of :data:`PAGES`)."""
    title_key, script = PAGES[page]
    text = dict(strings(lang))
    text["title"] = text[title_key]
    text["script"] = script
    # "</" cannot end the JSON's script element early: escape every "<".
    as_json = json.dumps(text, ensure_ascii=False).replace("<", "\\u003c")
    body = _fill((WEB / "templates" / f"{page}.html").read_text(encoding="utf-8"), text, {})
    layout = (WEB / "templates" / "layout.html").read_text(encoding="utf-8")
    return _fill(layout, text, {"body": body, "strings_json": as_json})
