"""One HOST:PORT parser for every target a user types, and it reads what format_address writes."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sockets_core.addresses import AddressError, format_address, parse_hostport

hostnames = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}", fullmatch=True)
hosts = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str), hostnames)
ports = st.integers(1, 65535)


@given(hosts, ports)
def test_what_format_address_writes_parses_back(host: str, port: int) -> None:
    assert parse_hostport(format_address((host, port))) == (host, port)
    assert parse_hostport(format_address((host, port)), default_port=69) == (host, port)


@given(st.ip_addresses(v=6).map(str))
def test_a_bare_ipv6_address_takes_the_default_port(host: str) -> None:
    if host.count(":") < 2:  # hypothesis's "::" and the like have two colons at least
        return
    assert parse_hostport(host, default_port=69) == (host, 69)
    assert ipaddress.ip_address(parse_hostport(f"[{host}]", 69)[0])


@pytest.mark.parametrize("text, expected", [
    ("[::1]:69", ("::1", 69)),
    ("[::1]", ("::1", 69)),
    ("::1", ("::1", 69)),
    ("fe80::1%eth0", ("fe80::1%eth0", 69)),
    ("10.0.0.7", ("10.0.0.7", 69)),
    ("10.0.0.7:6969", ("10.0.0.7", 6969)),
    ("tftp.example:1069", ("tftp.example", 1069)),
    (" router ", ("router", 69)),
])
def test_the_forms_a_user_types(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text, default_port=69) == expected


@pytest.mark.parametrize("text, default, complaint", [
    ("10.0.0.7", None, "no port"),
    ("::1", None, "no port"),  # the colons are the address's: no port is taken from them
    ("", 69, "no address"),
    (":69", 69, "no host"),
    ("[]:69", 69, "no host"),
    ("host:0", 69, "1-65535"),
    ("host:65536", 69, "1-65535"),
    ("host:http", 69, "1-65535"),
    ("host:", 69, "1-65535"),
    ("host:٦٩", 69, "1-65535"),  # Arabic-Indic digits are digits to str.isdigit, not to us
    ("[::1]:", 69, "1-65535"),
    ("[::1", 69, "closing ]"),
    ("[::1]69", 69, ":PORT or nothing"),
])
def test_bad_input_is_a_clear_error(text: str, default: int | None, complaint: str) -> None:
    with pytest.raises(AddressError, match=complaint):
        parse_hostport(text, default)
