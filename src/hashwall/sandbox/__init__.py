"""The media sandbox: untrusted media is decoded and hashed in worker processes.

libjpeg, libpng, libheif and friends are C code run on hostile bytes. A
:class:`~hashwall.sandbox.pool.DecodePool` runs :func:`hashwall.hash_image` in ``N`` worker
processes, each with an address-space limit (``RLIMIT_AS``, so a memory blow-up is a
``MemoryError`` in the worker, not the OOM killer in the server) and a time limit per job, so
that a crash or a hang in a decoder costs one worker and one request a clean error, never the
service. Media bytes go through a socket, never a file, and are never logged; workers cannot
dump core.

- :mod:`~hashwall.sandbox.protocol`: the messages and their framing;
- :mod:`~hashwall.sandbox.worker`: what runs inside a worker process;
- :mod:`~hashwall.sandbox.process`: one worker process as the server sees it;
- :mod:`~hashwall.sandbox.pool`: the pool, and the scheduler that lends workers to callers.

Nothing here knows of HTTP: the API (``hashwall.api``) is one user of the pool.
"""
