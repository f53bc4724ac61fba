"""What runs inside one decoder worker process (see :mod:`hashwall.api.decode_pool`).

The worker hardens itself (no core dumps: a crash must not write media bytes to disk), limits
its threads, warms up the fast-mode kernels, limits its address space (``RLIMIT_AS``), then
answers tasks on its pipe until the pipe closes.

Wire format, both ways ``send_bytes`` (never pickle: the parent must not unpickle what a
worker that decoded hostile bytes sends back):

- parent -> worker: a JSON header ``{"task": "hash", "fast": bool, "orientations": bool}``,
  then the media bytes as a second message;
- worker -> parent: one JSON document, ``{"ready": true}`` once at start, then per task
  ``{"ok": {...}}`` (see :func:`hashes_to_wire`) or ``{"error": {"type", "message"},
  "recycle": bool}``.

Only the standard library is imported at module level, so the worker can set its thread
counts before numpy loads.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from hashwall.hashing.image import ImageHashes
    from hashwall.settings import Settings

# Test-only tasks: honoured only by a worker started with test_hooks=True.
TEST_TASKS = frozenset({"abort", "sleep", "allocate"})
# One thread each: the pool's processes are the parallelism. The parent sets these in the
# worker's environment; main() sets them again for a worker started by hand.
THREAD_LIMITS = {
    var: "1"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
}
# Headroom a worker keeps above its own footprint; below it the limit leaves nothing to decode.
_MIN_HEADROOM = 128 * 1024 * 1024
_OUT_OF_MEMORY = {
    "type": "DecodeFailed",
    "message": "decoding needed more memory than a decoder may use; send a smaller image",
}


def _disable_core_dumps() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform == "linux":
        # RLIMIT_CORE is not honoured when core_pattern pipes to a helper; not dumpable is.
        import ctypes

        pr_set_dumpable = 4
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_dumpable, 0, 0, 0, 0)


def _address_space_in_use() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _send(conn: Connection, message: dict[str, Any]) -> None:
    conn.send_bytes(json.dumps(message, separators=(",", ":")).encode())


def hashes_to_wire(hashes: ImageHashes) -> dict[str, Any]:
    """An :class:`ImageHashes` as plain JSON values (rebuilt by ``decode_pool``)."""
    return {
        "pdq": hashes.pdq.hex,
        "quality": hashes.quality,
        "md5": hashes.md5,
        "sha256": hashes.sha256,
        "width": hashes.width,
        "height": hashes.height,
        "format": hashes.format,
        "mode": str(hashes.mode),
        "frame_count": hashes.frame_count,
        "orientations": (
            None if hashes.orientations is None else [h.hex for h in hashes.orientations]
        ),
        "notes": [[note.code, note.message] for note in hashes.notes],
    }


def _run_test_task(task: str, header: dict[str, Any]) -> dict[str, Any]:
    if task == "abort":
        os.abort()
    if task == "sleep":
        time.sleep(float(header["seconds"]))
        return {"ok": None}
    # "allocate": as a decoder asking for a pixel buffer larger than the limit.
    block = bytearray(int(header["bytes"]))
    return {"ok": len(block)}


def _hash(header: dict[str, Any], data: bytes, settings: Settings) -> dict[str, Any]:
    from hashwall.errors import HashwallError
    from hashwall.hashing.image import hash_image

    try:
        hashes = hash_image(
            data,
            fast=bool(header["fast"]),
            orientations=bool(header["orientations"]),
            settings=settings,
        )
    except HashwallError as exc:
        return {"error": {"type": type(exc).__name__, "message": exc.message}, "recycle": False}
    return {"ok": hashes_to_wire(hashes)}


def main(conn: Connection, memory_limit: int, test_hooks: bool) -> None:
    """Entry point of a worker process: set up, say ready, answer tasks until EOF."""
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _disable_core_dumps()
    os.environ.update(THREAD_LIMITS)
    # Imported here, after the thread limits: numpy and numba read them on import.
    from hashwall.hashing import fast

    fast.warm_up()
    import hashwall.hashing.image
    import hashwall.media.decode  # noqa: F401  (the decoders, loaded before the limit)
    from hashwall.settings import Settings

    # Once: reading the environment into Settings cost about 1 ms, a fifth of hashing an image.
    settings = Settings()

    in_use = _address_space_in_use()
    if memory_limit < in_use + _MIN_HEADROOM:
        _send(
            conn,
            {
                "ready": False,
                "message": f"decode_memory_limit {memory_limit} leaves no room above the "
                f"worker's own {in_use} bytes of address space",
            },
        )
        return
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    _send(conn, {"ready": True})

    while True:
        try:
            header = json.loads(conn.recv_bytes())
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        except MemoryError:
            # The input alone does not fit: the pipe is out of step now, so answer and leave.
            _send(conn, {"error": _OUT_OF_MEMORY, "recycle": True})
            return
        task = str(header.get("task"))
        try:
            if task == "hash":
                reply = _hash(header, data, settings)
            elif task in TEST_TASKS and test_hooks:
                reply = _run_test_task(task, header)
            else:
                reply = {
                    "error": {"type": "DecodeFailed", "message": f"unknown task {task!r}"},
                    "recycle": False,
                }
        except MemoryError:
            # The heap may be left fragmented or half-initialised: answer, then make way for a
            # fresh worker.
            reply = {"error": _OUT_OF_MEMORY, "recycle": True}
        except Exception as exc:
            # A bug or a decoder failure the media layer did not map; never the exception's
            # text (it may quote input bytes).
            reply = {
                "error": {
                    "type": "DecodeFailed",
                    "message": f"the decoder failed on this input ({type(exc).__name__})",
                },
                "recycle": True,
            }
        del data
        try:
            _send(conn, reply)
        except (EOFError, OSError):
            return
        if reply.get("recycle"):
            return


if __name__ == "__main__":
    # python -m hashwall.api.decode_worker FD MEMORY_LIMIT TEST_HOOKS (run by the pool)
    from multiprocessing.connection import Connection as _Connection

    _fd, _limit, _hooks = sys.argv[1:4]
    main(_Connection(int(_fd)), int(_limit), _hooks == "1")
