"""Who the client is, as a rate-limit subject: the peer address, grouped per /64 for IPv6.

The peer is the ``client`` of the ASGI scope, as the server gives it. Behind reverse proxies the
server resolves it from ``X-Forwarded-For``, believing only the proxies it is told to trust:
``hashwall serve`` runs uvicorn with ``forwarded_allow_ips`` set to
``HASHWALL_TRUSTED_PROXIES`` (see :func:`hashwall.cli.serve.server_options`), and uvicorn reads
the header from the right, so whatever a client wrote further left is ignored.

What hashwall adds is the grouping: one person commonly holds a whole IPv6 /64, and limiting
single addresses there limits nobody. The address is a rate-limit subject and nothing else: it
is never stored or logged.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from typing import Any, Final

UNKNOWN: Final = "unknown"
IPV6_SUBJECT_PREFIX: Final = 64


@functools.lru_cache(maxsize=4096)  # pure; the same few peers make most requests
def limit_subject(address: str) -> str:
    """The rate-limit subject of a client address: itself for IPv4 (an IPv4-mapped IPv6
    address too), its /64 for IPv6, ``"unknown"`` for anything that is not an IP address."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return UNKNOWN
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_SUBJECT_PREFIX), strict=False))
    return str(parsed)


def client_subject(scope: Mapping[str, Any]) -> str:
    """The rate-limit subject of the client of an ASGI HTTP ``scope``."""
    client = scope.get("client")
    return limit_subject(str(client[0])) if client else UNKNOWN
