"""The API's defences against floods and guessing, one module each; none needs a web framework.

- :mod:`~hashwall.api.defences.rate`: rate limits per API key and client address (GCRA);
- :mod:`~hashwall.api.defences.pin_backoff`: waits that make guessing a case's PIN infeasible;
- :mod:`~hashwall.api.defences.argon2_cap`: the fair cap on concurrent argon2 PIN checks;
- :mod:`~hashwall.api.defences.idempotency`: a retried request gets the first one's answer.

Each has an in-process backend (one process) and a Redis one (``HASHWALL_REDIS_URL``, shared by
every replica, atomic). Limiter keys never hold a raw address or case number
(:mod:`~hashwall.api.defences.keys`). If Redis fails, the Redis backends fall back to the
in-process ones and log it (:mod:`~hashwall.api.defences.redis_link`), so an outage neither
opens the gates nor stops people from withdrawing. Every defence is called from the event loop
(``async``): there is no blocking twin.
"""
