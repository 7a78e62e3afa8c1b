"""One host cannot lock the TFTP server or eat its memory; replies never outgrow requests;
a failed upload keeps nothing, not even its folders. The server runs in-process on free
loopback ports (gevent sockets); peers that never acknowledge are plain sockets. The pure
parts (policy, writer, limits table) are tests/unit/test_tftp_limits.py."""

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import gevent
import pytest
from gevent import socket

from sockets_core.bus import Bus
from sockets_core.files import FileStore
from sockets_core.packetlog import PacketLog
from sockets_core.services import Services
from sockets_core.settings import Settings
from sockets_core.tftp.packets import (
    RRQ,
    WRQ,
    Error,
    OptionAck,
    decode,
    encode_ack,
    encode_data,
    encode_error,
    encode_request,
)
from tests.harness import wait_for


@pytest.fixture
def tftp(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Services, tuple[str, int]]]:
    overrides = getattr(request, "param", {})
    values: dict[str, object] = {"host": "127.0.0.1", "root": tmp_path, "tftp_port": 0,
                                 "disabled": frozenset({"tcp_chat", "udp_chat", "file", "syslog"}), **overrides}
    settings = Settings(**values)  # type: ignore[arg-type]
    bus = Bus()
    svc = Services(settings, bus, PacketLog(bus), FileStore(tmp_path, settings.max_upload))
    svc.start_all()
    try:
        yield svc, ("127.0.0.1", svc.endpoints["tftp"].port)
    finally:
        svc.stop_all()


