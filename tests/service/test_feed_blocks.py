"""The binary snapshot's blocks (``service/feed_blocks.py``): a geometric type's values of any
length are packed (their bytes, and the length of each) and read back unchanged; a block
without such values is the frame readers before packing read; a packed column that does not
add up is refused."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from hashwall.errors import InvalidInput
from hashwall.hashing.signals import KeypointsSignal
from hashwall.service.feed_blocks import (
    MAGIC,
    block_frame,
    block_of,
    build_block,
    encode_stream,
    read_frames,
)
from hashwall.service.feed_copy_view import CopyView, block_of_items, fresh_vocab, part_of_block

SHORT, LONG = KeypointsSignal.get_examples()[0][:64], KeypointsSignal.get_examples()[1]


def _rows() -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str, Any, Any, Any]]]:
    rows = [("itm_a", "image", "vouched", "active"), ("itm_b", "image", "unvouched", "active"),
            ("itm_c", "image", "vouched", "active")]  # fmt: skip
    held = [
        ("itm_a", "pdq", "f8" * 32, 90, None, None),
        ("itm_a", "keypoints", LONG, None, None, None),
        ("itm_b", "md5", "0" * 32, None, None, None),
        ("itm_c", "keypoints", SHORT, None, None, None),
    ]
    return rows, held


def _frames(body: bytes) -> list[tuple[dict[str, object], dict[str, np.ndarray]]]:
    return list(read_frames(io.BytesIO(body)))


def test_keypoint_sets_of_any_length_are_packed_and_read_back_unchanged() -> None:
    rows, held = _rows()
    block = build_block(rows, held)
    columns = block.signals["keypoints"]
    assert columns.packed and columns.value_length is not None
    assert columns.value_length.tolist() == [len(LONG) // 2, len(SHORT) // 2]
    assert columns.value.dtype == np.uint8 and columns.value.size == (len(LONG) + len(SHORT)) // 2
    body = b"".join(encode_stream({"platform": "photos"}, [(block, "cur")], "end"))
    (_, (header, arrays), _) = _frames(body)
    assert header["packed"] == ["keypoints"]
    back = block_of(header, arrays)
    assert not back.signals["pdq"].packed and back.signals["keypoints"].packed
    view = CopyView.from_items(
        {ref: {"kind": k, "trust": t, "state": s,
               "signals": [{"type": h[1], "value": h[2], "quality": h[3]}
                           for h in held if h[0] == ref]}
         for ref, k, t, s in rows}, {})  # fmt: skip
    values = {ref: {s["type"]: s["value"] for s in item["signals"]} for ref, item in view.items()}
    assert values["itm_a"]["keypoints"] == LONG and values["itm_c"]["keypoints"] == SHORT
    assert values["itm_a"]["pdq"] == "f8" * 32 and values["itm_b"] == {"md5": "0" * 32}


def test_a_block_without_keypoints_is_the_frame_readers_before_packing_read() -> None:
    rows, held = _rows()
    plain = build_block(rows, [h for h in held if h[1] != "keypoints"])
    header, arrays = _frames(MAGIC + block_frame(plain, "cur"))[0]
    assert "packed" not in header
    assert sorted(arrays) == sorted(
        ["ref", "kind", "trust", "state"]
        + [f"{t}.{c}" for t in ("pdq", "md5")
           for c in ("owner", "value", "quality", "frame_number", "frame_timestamp")]
    )  # fmt: skip


def test_a_packed_column_that_does_not_add_up_is_refused() -> None:
    rows, held = _rows()
    header, arrays = _frames(MAGIC + block_frame(build_block(rows, held), "cur"))[0]
    assert block_of(header, arrays).signals["keypoints"].packed
    for name, broken in (
        ("keypoints.value", arrays["keypoints.value"][:-16]),  # a record short
        ("keypoints.value_length", arrays["keypoints.value_length"][:1]),  # a length short
        ("keypoints.value_length", arrays["keypoints.value_length"].astype("<i4")),
    ):
        with pytest.raises(InvalidInput, match="malformed"):
            block_of(header, {**arrays, name: broken})
    wide = arrays["keypoints.value_length"].astype("<u8")  # another width: read as it is
    vocab = fresh_vocab()
    part = part_of_block(block_of(header, {**arrays, "keypoints.value_length": wide}), vocab)
    view = CopyView([part], vocab, {})
    assert {s["value"] for _, item in view.items() for s in item["signals"]} >= {SHORT, LONG}
    with pytest.raises(InvalidInput, match="malformed"):  # packed, without its lengths
        block_of(header, {k: v for k, v in arrays.items() if k != "keypoints.value_length"})


def test_a_keypoints_value_that_is_not_hex_is_refused_from_a_json_page() -> None:
    item = {"kind": "image", "trust": "vouched", "state": "active",
            "signals": [{"type": "keypoints", "value": "zz" * 16, "quality": None}]}  # fmt: skip
    with pytest.raises(InvalidInput, match="not hexadecimal"):
        block_of_items([("itm_a", item)])
