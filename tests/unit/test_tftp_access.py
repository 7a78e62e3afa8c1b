"""Which clients may use TFTP (sockets_core/tftp/access.py)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sockets_core.tftp.access import AccessList


def test_an_empty_list_allows_everyone_and_is_false() -> None:
    everyone = AccessList.from_cidrs([])
    assert not everyone
    assert all(everyone.allows(ip) for ip in ("10.0.0.1", "::1", "2001:db8::1", "not an ip"))
    assert not AccessList.from_cidrs(["", "  "])  # blank items (from "a,,b") are skipped


def test_networks_and_plain_addresses() -> None:
    allowed = AccessList.from_cidrs(["10.0.0.0/8", " 192.0.2.7 ", "2001:db8::/32", "::1"])
    assert allowed
    assert allowed.allows("10.255.0.1") and not allowed.allows("11.0.0.1")
    assert allowed.allows("192.0.2.7") and not allowed.allows("192.0.2.8")  # a plain IP is a /32
    assert allowed.allows("2001:db8:1::5") and not allowed.allows("2001:db9::5")
    assert allowed.allows("::1") and not allowed.allows("::2")  # a plain IPv6 address is a /128


def test_ipv4_mapped_clients_and_networks_are_ipv4() -> None:
    allowed = AccessList.from_cidrs(["10.0.0.0/8", "::ffff:172.16.0.0/108"])
    assert allowed.allows("::ffff:10.0.0.1")  # an IPv4 client on a dual-stack socket
    assert allowed.allows("172.31.255.255") and not allowed.allows("172.32.0.0")
    assert not allowed.allows("::ffff:11.0.0.1")


def test_scoped_and_malformed_client_addresses() -> None:
    allowed = AccessList.from_cidrs(["fe80::/10"])
    assert allowed.allows("fe80::1%eth0")
    assert not allowed.allows("garbage") and not allowed.allows("")


@pytest.mark.parametrize("cidr, message", [
    ("10.0.0.1/8", "'10.0.0.1/8' has host bits set: did you mean 10.0.0.0/8?"),
    ("10.0.0.0/33", "'10.0.0.0/33' is not an IP address or network (like 10.0.0.0/8 or 2001:db8::/32)"),
    ("lab", "'lab' is not an IP address or network (like 10.0.0.0/8 or 2001:db8::/32)"),
    ("2001:db8::1/32", "'2001:db8::1/32' has host bits set: did you mean 2001:db8::/32?"),
])
def test_a_bad_cidr_is_a_clear_value_error(cidr: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        AccessList.from_cidrs(["10.0.0.0/8", cidr])
    assert str(caught.value) == message


@given(st.ip_addresses(v=4), st.integers(0, 32), st.ip_addresses(v=4))
def test_ipv4_membership_is_the_network_s(network_ip, prefix: int, client) -> None:
    network = ipaddress.ip_network(f"{network_ip}/{prefix}", strict=False)
    allowed = AccessList.from_cidrs([str(network)])
    assert allowed.allows(str(client)) == (client in network)
    assert allowed.allows(f"::ffff:{client}") == (client in network)
