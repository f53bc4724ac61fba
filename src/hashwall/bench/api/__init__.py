"""``hashwall bench api``: checks per second through the HTTP API, with a bank of N hashes.

For each back end (SQLite; PostgreSQL when a server is configured):

1. **Bank.** A fresh store (a temporary SQLite file, or a new PostgreSQL schema) is migrated;
   one organisation, platform and key are made through the operator use cases. Then N banked
   items (``vouched``, one PDQ signal each, and their ``item_added`` events) are written
   directly in chunks: ``executemany`` in one transaction on SQLite, ``COPY`` on PostgreSQL.
   Hashes have the shape of a real bank (the PDQ hashes of the ``--photos`` images, varied;
   ``bench/index_data.py``), or are uniform without photos (``--no-media``, or no photos).
2. **Server.** ``hashwall serve`` (``python -m hashwall.cli.serve``) starts on a free port,
   pinned to the first ``--workers`` cores (``taskset``), with rate limits lifted; the time to
   ``/readyz`` (the live index built from the store) is reported.
3. **Signal checks.** A load generator pinned to the remaining cores sends signal-only
   ``POST /v1/check`` (a PDQ hash, its 8 orientations and a sha256, as the SDK sends them;
   ``--no-orientations`` sends the PDQ alone, ``--no-digests`` no sha256) on
   ``--concurrency`` keep-alive connections (raw asyncio HTTP/1.1, so that the generator is
   not the bottleneck), for a warm-up and then ``--duration`` seconds. ``--hit-rate`` of the
   uploads are near copies of banked hashes (``block``, a match record written); the others
   match nothing. Reported: checks/s (and per server core), p50/p99 latency, errors, the
   decisions, and the server's CPU time per check (``psutil``, the server and its children).
   This closed loop keeps the server saturated: it measures the most it does, and the
   latency of a full queue. Then, with ``--rate`` (default 1,000 per server core), the same
   uploads are offered in an open loop: Poisson arrivals at that rate on up to
   ``OPEN_LOOP_CONNECTIONS`` connections, each latency counted from the request's arrival
   (time spent waiting for a free connection included), which is the p99 at that load.
4. **Media checks.** The same for multipart uploads of the JPEGs in ``--photos`` (hashed by
   the server's decoder pool, fast mode with orientations), compared with fast-mode hashing of
   the same files in one process on one of the server's cores (``hash_image``, as a decoder
   worker runs it). The two take turns in ``MEDIA_SLICES`` slices on the same core (the server
   idle while the hashing runs), so that a neighbour slowing the machine down for a while
   slows both alike: on a shared machine, a rate measured once before the run drifted by up
   to 25% against the checks measured after it.

Target (issue 5): >= 1,000 signal checks/s per server core with p99 <= 20 ms at a 1M-hash
bank (read here as: the closed loop reaches 1,000/s per core, and the open loop at 1,000/s per
core has p99 <= 20 ms); media checks at >= 80% of the fast hashing rate per core.

The modules: :mod:`~hashwall.bench.api.bank` (1), :mod:`~hashwall.bench.api.server` (2),
:mod:`~hashwall.bench.api.load` (3, 4) and :mod:`~hashwall.bench.api.run` (the whole, the
table, the JSON).
"""

from hashwall.bench.api.run import DEFAULT_PHOTOS, run_api_bench

__all__ = ["DEFAULT_PHOTOS", "run_api_bench"]
