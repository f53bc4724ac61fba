"""The use cases, one module each: intake, check, verdicts, reviews, withdraw, feed, tenants,
keys, auth, moderation, audit, casework, retention.

Each use case is a plain function over a :class:`~hashwall.service.context.ServiceContext`
and a :class:`~hashwall.domain.Actor`, with typed inputs and outputs, working on the types of
:mod:`hashwall.domain` through the store's unit of work. Nothing here knows about HTTP, the
terminal or a database driver: the API and the CLI are adapters that parse, call one use
case, and format; the store holds every statement.
"""
