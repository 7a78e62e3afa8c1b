"""Batches of datagrams in one system call (servers/mmsg.py) and the TFTP drive sending a
window through them: what arrives is separate datagrams of the right sizes, whichever path."""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import socket as stdsocket
from collections.abc import Iterator

import pytest
from gevent import socket

from sockets_core.packetlog import PacketLog
from sockets_core.servers import mmsg
from sockets_core.servers.tftp_drive import TftpDrive
from sockets_core.tftp.packets import encode_data
from sockets_core.traffic import ServiceTap


@pytest.fixture(autouse=True)
def detect_again() -> Iterator[None]:
    mmsg.force(None)
    yield
    mmsg.force(None)


def window(count: int = 16, blksize: int = 1468, last: int = 100) -> list[bytes]:
    """A TFTP window: ``count - 1`` full blocks and a shorter last one."""
    return [encode_data(n, os.urandom(blksize if n < count else last)) for n in range(1, count + 1)]


def receive_all(sock: stdsocket.socket, count: int) -> list[bytes]:
    sock.settimeout(2)
    got = [sock.recv(65536) for _ in range(count)]
    sock.settimeout(0.05)
    with pytest.raises(TimeoutError):  # and nothing more: no datagram glued or doubled
        sock.recv(65536)
    return got


def pair(family: int = stdsocket.AF_INET) -> tuple[stdsocket.socket, stdsocket.socket]:
    host = "127.0.0.1" if family == stdsocket.AF_INET else "::1"
    receiver, sender = stdsocket.socket(family, stdsocket.SOCK_DGRAM), stdsocket.socket(family, stdsocket.SOCK_DGRAM)
    receiver.bind((host, 0))
    return receiver, sender


@pytest.mark.parametrize("method", [mmsg.GSO, mmsg.SENDMMSG, mmsg.SENDTO])
@pytest.mark.parametrize("family", [stdsocket.AF_INET, stdsocket.AF_INET6])
def test_a_window_arrives_at_a_plain_socket_as_separate_datagrams_of_their_sizes(method: str, family: int) -> None:
    mmsg.force(method)
    packets = window()
    receiver, sender = pair(family)
    with receiver, sender:
        batches = mmsg.BatchSender(sender)
        assert batches.send(packets, receiver.getsockname()) == (16, None)
        assert receive_all(receiver, 16) == packets


@pytest.mark.parametrize("method", [mmsg.GSO, mmsg.SENDMMSG])
def test_a_dual_stack_socket_batches_to_an_ipv4_client(method: str) -> None:
    """--host :: serves IPv4 clients as ::ffff:a.b.c.d (a v4-mapped sockaddr_in6)."""
    mmsg.force(method)
    packets = window()
    receiver = stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    with receiver, stdsocket.socket(stdsocket.AF_INET6, stdsocket.SOCK_DGRAM) as sender:
        sender.setsockopt(stdsocket.IPPROTO_IPV6, stdsocket.IPV6_V6ONLY, 0)
        sender.bind(("::", 0))
        to = ("::ffff:127.0.0.1", receiver.getsockname()[1], 0, 0)
        assert mmsg.BatchSender(sender).send(packets, to) == (16, None)
        assert receive_all(receiver, 16) == packets


def test_this_machine_sends_by_gso_and_says_which(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="sockets_core.servers.mmsg"):
        assert mmsg.detect() == mmsg.GSO  # Linux 4.18+: the tests run on one
        mmsg.detect()
    assert not caplog.records  # silent: services log it once every service is up (test_tftp_batches)
    assert mmsg.describe() == "udp batches: sent by UDP GSO (one sendmsg with UDP_SEGMENT a batch)"


def test_runs_one_gso_send_can_carry() -> None:
    sizes = [1472] * 3 + [100] + [516, 516, 1472]
    runs = mmsg._gso_runs([bytes(n) for n in sizes])
    assert runs == [(0, 4), (4, 6), (6, 7)]  # a shorter last segment joins; a longer one starts anew
    assert mmsg._gso_runs([bytes(516)] * 100) == [(0, 64), (64, 100)]  # the kernel's segment cap
    big = mmsg._gso_runs([bytes(8196)] * 16)
    assert all((end - start) * 8196 <= mmsg.GSO_MAX_BYTES for start, end in big) and big[-1][1] == 16


