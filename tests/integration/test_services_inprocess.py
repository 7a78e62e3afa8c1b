"""Services in-process on free loopback ports (gevent sockets, no monkey-patching needed)."""

import errno
from pathlib import Path

import gevent
import pytest
from gevent import socket

from sockets_core import services as services_module
from sockets_core.servers.listen import BindError
from sockets_core.services import Services
from tests.harness import make_services, wait_for
from webapp.cli import banner


def make(tmp_path: Path, **overrides: object) -> Services:
    return make_services(tmp_path, **overrides)  # type: ignore[no-any-return]


def test_start_status_and_stop(tmp_path: Path) -> None:
    svc = make(tmp_path, disabled=frozenset({"file"}))
    svc.start_all()
    try:
        status = svc.status()["services"]
        assert status["file"]["running"] is False and status["file"]["disabled"] is True
        port = status["tcp_chat"]["port"]
        assert status["tcp_chat"]["running"] and port != 0
        client = socket.create_connection(("127.0.0.1", port))
        client.recv(1024)
        client.sendall(b"hi\n")
        wait_for(lambda: svc.status()["services"]["tcp_chat"]["bytes_in"] == 3, what="the 3 bytes counted",
                 sleep=gevent.sleep)
        counters = svc.status()["services"]["tcp_chat"]
        assert counters["clients"] == 1 and counters["bytes_in"] == 3 and counters["packets_out"] == 1
        client.close()
        wait_for(lambda: svc.status()["services"]["tcp_chat"]["clients"] == 0, what="the client gone",
                 sleep=gevent.sleep)
    finally:
        svc.stop_all()
    assert not any(svc.running(n) for n in ("tcp_chat", "udp_chat", "tftp"))


def test_restart_keeps_the_bound_port(tmp_path: Path) -> None:
    svc = make(tmp_path)
    svc.start_all()
    try:
        port = svc.endpoints["udp_chat"].port
        svc.stop("udp_chat")
        assert svc.status()["services"]["udp_chat"]["running"] is False
        assert svc.start("udp_chat").port == port
    finally:
        svc.stop_all()


def test_a_port_in_use_stops_what_was_started_and_names_the_service(tmp_path: Path) -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    services = make(tmp_path, tftp_port=taken.getsockname()[1])
    with pytest.raises(BindError) as info:
        services.start_all()
    taken.close()
    assert "tftp" in str(info.value) and "already in use" in str(info.value)
    assert not any(services.running(n) for n in ("tcp_chat", "udp_chat", "file"))


def test_tftp_falls_back_to_6969_when_69_needs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_udp_socket = services_module.udp_socket

    def udp_socket(service: str, host: str, port: int):  # type: ignore[no-untyped-def]
        if port == 69:
            raise BindError(service, host, port, OSError(errno.EACCES, "Permission denied"))
        return real_udp_socket(service, host, port)

    monkeypatch.setattr(services_module, "udp_socket", udp_socket)
    monkeypatch.setattr(services_module, "TFTP_FALLBACK_PORT", 0)  # any free port stands in for 6969
    svc = make(tmp_path, tftp_port=69)
    svc.start_all()
    try:
        tftp = svc.status()["services"]["tftp"]
        assert tftp["running"] and tftp["port"] not in (0, 69)
        assert "port 69 needs root" in tftp["note"]
        svc.http = services_module.Endpoint("127.0.0.1", 8000)
        text = banner(svc.settings, svc, "token-1234", [])
        assert "port 69 needs root" in text
    finally:
        svc.stop_all()


def test_file_client_that_sends_nothing_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sockets_core.servers import file_download

    monkeypatch.setattr(file_download, "FIRST_BYTE_TIMEOUT", 0.2)  # 30 s in production
    svc = make(tmp_path)
    svc.start_all()
    try:
        silent = socket.create_connection(("127.0.0.1", svc.endpoints["file"].port))
        silent.settimeout(5)
        assert silent.recv(1024) == b""  # closed by the server, no data
        silent.close()
        events = [e for e in svc.packetlog.events() if e.service == "file"]
        assert [e.kind for e in events] == ["open", "close"] and events[-1].summary == "TCP close by us"
    finally:
        svc.stop_all()


