"""Hash lists on disk: the lines ``hashwall export`` writes and ``hashwall import`` reads.

One line is one signal: ``signal_type,value,trust,item_ref`` (and ``quality`` where the list
carries it). Formats:

- ``csv``: a header line naming the columns (``signal_type`` and ``value`` required; ``trust``,
  ``item_ref``, ``quality`` optional; ``type`` is read as ``signal_type``), then one line per
  signal. ``hashwall export`` writes exactly ``signal_type,value,trust,item_ref``.
- ``jsonl``: one JSON object per line with the same keys (``hashwall export`` adds ``quality``).
- ``txt``: the ``threatexchange`` tooling's local-file format, ``TYPE VALUE`` per line
  (``#`` starts a comment).

Signal types are hashwall's (``pdq``, ``md5``, ``sha256``, ...) or the tooling's
(``video_md5``, ``video_sha256``: a video's digests; ``photo_md5``: a photo's).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TextIO

from hashwall.errors import InvalidInput

ListFormat = Literal["csv", "jsonl", "txt"]
LIST_FORMATS: Final = ("csv", "jsonl", "txt")
EXPORT_COLUMNS: Final = ("signal_type", "value", "trust", "item_ref")

#: The tooling's names of the types hashwall has: (hashwall type, item kind).
TOOLING_TYPES: Final = {
    "video_md5": ("md5", "video"),
    "video_sha256": ("sha256", "video"),
    "photo_md5": ("md5", "image"),
}


@dataclass(frozen=True, slots=True)
class ListLine:
    """One signal of a list: its type and value, and what the list says of its item."""

    line: int
    signal_type: str
    value: str
    kind: Literal["image", "video"] = "image"
    trust: str | None = None
    item_ref: str | None = None
    quality: int | None = None

    def export_row(self) -> tuple[str, str, str, str]:
        """The four columns ``hashwall export`` writes."""
        return (self.signal_type, self.value, self.trust or "", self.item_ref or "")

    def to_json(self) -> dict[str, object]:
        """The JSON-lines form."""
        body: dict[str, object] = dict(zip(EXPORT_COLUMNS, self.export_row(), strict=True))
        body["quality"] = self.quality
        return body


@dataclass(frozen=True, slots=True)
class LineRefusal:
    """A line that was not banked, why (a stable ``code``) and what to do."""

    line: int
    code: str
    message: str


def format_for(name: str, given: str | None) -> ListFormat:
    """The format given, or the one a file's name ends with (``.csv``, ``.jsonl``, ``.txt``)."""
    choice = given or name.rsplit(".", 1)[-1].lower()
    if choice == "json":
        choice = "jsonl"
    if choice not in LIST_FORMATS:
        raise InvalidInput(f"cannot tell the format of {name!r}: give --format csv, jsonl or txt")
    return choice  # type: ignore[return-value]


def read_list(stream: TextIO, fmt: ListFormat) -> Iterator[ListLine | LineRefusal]:
    """Each signal line of a list, or why a line cannot be read (line numbers from 1)."""
    if fmt == "csv":
        yield from _read_csv(stream)
    elif fmt == "jsonl":
        for number, text in enumerate(stream, 1):
            if text.strip():
                yield _from_json(number, text)
    else:
        for number, text in enumerate(stream, 1):
            body = text.split("#", 1)[0].strip()
            if not body:
                continue
            kind, _, value = body.partition(" ")
            if not value.strip():
                yield LineRefusal(number, "invalid_input", "a line is `TYPE VALUE`")
                continue
            yield _line(number, kind, value.strip(), None, None, None)


def write_list(lines: Iterable[ListLine], out: TextIO, fmt: ListFormat) -> int:
    """Write ``lines`` in ``fmt`` (csv: with its header); how many were written."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for line in lines:
            writer.writerow(line.export_row())
            count += 1
    elif fmt == "jsonl":
        for line in lines:
            out.write(json.dumps(line.to_json(), separators=(",", ":")) + "\n")
            count += 1
    else:
        for line in lines:
            out.write(f"{line.signal_type} {line.value}\n")
            count += 1
    return count


def _read_csv(stream: TextIO) -> Iterator[ListLine | LineRefusal]:
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        return
    names = [h.strip().lower() for h in header]
    names = ["signal_type" if n == "type" else n for n in names]
    if "signal_type" not in names or "value" not in names:
        yield LineRefusal(
            1, "invalid_input", "the first line names the columns: signal_type,value[,...]"
        )
        return
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            yield LineRefusal(number, "invalid_input", f"expected {len(names)} columns")
            continue
        cells = dict(zip(names, (c.strip() for c in row), strict=True))
        quality = _quality(cells.get("quality"))
        if isinstance(quality, LineRefusal):
            yield LineRefusal(number, quality.code, quality.message)
            continue
        yield _line(
            number,
            cells["signal_type"],
            cells["value"],
            cells.get("trust") or None,
            cells.get("item_ref") or None,
            quality,
        )


def _from_json(number: int, text: str) -> ListLine | LineRefusal:
    try:
        body = json.loads(text)
    except ValueError:
        return LineRefusal(number, "invalid_input", "not a JSON object")
    if not isinstance(body, dict):
        return LineRefusal(number, "invalid_input", "not a JSON object")
    kind = body.get("signal_type", body.get("type"))
    value, trust, ref = body.get("value"), body.get("trust"), body.get("item_ref")
    if not all(isinstance(v, str) or v is None for v in (trust, ref)):
        return LineRefusal(number, "invalid_input", "trust and item_ref are strings")
    if not isinstance(kind, str) or not isinstance(value, str):
        return LineRefusal(number, "invalid_input", "signal_type and value are strings")
    quality = body.get("quality")
    if quality is not None and (isinstance(quality, bool) or not isinstance(quality, int)):
        return LineRefusal(number, "invalid_hash", "quality is an integer from 0 to 100")
    return _line(number, kind, value, trust or None, ref or None, quality)


def _quality(text: str | None) -> int | LineRefusal | None:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return LineRefusal(0, "invalid_hash", "quality is an integer from 0 to 100")


def _line(
    number: int,
    kind: str,
    value: str,
    trust: str | None,
    ref: str | None,
    quality: int | None,
) -> ListLine:
    name = kind.strip().lower()
    hashwall_type, item_kind = TOOLING_TYPES.get(name, (name, "image"))
    return ListLine(number, hashwall_type, value.strip(), item_kind, trust, ref, quality)  # type: ignore[arg-type]


def feed_copy_lines(items: Mapping[str, Any]) -> Iterator[ListLine]:
    """The list lines of a platform's feed copy (the ``items`` of ``hashwall feed sync``'s
    ``bank.json``: item ref -> ``{"kind", "trust", "state", "signals"}``), as export writes
    them: live items only, ``quarantined`` as their trust, no frame hashes."""
    number = 0
    for ref, item in items.items():
        state = item.get("state")
        if state not in ("active", "quarantined"):
            continue
        trust = "quarantined" if state == "quarantined" else item.get("trust")
        for signal in item.get("signals", []):
            if signal.get("value") is None or signal.get("frame_number") is not None:
                continue
            number += 1
            kind: Literal["image", "video"] = "video" if item.get("kind") == "video" else "image"
            yield ListLine(
                number, signal["type"], signal["value"], kind, trust, ref, signal.get("quality")
            )


def csv_text(lines: Iterable[ListLine]) -> str:
    """A list as CSV text (tests, small lists)."""
    out = io.StringIO()
    write_list(lines, out, "csv")
    return out.getvalue()
