"""Who the client is: the peer address, or ``X-Forwarded-For`` only behind trusted proxies.

A client can write anything into ``X-Forwarded-For``; only what a proxy of ours appended can be
believed. So the header is read only when the direct peer is in
``Settings.trusted_proxies``, and from the right: each trusted proxy appends the address it saw,
and the first address (from the right) that is not a trusted proxy is the client. Whatever a
client put further left is ignored.

The address is a rate-limit subject and nothing else: it is never stored or logged.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

UNKNOWN = "unknown"
# One person commonly holds a whole IPv6 /64; limiting single addresses there limits nobody.
IPV6_SUBJECT_PREFIX = 64


@functools.lru_cache(maxsize=4096)  # pure; the same few peers make most requests
def parse_address(text: str) -> IPAddress | None:
    """An IP address from a header or a peer: bare, ``[v6]:port`` or ``v4:port``; else None."""
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        end = text.find("]")
        text = text[1:end] if end > 0 else ""
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs (``10.0.0.0/8``, ``::1``) as networks; a bad one is a ``ValueError``."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


class ClientAddressResolver:
    """Resolves the client address of a request, believing only the configured proxies."""

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self._trusted = parse_networks(trusted_proxies)

    def is_trusted(self, address: IPAddress) -> bool:
        """True if ``address`` is one of the trusted proxies."""
        return any(address in network for network in self._trusted)

    def resolve(self, peer: str | None, forwarded_for: Sequence[str] = ()) -> str:
        """The client address, from the direct peer and every ``X-Forwarded-For`` header value
        (in the order received). ``"unknown"`` when the peer is not an IP address."""
        current = parse_address(peer) if peer else None
        if current is None:
            return UNKNOWN
        if not self._trusted or not self.is_trusted(current):
            return str(current)
        hops = [hop for value in forwarded_for for hop in value.split(",")]
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                # Garbage where a trusted proxy should have written an address: stop at the
                # last hop that is known.
                return str(current)
            current = address
            if not self.is_trusted(address):
                return str(address)
        return str(current)  # every hop is a proxy of ours: the request came from inside

    def from_scope(self, scope: Mapping[str, Any]) -> str:
        """The client address of an ASGI HTTP ``scope``."""
        client = scope.get("client")
        peer = str(client[0]) if client else None
        forwarded = [
            value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name.lower() == b"x-forwarded-for"
        ]
        return self.resolve(peer, forwarded)


@functools.lru_cache(maxsize=4096)
def limit_subject(address: str) -> str:
    """The rate-limit subject for a client address: itself for IPv4, its /64 for IPv6."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((parsed, IPV6_SUBJECT_PREFIX), strict=False)
        return str(network)
    return str(parsed) if parsed is not None else address
