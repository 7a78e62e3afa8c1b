"""The pieces of the DNS-rebinding check: Host parsing, the guard, its addresses, its log lines, its flag."""

from pathlib import Path

import pytest

from sockets_core.netinfo import _linux_local_ipv4, local_addresses
from sockets_core.settings import SettingsError, parse_settings
from webapp.hosts import ADDRESS_REFRESH, HostGuard, host_name


@pytest.mark.parametrize("header, name", [
    ("localhost", "localhost"), ("LocalHost:8000", "localhost"), ("dash.lan.:80", "dash.lan"),
    ("[::1]:8000", "::1"), ("[FD00::2]", "fd00::2"), ("192.168.1.20:8000", "192.168.1.20"),
    ("", None), ("[::1", None), ("host:port", None), ("a b", None), ("u@host", None), ("host/x", None),
    (":8000", None),
])
def test_host_name(header: str, name: str | None) -> None:
    assert host_name(header) == name


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_guard_rereads_the_machine_addresses_at_most_every_refresh_interval() -> None:
    machine = {"127.0.0.1", "10.0.0.5"}
    reads: list[int] = []

    def addresses() -> set[str]:
        reads.append(1)
        return set(machine)

    clock = Clock()
    guard = HostGuard([], "0.0.0.0", addresses=addresses, clock=clock)
    assert guard.allows("10.0.0.5") and not guard.allows("10.0.0.6")
    machine.add("10.0.0.6")  # a new DHCP lease
    assert not guard.allows("10.0.0.6") and len(reads) == 1  # not re-read within the interval
    clock.now += ADDRESS_REFRESH
    assert guard.allows("10.0.0.6") and len(reads) == 2
    clock.now += ADDRESS_REFRESH
    assert not guard.allows("evil.example") and len(reads) == 2  # a name never costs a re-read


def test_guard_names_addresses_and_wildcard() -> None:
    guard = HostGuard(["dash.lan", "fd00::9"], "192.168.7.7", addresses=lambda: {"127.0.0.1"})
    for name in ("localhost", "x.localhost", "127.9.9.9", "::1", "::ffff:127.0.0.1", "dash.lan", "fd00::9",
                 "192.168.7.7"):
        assert guard.allows(name), name
    for name in ("evil.example", "localhost.evil.example", "192.168.7.8", "fd00::8"):
        assert not guard.allows(name), name
    assert HostGuard(["*"], addresses=set).allows("evil.example")


def test_guard_allows_this_machines_own_name() -> None:
    import socket

    name = socket.gethostname().lower()
    guard = HostGuard([], addresses=set)
    assert guard.allows(name) and guard.allows(name + ".local")


FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 192.168.1.0/24 2 0 2
        |-- 192.168.1.0
           /24 link UNICAST
        |-- 192.168.1.20
           /32 host LOCAL
        |-- 192.168.1.21
           /32 host LOCAL
        |-- 192.168.1.255
           /32 link BROADCAST
Local:
  +-- 127.0.0.0/8 2 0 2
     |-- 127.0.0.1
        /32 host LOCAL
     |-- 192.168.1.20
        /32 host LOCAL
"""


def test_local_ipv4_sees_secondary_addresses(tmp_path: Path) -> None:
    trie = tmp_path / "fib_trie"
    trie.write_text(FIB_TRIE)
    assert _linux_local_ipv4(str(trie)) == ["192.168.1.20", "192.168.1.21", "127.0.0.1"]
    assert _linux_local_ipv4(str(tmp_path / "missing")) == []


def test_local_addresses_include_loopback_and_the_lan() -> None:
    from sockets_core.netinfo import lan_addresses

    found = local_addresses()
    assert {"127.0.0.1", "::1"} <= found
    assert set(lan_addresses(include_ipv6=True)) <= found


def test_allowed_host_flag_and_environment() -> None:
    settings = parse_settings(["--allowed-host", "Dash.LAN.", "--allowed-host", "[FD00::1]"], {})
    assert settings.allowed_hosts == ("dash.lan", "fd00::1")
    assert parse_settings([], {"SOCKDASH_ALLOWED_HOST": "a.lan, *"}).allowed_hosts == ("a.lan", "*")
    assert parse_settings([], {}).allowed_hosts == ()
    for bad in ("dash.lan:8000", "http://dash.lan", ""):
        with pytest.raises(SettingsError, match="--allowed-host"):
            parse_settings(["--allowed-host", bad], {})
    with pytest.raises(SettingsError, match="SOCKDASH_ALLOWED_HOST"):
        parse_settings([], {"SOCKDASH_ALLOWED_HOST": "a.lan:80"})
