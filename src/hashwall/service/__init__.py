"""The use cases: intake, check, verdicts, withdraw, feed, operator, retention.

Each use case is a plain function over a :class:`~hashwall.service.context.ServiceContext`
and an :class:`~hashwall.service.context.Actor`, with typed inputs and outputs. Nothing here
knows about HTTP or the terminal: the API and the CLI are adapters that parse, call one use
case, and format.
"""
