"""What runs inside one decoder worker process (started by :mod:`hashwall.sandbox.process`).

The worker hardens itself (no core dumps: a crash must not write media bytes to disk), limits
its threads, warms up the fast-mode kernels, limits its address space (``RLIMIT_AS``), then
answers jobs on its socket until the socket closes (:mod:`hashwall.sandbox.protocol` has the
messages).

A job is handled by a :data:`Handler`, :func:`hash_media` unless the program that runs the
worker passes its own to :func:`run` (a test's worker that crashes or hangs on request).

Only the standard library is imported at module level, so the worker can set its thread
counts before numpy loads.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from hashwall.settings import Settings

#: Handles one job: (header, media bytes, settings) -> the reply (a protocol message).
Handler = Callable[[dict[str, Any], bytes, "Settings"], dict[str, Any]]

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


_ROLES = ("bank", "upload")


def hash_media(header: dict[str, Any], data: bytes, settings: Settings) -> dict[str, Any]:
    """The hash job: :func:`hashwall.hash_image` on ``data``, its hashes or its media error."""
    from hashwall.errors import HashwallError
    from hashwall.hashing.image import hash_image
    from hashwall.sandbox.protocol import error_to_wire, hashes_to_wire

    try:
        hashes = hash_image(
            data,
            fast=bool(header["fast"]),
            orientations=bool(header["orientations"]),
            regions=bool(header.get("regions", False)),
            keypoints=header.get("keypoints") if header.get("keypoints") in _ROLES else None,
            settings=settings,
        )
    except HashwallError as exc:
        return {"error": error_to_wire(exc), "recycle": False}
    return {"ok": hashes_to_wire(hashes)}


def hash_video_media(header: dict[str, Any], data: bytes, settings: Settings) -> dict[str, Any]:
    """The video job: :func:`hashwall.hashing.vpdq.hash_video` on ``data`` (fast PDQ), one frame
    every ``seconds_per_hash`` (0: every frame), at most ``max_frames`` kept, evenly spaced
    (and as many box frames at most, with ``box``)."""
    import dataclasses

    from hashwall.errors import HashwallError
    from hashwall.hashing.vpdq import hash_video
    from hashwall.hashing.vpdq_budget import seconds_per_hash_within, thinned
    from hashwall.sandbox.protocol import error_to_wire

    max_frames = max(1, int(header["max_frames"]))
    try:
        every = float(header["seconds_per_hash"])
        every = seconds_per_hash_within(data, settings, every, max_frames)
        hashes = hash_video(
            data,
            settings=settings,
            seconds_per_hash=every,
            fast=True,
            mirror=bool(header["mirror"]),
            box=bool(header.get("box", False)),
        )
    except HashwallError as exc:
        return {"error": error_to_wire(exc), "recycle": False}
    if hashes.box_frames:
        boxed = thinned(dataclasses.replace(hashes, frames=hashes.box_frames), max_frames)
        hashes = dataclasses.replace(hashes, box_frames=boxed.frames)
    return {"ok": thinned(hashes, max_frames).to_wire()}


def _answer(handle: Handler, header: Any, data: bytes, settings: Settings) -> dict[str, Any]:
    task = str(header.get("task")) if isinstance(header, dict) else None
    try:
        if task == "hash":
            return handle(header, data, settings)
        if task == "video":
            return hash_video_media(header, data, settings)
        return {
            "error": {"type": "DecodeFailed", "message": f"unknown task {task!r}"},
            "recycle": False,
        }
    except MemoryError:
        # The heap may be left fragmented or half-initialised: answer, then make way for a
        # fresh worker.
        return {"error": _OUT_OF_MEMORY, "recycle": True}
    except Exception as exc:
        # A bug or a decoder failure the media layer did not map; never the exception's
        # text (it may quote input bytes).
        return {
            "error": {
                "type": "DecodeFailed",
                "message": f"the decoder failed on this input ({type(exc).__name__})",
            },
            "recycle": True,
        }


def main(conn: Connection, memory_limit: int, handle: Handler = hash_media) -> None:
    """Set up, say ready, answer jobs with ``handle`` until the socket closes."""
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _disable_core_dumps()
    os.environ.update(THREAD_LIMITS)
    # Imported here, after the thread limits: numpy and numba read them on import.
    from hashwall.hashing import contentbox, fast, keypoints

    fast.warm_up()
    contentbox.warm_up()  # a check's regions (hash_image(regions=True)) run these kernels
    keypoints.warm_up()  # and its keypoints
    import hashwall.hashing.image
    import hashwall.media.decode
    import hashwall.sandbox.protocol  # noqa: F401  (the decoders and all, loaded before the limit)
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
            # The input alone does not fit: the socket is out of step now, so answer and leave.
            _send(conn, {"error": _OUT_OF_MEMORY, "recycle": True})
            return
        reply = _answer(handle, header, data, settings)
        del data
        try:
            _send(conn, reply)
        except (EOFError, OSError):
            return
        if reply.get("recycle"):
            return


def run(argv: Sequence[str], handle: Handler = hash_media) -> None:
    """Run a worker from its command-line arguments ``FD MEMORY_LIMIT`` (as the pool starts it)."""
    from multiprocessing.connection import Connection as _Connection

    fd, limit = argv[:2]
    main(_Connection(int(fd)), int(limit), handle)


if __name__ == "__main__":
    run(sys.argv[1:])