class RefusesGso(stdsocket.socket):
    """A socket whose route refuses GSO (a segment over the MTU: EINVAL)."""

    gso_tries = 0

    def sendmsg(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        self.gso_tries += 1
        raise OSError(errno.EINVAL, "Invalid argument")


def test_a_refused_gso_falls_back_for_good_and_loses_nothing(caplog: pytest.LogCaptureFixture) -> None:
    mmsg.force(mmsg.GSO)
    receiver, _ = pair()
    with receiver, _, RefusesGso(stdsocket.AF_INET, stdsocket.SOCK_DGRAM) as sender:
        batches = mmsg.BatchSender(sender)
        first, second = window(), window()
        with caplog.at_level(logging.INFO, logger="sockets_core.servers.mmsg"):
            assert batches.send(first, receiver.getsockname()) == (16, None)
            assert batches.send(second, receiver.getsockname()) == (16, None)
        assert receive_all(receiver, 32) == first + second
        assert sender.gso_tries == 1 and batches.method == mmsg.SENDMMSG
        assert any("GSO refused (EINVAL)" in r.getMessage() for r in caplog.records)


def test_sendmmsg_meeting_a_full_buffer_waits_through_gevent_and_sends_the_rest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = mmsg._sendmmsg
    calls: list[int] = []

    def full_then_partial(fd: int, messages: int, count: int, flags: int) -> int:
        calls.append(count)
        if len(calls) == 1:  # the send buffer is full
            ctypes.set_errno(errno.EAGAIN)
            return -1
        return real(fd, messages, min(count, 5), flags)  # then room for 5 at a time

    waited: list[int] = []
    monkeypatch.setattr(mmsg, "_sendmmsg", full_then_partial)
    monkeypatch.setattr(socket, "wait_write", lambda fileno, **kw: waited.append(fileno))
    mmsg.force(mmsg.SENDMMSG)
    packets = window()
    receiver = stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    with receiver, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        assert mmsg.BatchSender(sender).send(packets, receiver.getsockname()) == (16, None)
        assert waited == [sender.fileno()]
        assert calls == [16, 16, 11, 6, 1]
        assert receive_all(receiver, 16) == packets


class CountsSends(socket.socket):
    """A gevent socket that counts its send system calls."""

    calls = 0

    def sendto(self, *args):  # type: ignore[no-untyped-def, override]
        self.calls += 1
        return super().sendto(*args)

    def sendmsg(self, *args):  # type: ignore[no-untyped-def, override]
        self.calls += 1
        return super().sendmsg(*args)


def test_the_drive_sends_a_window_in_one_call_and_taps_every_datagram() -> None:
    log = PacketLog()
    packets = window()
    receiver = stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    with receiver, CountsSends(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        drive = TftpDrive(sock, ServiceTap("tftp", "udp", log), peer=receiver.getsockname())
        drive.send_all(packets)
        assert sock.calls == 1
        assert receive_all(receiver, 16) == packets
    assert [e.length for e in log.events()] == [len(p) for p in packets]


class FailsSecondSend(socket.socket):
    sends = 0

    def sendto(self, *args):  # type: ignore[no-untyped-def, override]
        self.sends += 1
        if self.sends == 2:
            raise OSError(errno.ENOBUFS, "No buffer space available")
        return super().sendto(*args)


@pytest.mark.parametrize("quiet", [True, False])
def test_a_failed_datagram_is_dropped_or_raised_and_only_what_went_is_tapped(quiet: bool) -> None:
    mmsg.force(mmsg.SENDTO)
    log = PacketLog()
    packets = window(4)
    receiver = stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    with receiver, FailsSecondSend(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        drive = TftpDrive(sock, ServiceTap("tftp", "udp", log), peer=receiver.getsockname(), quiet_send_errors=quiet)
        if quiet:
            drive.send_all(packets)
            expected = [packets[0], *packets[2:]]  # the one that failed is dropped; the timer resends it
        else:
            with pytest.raises(OSError):
                drive.send_all(packets)
            expected = packets[:1]
        assert receive_all(receiver, len(expected)) == expected
    assert [e.length for e in log.events()] == [len(p) for p in expected]


def test_a_name_instead_of_an_address_is_sent_one_by_one() -> None:
    mmsg.force(mmsg.SENDMMSG)
    receiver, sender = pair()
    with receiver, sender:
        packets = window(3)
        assert mmsg.BatchSender(sender).send(packets, ("localhost", receiver.getsockname()[1])) == (3, None)
        assert receive_all(receiver, 3) == packets

