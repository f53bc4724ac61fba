"""The HTTP adapter: FastAPI routes over the use cases, and the defences around them.

The defences are small modules that need no web framework: :mod:`hashwall.api.defences`
(rate limits, PIN backoff, the argon2 concurrency cap, idempotency),
:mod:`hashwall.api.clientaddr` (who the client is behind trusted proxies) and
:mod:`hashwall.api.body` (bounded, in-memory request bodies). Media is decoded and hashed in
:mod:`hashwall.sandbox`'s worker processes.
"""
