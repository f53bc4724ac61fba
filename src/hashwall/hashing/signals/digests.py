"""The exact digest types: ``md5`` and ``sha256`` of a file's bytes, matched by equality."""

from __future__ import annotations

from hashwall.hashing.signals.base import ExactSignalType


class Md5Signal(ExactSignalType):
    """md5 of the exact file bytes."""

    name = "md5"
    size = 16

    @classmethod
    def get_examples(cls) -> tuple[str, ...]:
        return ("d41d8cd98f00b204e9800998ecf8427e", "9e107d9d372bb6826bd81d3542a419d6")


class Sha256Signal(ExactSignalType):
    """sha256 of the exact file bytes."""

    name = "sha256"
    size = 32

    @classmethod
    def get_examples(cls) -> tuple[str, ...]:
        return (
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592",
        )