def test_udp_chat_restart_leaves_no_ghosts(tmp_path: Path) -> None:
    svc = make(tmp_path)
    svc.start_all()
    try:
        port = svc.endpoints["udp_chat"].port
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.bind(("127.0.0.1", 0))
        client.sendto(b"/nick ghost", ("127.0.0.1", port))
        client.settimeout(5)
        assert client.recvfrom(100)[0] == b"* you are now ghost\n"
        svc.stop("udp_chat")
        assert svc.hub.find("ghost") is None
        svc.start("udp_chat")
        client.sendto(b"/nick ghost", ("127.0.0.1", port))
        assert client.recvfrom(100)[0] == b"* you are now ghost\n"
        client.close()
    finally:
        svc.stop_all()


def test_stopping_tcp_chat_disconnects_its_clients(tmp_path: Path) -> None:
    svc = make(tmp_path)
    svc.start_all()
    try:
        client = socket.create_connection(("127.0.0.1", svc.endpoints["tcp_chat"].port))
        client.recv(1024)
        svc.stop("tcp_chat", timeout=0.2)
        client.settimeout(5)
        assert client.recv(1024) == b""
        client.close()
    finally:
        svc.stop_all()


def test_failed_tftp_upload_keeps_nothing_and_is_recorded_as_failed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sockets_core.files import AtomicWriter
    from sockets_core.tftp.packets import WRQ, decode, encode_data, encode_request

    real_write = AtomicWriter.write

    def disk_full_after_1k(self: AtomicWriter, data: bytes) -> int:
        if self.size + len(data) > 1024:
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(AtomicWriter, "write", disk_full_after_1k)
    svc = make(tmp_path, tftp_write=True)
    svc.start_all()
    try:
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.settimeout(5)
        client.sendto(encode_request(WRQ, "big.bin", "octet"), ("127.0.0.1", svc.endpoints["tftp"].port))
        _, server = client.recvfrom(100)  # ACK 0 from the transfer's own port
        reply = b""
        for block in range(1, 5):
            client.sendto(encode_data(block, b"x" * 512), server)
            reply = client.recvfrom(600)[0]
            if reply[:2] == b"\x00\x05":
                break
        assert decode(reply).code == 0 and "Server error" in decode(reply).message  # type: ignore[union-attr]
        # the part file is removed before the transfer's record gets its result
        wait_for(lambda: [r for r in svc.transfers.snapshot() if r.get("result")], what="the upload's result",
                 sleep=gevent.sleep)
        assert sorted(p.name for p in tmp_path.iterdir()) == []
        [record] = svc.transfers.snapshot()
        assert record["result"].startswith("server error")
        client.close()
    finally:
        svc.stop_all()


def test_a_stranger_gets_error_5_and_the_transfer_goes_on(tmp_path: Path) -> None:
    from sockets_core.tftp.packets import RRQ, Data, Error, decode, encode_ack, encode_request

    (tmp_path / "f.bin").write_bytes(b"x" * 1500)
    svc = make(tmp_path)
    svc.start_all()
    try:
        client, stranger = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
        client.settimeout(5)
        stranger.settimeout(5)
        client.sendto(encode_request(RRQ, "f.bin", "octet"), ("127.0.0.1", svc.endpoints["tftp"].port))
        first, server = client.recvfrom(600)
        assert decode(first) == Data(1, b"x" * 512)
        stranger.sendto(encode_ack(1), server)
        reply = decode(stranger.recvfrom(100)[0])
        assert isinstance(reply, Error) and reply.code == 5
        received = b"x" * 512
        client.sendto(encode_ack(1), server)
        for block in (2, 3):  # 512 + 512 + 476
            data = decode(client.recvfrom(600)[0])
            assert isinstance(data, Data) and data.block == block
            received += data.payload
            client.sendto(encode_ack(block), server)
        assert received == b"x" * 1500
        client.close()
        stranger.close()
    finally:
        svc.stop_all()


def test_a_repeated_request_does_not_start_a_second_transfer(tmp_path: Path) -> None:
    from sockets_core.tftp.packets import RRQ, encode_request

    (tmp_path / "f.bin").write_bytes(b"x" * 600)
    svc = make(tmp_path)
    svc.start_all()
    try:
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.settimeout(0.5)
        for _ in range(3):  # a client retransmitting its RRQ before the first DATA arrived
            client.sendto(encode_request(RRQ, "f.bin", "octet"), ("127.0.0.1", svc.endpoints["tftp"].port))
        sources = set()
        try:
            while True:
                sources.add(client.recvfrom(600)[1])
        except TimeoutError:
            pass
        assert len(sources) == 1  # one transfer, from one port
        assert len(svc.transfers.snapshot()) == 1
        client.close()
    finally:
        svc.stop_all()
