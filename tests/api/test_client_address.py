"""Client addresses: X-Forwarded-For is believed only from trusted proxies, read from the right."""

from __future__ import annotations

import pytest

from hashwall.api.clientaddr import ClientAddressResolver, limit_subject, parse_address

PROXIES = ClientAddressResolver(["10.0.0.0/8", "2001:db8:ffff::/48"])


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    resolver = ClientAddressResolver()
    assert resolver.resolve("198.51.100.7", ["203.0.113.1"]) == "198.51.100.7"


def test_header_from_an_untrusted_peer_is_ignored() -> None:
    assert PROXIES.resolve("198.51.100.7", ["203.0.113.1"]) == "198.51.100.7"


def test_trusted_proxy_names_the_client() -> None:
    assert PROXIES.resolve("10.0.0.2", ["203.0.113.1"]) == "203.0.113.1"


def test_client_cannot_spoof_by_prepending_addresses() -> None:
    # The client sent "X-Forwarded-For: 6.6.6.6"; our proxy appended what it saw.
    assert PROXIES.resolve("10.0.0.2", ["6.6.6.6, 203.0.113.1"]) == "203.0.113.1"


def test_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    header = ["6.6.6.6, 203.0.113.1, 10.1.1.1", "10.2.2.2"]  # two header lines
    assert PROXIES.resolve("10.0.0.2", header) == "203.0.113.1"


def test_all_hops_trusted_gives_the_leftmost() -> None:
    assert PROXIES.resolve("10.0.0.2", ["10.9.9.9, 10.1.1.1"]) == "10.9.9.9"


def test_garbage_stops_the_walk_at_the_last_known_hop() -> None:
    assert PROXIES.resolve("10.0.0.2", ["203.0.113.1, not-an-ip"]) == "10.0.0.2"
    assert PROXIES.resolve("10.0.0.2", []) == "10.0.0.2"


def test_ipv6_ports_and_mapped_addresses_are_normalised() -> None:
    assert PROXIES.resolve("2001:db8:ffff::1", ["[2001:DB8::5]:443"]) == "2001:db8::5"
    assert PROXIES.resolve("::ffff:10.0.0.2", ["203.0.113.1:5555"]) == "203.0.113.1"
    assert PROXIES.resolve(None) == "unknown"
    assert PROXIES.resolve("unix-socket") == "unknown"


def test_asgi_scope_is_read() -> None:
    scope = {
        "type": "http",
        "client": ("10.0.0.2", 50000),
        "headers": [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.1"), (b"host", b"x")],
    }
    assert PROXIES.from_scope(scope) == "203.0.113.1"
    assert PROXIES.from_scope({"type": "http", "client": None, "headers": []}) == "unknown"


@pytest.mark.parametrize(
    ("address", "subject"),
    [
        ("203.0.113.1", "203.0.113.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("unknown", "unknown"),
    ],
)
def test_ipv6_clients_are_limited_per_64(address: str, subject: str) -> None:
    assert limit_subject(address) == subject


def test_bad_trusted_proxy_is_refused() -> None:
    with pytest.raises(ValueError):
        ClientAddressResolver(["not-a-network"])
    assert parse_address(" 192.0.2.1 ") is not None
