"""The addresses the pages advertise are ones the services are bound to."""

from __future__ import annotations

import pytest

from webapp.advertise import advertised_hosts

LAN = ["192.0.2.2"]


@pytest.mark.parametrize("browser_used", ["127.0.0.1", "127.0.0.2", "localhost", "192.0.2.2", "dash.lan"])
def test_a_service_bound_to_one_address_is_advertised_at_that_address_only(browser_used: str) -> None:
    assert advertised_hosts("127.0.0.2", browser_used, LAN) == ["127.0.0.2"]
    assert advertised_hosts("127.0.0.1", browser_used, LAN) == ["127.0.0.1"]
    assert advertised_hosts("fd00::2", browser_used, LAN) == ["fd00::2"]


def test_a_wildcard_bind_advertises_the_lan_addresses_the_one_the_browser_used_first() -> None:
    lan = ["192.0.2.2", "198.51.100.7"]
    assert advertised_hosts("0.0.0.0", "127.0.0.1", lan) == lan
    assert advertised_hosts("0.0.0.0", "localhost", lan) == lan
    assert advertised_hosts("0.0.0.0", "198.51.100.7", lan) == ["198.51.100.7", "192.0.2.2"]
    # a name or an address that reaches us (--allowed-host, a secondary address) comes first
    assert advertised_hosts("0.0.0.0", "dash.lan", lan) == ["dash.lan", *lan]
    assert advertised_hosts("0.0.0.0", "203.0.113.9", lan) == ["203.0.113.9", *lan]


def test_ipv6_lan_addresses_only_when_bound_to_the_ipv6_wildcard() -> None:
    lan = ["192.0.2.2", "fd00::2"]
    assert advertised_hosts("0.0.0.0", "127.0.0.1", lan) == ["192.0.2.2"]
    assert advertised_hosts("::", "127.0.0.1", lan) == lan
    assert advertised_hosts("::", "fd00::2", lan) == ["fd00::2", "192.0.2.2"]
    assert advertised_hosts("::", "::ffff:192.0.2.2", lan) == lan  # IPv4-mapped is the IPv4 address


def test_loopback_only_when_the_machine_has_no_lan_address() -> None:
    assert advertised_hosts("0.0.0.0", "127.0.0.1", []) == ["127.0.0.1"]
    assert advertised_hosts("::", "::1", []) == ["::1"]
