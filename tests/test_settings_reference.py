"""docs/settings.md lists every ``Settings`` field as its ``HASHWALL_`` variable, with its default.

The table sits between two markers and is generated from ``Settings.model_fields``: after a
setting is added, renamed or given another default, regenerate it with
``python tests/test_settings_reference.py --write`` (the meaning column is the field's
``description``). The test fails when a field is missing from the table, the table names a
variable that is not a field, or a default differs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from hashwall.settings import Settings

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
BEGIN = "<!-- settings table: generated from Settings.model_fields, checked by tests -->"
END = "<!-- end of settings table -->"
ROW = re.compile(r"^\| `(HASHWALL_[A-Z0-9_]+)` \| (.*?) \| (.*) \|$")


def default_text(field: FieldInfo) -> str:
    """The default as one would write it in the variable, or a word for none."""
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple | list):
        return f"`{','.join(map(str, value))}`" if value else "empty"
    return f"`{value}`"


def expected_rows() -> dict[str, tuple[str, str]]:
    """``HASHWALL_NAME -> (default, meaning)`` for every field of ``Settings``."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    rows = {}
    for name, field in Settings.model_fields.items():
        meaning = " ".join((field.description or "").split()).replace("|", "\\|")
        rows[f"{prefix}{name}".upper()] = (default_text(field), meaning)
    return rows


def render_table() -> str:
    """The generated table, markers included."""
    lines = [BEGIN, "| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{var}` | {d} | {m} |" for var, (d, m) in expected_rows().items()]
    return "\n".join([*lines, END])


def documented_rows(text: str) -> dict[str, tuple[str, str]]:
    """The rows of the table between the markers of ``text``."""
    assert BEGIN in text and END in text, f"{REFERENCE.name} lost its table markers"
    table = text.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = {}
    for line in table.strip().splitlines():
        match = ROW.match(line.strip())
        if match:
            var, default, meaning = match.groups()
            assert var not in rows, f"{var} is listed twice"
            rows[var] = (default.strip(), meaning.strip())
    return rows


def disagreements(text: str) -> list[str]:
    """What the table in ``text`` gets wrong about ``Settings``; empty when it agrees."""
    documented = documented_rows(text)
    expected = expected_rows()
    problems = [f"{var} is not documented" for var in expected if var not in documented]
    problems += [
        f"{var} is documented but not a setting" for var in documented if var not in expected
    ]
    problems += [
        f"{var}: documented default {documented[var][0]}, real default {default}"
        for var, (default, _) in expected.items()
        if var in documented and documented[var][0] != default
    ]
    problems += [f"{var} has no meaning" for var, (_, meaning) in documented.items() if not meaning]
    return problems


def test_every_setting_is_documented_with_its_default_and_nothing_else_is() -> None:
    problems = disagreements(REFERENCE.read_text(encoding="utf-8"))
    assert not problems, (
        "docs/settings.md disagrees with Settings (regenerate the table: "
        f"python tests/test_settings_reference.py --write): {problems}"
    )


def test_a_missing_a_stale_and_a_wrong_row_are_each_caught() -> None:
    table = render_table()
    assert disagreements(table) == []
    missing = "\n".join(line for line in table.splitlines() if "`HASHWALL_REDIS_URL`" not in line)
    assert disagreements(missing) == ["HASHWALL_REDIS_URL is not documented"]
    stale = table.replace(END, f"| `HASHWALL_NO_SUCH_THING` | `1` | gone |\n{END}")
    assert disagreements(stale) == ["HASHWALL_NO_SUCH_THING is documented but not a setting"]
    wrong = table.replace(
        "| `HASHWALL_PDQ_THRESHOLD` | `31` |", "| `HASHWALL_PDQ_THRESHOLD` | `30` |"
    )
    assert disagreements(wrong) == [
        "HASHWALL_PDQ_THRESHOLD: documented default `30`, real default `31`"
    ]
    assert default_text(Settings.model_fields["redis_url"]) == "unset"
    assert default_text(Settings.model_fields["trusted_proxies"]) == "empty"


def write_reference() -> None:
    """Replace the table of docs/settings.md with one generated from ``Settings``."""
    text = REFERENCE.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    REFERENCE.write_text(head + render_table() + tail, encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_reference()
    else:
        print(render_table())
