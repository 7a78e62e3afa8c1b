"""The syslog service in-process: 514 -> 5514 fallback (one rule with TFTP's 69 -> 6969) and
datagrams into the ring and the packet log. Binds loopback sockets, so it is an integration test."""

import contextlib
import errno
import socket
from pathlib import Path

import gevent
import pytest

from sockets_core import services as services_module
from sockets_core.servers.listen import BindError
from tests import harness

ONLY_SYSLOG = frozenset({"tcp_chat", "udp_chat", "file", "tftp"})  # the services disabled


def test_syslog_takes_5514_when_514_is_taken(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        with contextlib.suppress(OSError):  # else another process holds it: the same situation
            holder.bind(("127.0.0.1", 514))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", 5514))
            except OSError:
                pytest.fail("port 5514 is taken on this machine; the fallback cannot be shown")
        svc = harness.make_services(tmp_path, syslog_port=514, disabled=ONLY_SYSLOG)
        try:
            svc.start_all()
            entry = svc.status()["services"]["syslog"]
            assert entry["running"] and entry["port"] == 5514
            assert entry["note"] == "port 514 is in use; using 5514 instead"
        finally:
            svc.stop_all()


def test_syslog_falls_back_when_514_needs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_udp_socket = services_module.udp_socket

    def udp_socket(service: str, host: str, port: int):  # type: ignore[no-untyped-def]
        if port == 514:
            raise BindError(service, host, port, OSError(errno.EACCES, "Permission denied"))
        return real_udp_socket(service, host, port)

    monkeypatch.setattr(services_module, "udp_socket", udp_socket)
    monkeypatch.setattr(services_module, "SYSLOG_FALLBACK_PORT", 0)  # any free port stands in for 5514
    svc = harness.make_services(tmp_path, syslog_port=514, disabled=ONLY_SYSLOG)
    svc.start_all()
    try:
        entry = svc.status()["services"]["syslog"]
        assert entry["running"] and entry["port"] not in (0, 514)
        assert entry["note"] == f"port 514 needs root; using {services_module.SYSLOG_FALLBACK_PORT} instead"
    finally:
        svc.stop_all()


def test_one_fallback_rule_for_tftp_and_syslog() -> None:
    def error(errno_value: int) -> BindError:
        return BindError("x", "127.0.0.1", 1, OSError(errno_value, "x"))

    fallback = services_module.fallback_port
    assert fallback("tftp", 69, error(errno.EACCES)) == 6969
    assert fallback("tftp", 69, error(errno.EADDRINUSE)) is None  # TFTP as before: in use is an error
    assert fallback("syslog", 514, error(errno.EACCES)) == 5514
    assert fallback("syslog", 514, error(errno.EADDRINUSE)) == 5514  # a system syslogd may hold 514
    assert fallback("syslog", 5000, error(errno.EADDRINUSE)) is None  # only the well-known port falls back
    assert fallback("udp_chat", 8989, error(errno.EACCES)) is None


def test_datagrams_reach_the_ring_and_the_packet_log_with_a_lazy_summary(tmp_path: Path) -> None:
    svc = harness.make_services(tmp_path, disabled=ONLY_SYSLOG)
    svc.start_all()
    try:
        port = svc.endpoints["syslog"].port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"<187>1 2026-11-25T10:00:00Z sw1 stack 12 UPG - image verified", ("127.0.0.1", port))
            sender.sendto(b"<14>" + b"y" * 9000, ("127.0.0.1", port))
        harness.wait_for(lambda: len(svc.syslog) == 2, timeout=2, what="two messages", sleep=gevent.sleep)
        first, second = svc.syslog.query()
        assert (first.message.host, first.message.app, first.message.severity_name) == ("sw1", "stack", "err")
        assert second.truncated and second.length == 9004 and len(second.data) == 8192
        events = [e for e in svc.packetlog.events() if e.service == "syslog"]
        assert len(events) == 2 and events[0].summary == ""  # nothing formatted on the hot path
        assert events[0].to_dict()["summary"] == "syslog err stack: image verified"
        assert svc.status()["services"]["syslog"]["packets_in"] == 2
    finally:
        svc.stop_all()
