"""The README and docs/web.md show the web pages' screenshots, and each one they show exists."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from support import REPO

SHOTS = REPO / "docs" / "web"
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+\.png)\)")


def shown(doc: Path) -> set[Path]:
    """The PNGs a Markdown file shows, as paths."""
    return {(doc.parent / link).resolve() for link in IMAGE.findall(doc.read_text())}


def test_every_screenshot_is_shown_in_docs_web_and_the_readme_shows_the_demo_loop() -> None:
    committed = {p.resolve() for p in SHOTS.glob("*.png")}
    assert shown(REPO / "docs" / "web.md") == committed
    readme = shown(REPO / "README.md")
    assert readme <= committed
    for step in ("1-report", "2-demo-review", "3-case-withdrawn", "4-demo-allow"):
        for width in ("desktop", "phone"):
            assert (SHOTS / f"{step}-{width}.png").resolve() in readme, (step, width)


def test_screenshots_are_small_and_of_the_right_widths() -> None:
    for path in SHOTS.glob("*.png"):
        assert path.stat().st_size < 150_000, path.name
        with Image.open(path) as image:
            assert image.width == (1280 if path.stem.endswith("-desktop") else 375), path.name
