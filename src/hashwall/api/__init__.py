"""The HTTP adapter: FastAPI routes over the use cases, and the defences around them.

The defences are small modules that need no web framework: :mod:`hashwall.api.defences`
(rate limits, PIN backoff, the argon2 concurrency cap, idempotency),
:mod:`hashwall.api.clientaddr` (the limiter subject of a client, per /64 for IPv6) and
:mod:`hashwall.api.body` (bounded, in-memory request bodies); :mod:`hashwall.api.middleware`
holds the layers every request passes. Media is decoded and hashed in
:mod:`hashwall.sandbox`'s worker processes.
"""
