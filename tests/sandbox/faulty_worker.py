"""A decoder worker that breaks when a test asks it to, through the job's own bytes.

Run by a :class:`~hashwall.sandbox.pool.DecodePool` started with ``worker_command=COMMAND``:
the real worker (:func:`hashwall.sandbox.worker.run`, its limits, its answers), with a handler
that reads a first line ``FAULT <kind> [<arg>]`` off the media bytes before hashing the rest:

- ``abort``: ``os.abort()`` (a decoder's segfault);
- ``sleep <seconds>``: sleep, then hash (a decoder stuck in a loop);
- ``allocate <bytes>``: allocate that much, then hash (a decoder asking for a huge buffer);
- ``hold <path>``: wait until the file ``<path>`` exists, then hash (a worker kept busy).

So a fault happens inside the server's real exchange with its worker, and the pool handles it
as it would a broken decoder. The fault code lives here, never in hashwall.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hashwall.sandbox import worker

if TYPE_CHECKING:
    from hashwall.settings import Settings

COMMAND = (sys.executable, str(Path(__file__).resolve()))


def fault(kind: str, arg: object = "", then: bytes = b"") -> bytes:
    """Media bytes that make the worker do ``kind`` (with ``arg``), then hash ``then``."""
    return f"FAULT {kind} {arg}".rstrip().encode() + b"\n" + then


def handle(header: dict[str, Any], data: bytes, settings: Settings) -> dict[str, Any]:
    if data.startswith(b"FAULT "):
        line, _, data = data.partition(b"\n")
        kind, _, arg = line.decode().removeprefix("FAULT ").partition(" ")
        if kind == "abort":
            os.abort()
        elif kind == "sleep":
            time.sleep(float(arg))
        elif kind == "allocate":
            block = bytearray(int(arg))
            del block
        elif kind == "hold":
            while not Path(arg).exists():
                time.sleep(0.01)
    return worker.hash_media(header, data, settings)


if __name__ == "__main__":
    worker.run(sys.argv[1:], handle=handle)