def udp(source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.settimeout(5)
    return sock


def ask(server: tuple[str, int], packet: bytes, source: str = "127.0.0.1") -> tuple[bytes, socket.socket]:
    """Send one request from a new port; the first answer (the caller closes the socket)."""
    sock = udp(source)
    sock.sendto(packet, server)
    return sock.recvfrom(65536)[0], sock


def wait_until(condition: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Let gevent run (the server's greenlets) until ``condition()`` holds."""
    wait_for(condition, timeout, what, sleep=gevent.sleep)


@pytest.mark.parametrize("tftp", [{"tftp_max_per_peer": 3}], indirect=True)
def test_one_host_gets_at_most_its_share_and_another_host_is_still_served(
        tftp: tuple[Services, tuple[str, int]], caplog: pytest.LogCaptureFixture) -> None:
    svc, server = tftp
    (svc.store.root / "pxelinux.0").write_bytes(b"x" * 100_000)  # a PXE request with its options
    rrq = encode_request(RRQ, "pxelinux.0", "octet", {"timeout": "20", "tsize": "0", "blksize": "1456"})
    socks = []
    try:
        with caplog.at_level(logging.WARNING, "sockets_core.servers.tftp"):
            for _ in range(3):  # never acknowledged: they hold their slots
                first, sock = ask(server, rrq)
                socks.append(sock)
                assert isinstance(decode(first), OptionAck)
            for _ in range(5):
                refused, sock = ask(server, rrq)
                socks.append(sock)
                assert decode(refused) == Error(0, "too many transfers from your address")
            served, sock = ask(server, rrq, source="127.0.0.2")
            socks.append(sock)
            assert isinstance(decode(served), OptionAck)
        warnings = [r.getMessage() for r in caplog.records if "--tftp-max-per-peer" in r.getMessage()]
        assert len(warnings) == 1 and "127.0.0.1 has 3 transfers" in warnings[0]  # rate-limited
        assert svc.status()["services"]["tftp"]["clients"] == 4
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("tftp", [{"tftp_window_bytes_total": 24 * 65464}], indirect=True)
def test_the_windows_of_all_downloads_together_are_capped(
        tftp: tuple[Services, tuple[str, int]], caplog: pytest.LogCaptureFixture) -> None:
    svc, server = tftp
    (svc.store.root / "big.bin").write_bytes(b"y" * (4 << 20))
    greedy = encode_request(RRQ, "big.bin", "octet", {"blksize": "65464", "windowsize": "65535"})
    socks = []
    try:
        with caplog.at_level(logging.WARNING, "sockets_core.servers.tftp"):
            granted = []
            for _ in range(3):
                oack, sock = ask(server, greedy)
                socks.append(sock)
                granted.append(decode(oack).options["windowsize"])  # type: ignore[union-attr]
        assert granted == ["16", "8", "1"]  # 1 MiB each by --tftp-window-bytes, then what is left
        assert any("--tftp-window-bytes-total" in r.getMessage() for r in caplog.records)
        assert any("--tftp-window-bytes 1048576" in r.getMessage() for r in caplog.records)
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("tftp", [{"tftp_write": True}], indirect=True)
@pytest.mark.parametrize("request_bytes", [
    encode_request(RRQ, "f.bin", "octet")[:-6] + b"x" * 300 + b"\0",  # a long unknown mode was echoed 4x
    encode_request(RRQ, "f.bin", "octet")[:-6] + b"\xff" * 300 + b"\0",
    b"\x00\x01" + b"\x01" * 40,  # no NUL
    encode_request(RRQ, "no", "octet"),  # not found
    encode_request(RRQ, "../x", "octet"),  # access violation
    encode_request(WRQ, "f.bin", "octet", {"tsize": str(1 << 40)}),  # over the upload limit
])
def test_an_error_reply_is_never_larger_than_the_request(tftp: tuple[Services, tuple[str, int]],
                                                         request_bytes: bytes) -> None:
    reply, sock = ask(tftp[1], request_bytes)
    sock.close()
    assert isinstance(decode(reply), Error) and len(reply) <= len(request_bytes)


@pytest.mark.parametrize("tftp", [{"tftp_write": True, "max_upload": 1000}], indirect=True)
def test_a_failed_or_abandoned_upload_removes_the_folders_it_created(tftp: tuple[Services, tuple[str, int]]) -> None:
    svc, server = tftp
    root = svc.store.root
    (root / "kept").mkdir()
    refused, sock = ask(server, encode_request(WRQ, "new/deeper/f.bin", "octet", {"tsize": "5000"}))
    sock.close()
    assert decode(refused).code == 3  # type: ignore[union-attr]
    sock = udp()
    try:  # an upload that starts, then the client gives up
        sock.sendto(encode_request(WRQ, "kept/made/f.bin", "octet"), server)
        _, transfer_port = sock.recvfrom(100)  # ACK 0 from the transfer's own port
        sock.sendto(encode_data(1, b"a" * 512), transfer_port)
        sock.recvfrom(100)
        assert (root / "kept" / "made").is_dir()  # the upload is under way in its new folder
        sock.sendto(encode_error(0, "user cancelled"), transfer_port)
        wait_until(lambda: any(r["result"] and "cancelled" in r["result"] for r in svc.transfers.snapshot()))
    finally:
        sock.close()
    wait_until(lambda: not (root / "kept" / "made").exists())
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == ["kept"]


@pytest.mark.parametrize("tftp", [{"tftp_write": True, "tftp_max_per_peer": 1}], indirect=True)
def test_a_finished_upload_lingers_for_a_late_repeat_without_holding_a_slot(
        tftp: tuple[Services, tuple[str, int]]) -> None:
    """tftp-hpa repeats its last DATA after 5 s when our final ACK was lost: the old 1 s of
    lingering had closed the port by then and the client failed an upload we had kept."""
    svc, server = tftp
    sock = udp()
    try:
        sock.sendto(encode_request(WRQ, "cfg.txt", "octet"), server)
        _, transfer_port = sock.recvfrom(100)
        sock.sendto(encode_data(1, b"hostname sw1\n"), transfer_port)
        final = sock.recvfrom(100)[0]  # ... which the client does not get, say
        wait_until(lambda: (svc.store.root / "cfg.txt").exists())
        again, other = ask(server, encode_request(RRQ, "cfg.txt", "octet", {"tsize": "0"}))
        other.close()
        assert isinstance(decode(again), OptionAck)  # the slot (1 per IP here) is free again
        # Not a synchronisation: the time passing is the behaviour under test (the transfer still
        # answers past the old lingering second; tftp-hpa's client repeats after its 5 s timer).
        gevent.sleep(1.5)
        sock.sendto(encode_data(1, b"hostname sw1\n"), transfer_port)
        assert sock.recvfrom(100)[0] == final
    finally:
        sock.close()


@pytest.mark.parametrize("tftp", [{"tftp_requests_per_peer": 5}], indirect=True)
def test_repeated_requests_count_against_the_per_peer_limit(tftp: tuple[Services, tuple[str, int]]) -> None:
    """Each repeat of a request resends the first answer (a 516-byte DATA for a 14-byte RRQ):
    unlimited, a spoofed source would make the server an amplifier."""
    svc, server = tftp
    (svc.store.root / "big.bin").write_bytes(b"x" * 100_000)
    request = encode_request(RRQ, "big.bin", "octet", {})
    answer, sock = ask(server, request)
    try:
        assert decode(answer).__class__.__name__ == "Data"
        for _ in range(100):
            sock.sendto(request, server)
        answers = 0
        sock.settimeout(0.5)
        while True:
            try:
                sock.recvfrom(65536)
            except TimeoutError:
                break
            answers += 1
        assert answers <= 5, f"{answers} answers to 100 repeats with a limit of 5 requests a second"
    finally:
        sock.close()


def test_a_range_without_a_free_port_refuses_from_the_well_known_port(
        tftp: tuple[Services, tuple[str, int]], caplog: pytest.LogCaptureFixture) -> None:
    svc, server = tftp
    (svc.store.root / "boot.cfg").write_text("x")  # the file is there: the port is what is missing
    holder = udp()  # the range's one port, taken
    port = holder.getsockname()[1]
    svc._servers["tftp"].admission.port_range = (port, port)  # type: ignore[attr-defined]
    request = encode_request(RRQ, "boot.cfg", "octet", {"timeout": "5", "tsize": "0"})
    try:
        with caplog.at_level(logging.WARNING, "sockets_core.servers.tftp"):
            for _ in range(3):
                with udp() as sock:
                    sock.sendto(request, server)
                    answer, source = sock.recvfrom(100)
                assert decode(answer) == Error(0, "no free transfer port") and source == server
    finally:
        holder.close()
    assert len([r for r in caplog.records if f"--tftp-port-range {port}:{port}" in r.getMessage()]) == 1
    assert [t["result"] for t in svc.transfers.snapshot()] == ["ERROR 0: no free transfer port"] * 3


@pytest.mark.parametrize("tftp", [{"host": "::", "tftp_allow": ("127.0.0.0/8",), "tftp_port_range": (61990, 61999)}],
                         indirect=True)
def test_the_rules_on_a_dual_stack_socket(tftp: tuple[Services, tuple[str, int]]) -> None:
    """With --host :: an IPv4 client is ::ffff:127.0.0.1: the IPv4 allow list still takes it,
    its transfer port is in the range; ::1 is not in the list."""
    svc, (_, port) = tftp
    (svc.store.root / "boot.cfg").write_text("x" * 10)
    with udp() as sock:
        sock.sendto(encode_request(RRQ, "boot.cfg", "octet"), ("127.0.0.1", port))
        answer, source = sock.recvfrom(100)
        sock.sendto(encode_ack(1), source)
    assert answer == encode_data(1, b"x" * 10) and 61990 <= source[1] <= 61999
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as six:
        six.settimeout(5)
        six.sendto(encode_request(RRQ, "boot.cfg", "octet", {"timeout": "5"}), ("::1", port))
        assert decode(six.recvfrom(100)[0]) == Error(2, "Access violation")
