import shutil
import struct
import subprocess
from pathlib import Path

from sockets_core.bus import Bus
from sockets_core.packetfile import PacketFileWriter
from sockets_core.packetlog import PacketLog
from sockets_core.pcap import LINKTYPE_RAW, to_pcap

SERVER = ("127.0.0.1", 8888)
CLIENT = ("127.0.0.1", 50000)


def records(data: bytes) -> list[tuple[bytes, int]]:
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xA1B2C3D4 and linktype == LINKTYPE_RAW
    out, offset = [], 24
    while offset < len(data):
        _, _, incl, orig = struct.unpack("<IIII", data[offset:offset + 16])
        out.append((data[offset + 16:offset + 16 + incl], orig))
        offset += 16 + incl
    return out


def tcp_fields(frame: bytes) -> tuple[int, int, int, bytes]:
    ihl = (frame[0] & 0x0F) * 4
    seq, ack, _, flags = struct.unpack("!IIBB", frame[ihl + 4:ihl + 14])
    return seq, ack, flags, frame[ihl + 20:]


def test_tcp_connection_becomes_a_consistent_stream() -> None:
    log = PacketLog()
    log.record("tcp_chat", "tcp", "open", "in", SERVER, CLIENT)
    log.record("tcp_chat", "tcp", "data", "out", SERVER, CLIENT, b"welcome\n")
    log.record("tcp_chat", "tcp", "data", "in", SERVER, CLIENT, b"hi\n")
    log.record("tcp_chat", "tcp", "close", "in", SERVER, CLIENT, b"", "TCP close by peer")
    frames = records(b"".join(to_pcap(log.events())))
    flags = [tcp_fields(f)[2] for f, _ in frames]
    assert flags[:3] == [0x02, 0x12, 0x10]  # SYN, SYN-ACK, ACK
    assert flags[3:5] == [0x18, 0x18] and flags[5:] == [0x11, 0x11, 0x10]
    syn_seq = tcp_fields(frames[0][0])[0]
    synack_seq = tcp_fields(frames[1][0])[0]
    welcome = tcp_fields(frames[3][0])
    hi = tcp_fields(frames[4][0])
    assert welcome[0] == synack_seq + 1 and welcome[3] == b"welcome\n"
    assert hi[0] == syn_seq + 1 and hi[1] == synack_seq + 1 + len(b"welcome\n") and hi[3] == b"hi\n"
    assert tcp_fields(frames[5][0])[0] == syn_seq + 1 + 3  # the client's FIN after its 3 bytes


def test_long_payloads_are_truncated_with_their_true_length() -> None:
    log = PacketLog()
    log.record("tftp", "udp", "data", "out", ("127.0.0.1", 69), CLIENT, b"\x00\x03\x00\x01" + b"x" * 512)
    [(frame, original)] = records(b"".join(to_pcap(log.events())))
    assert original == 20 + 8 + 516 and len(frame) == 20 + 8 + 256
    assert struct.unpack("!H", frame[2:4])[0] == 20 + 8 + 516  # the IP header tells the full size


def test_a_connection_whose_start_was_evicted_still_gets_a_handshake() -> None:
    log = PacketLog()
    log.record("tcp_chat", "tcp", "data", "in", SERVER, CLIENT, b"middle\n")
    flags = [tcp_fields(f)[2] for f, _ in records(b"".join(to_pcap(log.events())))]
    assert flags == [0x02, 0x12, 0x10, 0x18]


def test_ipv6_frames() -> None:
    log = PacketLog()
    log.record("udp_chat", "udp", "data", "in", ("::1", 8989), ("::1", 5000), b"hi")
    [(frame, _)] = records(b"".join(to_pcap(log.events())))
    assert frame[0] >> 4 == 6 and frame[6] == 17


def test_rings_are_per_service_so_a_bulk_flow_keeps_the_chat() -> None:
    log = PacketLog(capacity=100)
    log.record("tcp_chat", "tcp", "data", "in", SERVER, CLIENT, b"important line\n")
    for i in range(10_000):
        log.record("tftp", "udp", "data", "out", ("127.0.0.1", 69), CLIENT, b"x")
    assert [e.payload for e in log.events(service="tcp_chat")] == [b"important line\n"]
    assert len(log.events(service="tftp")) == 100 and len(log) == 101
    assert [e.service for e in log.events()][0] == "tcp_chat"  # merged in time order
    assert len(log.events(peer="127.0.0.1:50000")) == 101 and log.events(peer="10.0.0.1") == []


def test_packet_file_rotates(tmp_path: Path) -> None:
    bus = Bus()
    log = PacketLog(bus)
    writer = PacketFileWriter(bus, tmp_path / "packets.jsonl", max_bytes=2000)
    writer._greenlet.kill()  # drive the writer by hand
    for _ in range(5):
        for i in range(10):
            log.record("udp_chat", "udp", "data", "in", SERVER, CLIENT, b"payload %d" % i)
        writer.write_batch(writer._sub.get_batch(timeout=0))
    writer.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files[0] == "packets.jsonl" and "packets.jsonl.1" in files and len(files) <= 4
    lines = (tmp_path / "packets.jsonl.1").read_text().splitlines()
    assert lines and all(line.startswith('{"id":') for line in lines)


def test_events_larger_than_an_ip_packet_are_split() -> None:
    log = PacketLog()
    log.record("file", "tcp", "open", "in", SERVER, CLIENT)
    log.record("file", "tcp", "data", "out", SERVER, CLIENT, 1 << 20, "sendfile")
    frames = records(b"".join(to_pcap(log.events())))
    data = frames[3:]
    assert sum(orig - 40 for _, orig in data) == 1 << 20 and all(orig <= 65535 for _, orig in data)
    seqs = [tcp_fields(f)[0] for f, _ in data]
    assert all(b - a == 65495 for a, b in zip(seqs, seqs[1:]))


def test_a_client_port_used_twice_gets_new_sequence_numbers() -> None:
    log = PacketLog()
    for _ in range(2):
        log.record("tcp_chat", "tcp", "open", "in", SERVER, CLIENT)
        log.record("tcp_chat", "tcp", "close", "in", SERVER, CLIENT, b"", "TCP close by peer")
    syns = [tcp_fields(f)[0] for f, _ in records(b"".join(to_pcap(log.events()))) if tcp_fields(f)[2] == 0x02]
    assert len(syns) == 2 and syns[0] != syns[1]


def test_peer_filter_and_limit_zero() -> None:
    log = PacketLog()
    log.record("udp_chat", "udp", "data", "in", ("::1", 8989), ("::1", 50000), b"v6")
    log.record("udp_chat", "udp", "data", "in", SERVER, CLIENT, b"v4")
    assert [e.payload for e in log.events(peer="[::1]:50000")] == [b"v6"]
    assert [e.payload for e in log.events(peer="::1")] == [b"v6"]
    assert [e.payload for e in log.events(peer="127.0.0.1")] == [b"v4"]
    assert log.events(limit=0) == [] and len(log.events(limit=1)) == 1


def test_the_file_is_written_as_the_events_are_read() -> None:
    log = PacketLog()
    for i in range(1_000):
        log.record("udp_chat", "udp", "data", "in", SERVER, CLIENT, b"%d" % i)
        log.record("web_chat", "ws", "data", "in", SERVER, CLIENT, b"not in a pcap")
    read = 0

    def source():  # type: ignore[no-untyped-def]
        nonlocal read
        for event in log.iter_events():
            read += 1
            yield event

    chunks = to_pcap(source(), events_per_chunk=100)
    header, first = next(chunks), next(chunks)
    assert len(header) == 24 and len(records(header + first)) == 50 and read == 100
    rest = list(chunks)
    assert read == 2_000 and len(rest) == 19 and all(rest)  # never an empty chunk
    assert len(records(header + first + b"".join(rest))) == 1_000


def _tshark(pcap: Path, *args: str) -> list[list[str]]:
    assert shutil.which("tshark"), "tshark is missing: run make test (tests/tools/ensure_peers.sh installs it)"
    out = subprocess.run(["tshark", "-r", str(pcap), *args], check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines()]


def test_a_connection_sockdash_opened_has_its_syn_from_sockdash(tmp_path: Path) -> None:
    """The TCP client tool connects out: in the export the SYN goes from its port to the
    server's, and tshark sees its request as the client's (not client and server swapped)."""
    from gevent import socket

    from sockets_core.tools.sessions import ToolManager

    packetlog = PacketLog()
    manager = ToolManager(Bus(), packetlog, "127.0.0.1", lambda: set())
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        client = manager.open("tcp-client", "127.0.0.1", server.getsockname()[1])
        accepted, _ = server.accept()
        client.send(b"GET / HTTP/1.0\r\n\r\n", None)
        assert accepted.recv(100) == b"GET / HTTP/1.0\r\n\r\n"
        accepted.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
        accepted.close()
        client._greenlets[-1].join(5)  # the reader sees the close and taps it
        pcap = tmp_path / "tools.pcap"
        pcap.write_bytes(b"".join(to_pcap(packetlog.events(service="tools"))))
        tool_port, server_port = str(client.local[1]), str(server.getsockname()[1])
        syn = _tshark(pcap, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0", "-T", "fields",
                      "-e", "tcp.srcport", "-e", "tcp.dstport")
        assert syn == [[tool_port, server_port]]
        requests = _tshark(pcap, "-d", f"tcp.port=={server_port},http", "-Y", "http.request",
                           "-T", "fields", "-e", "tcp.srcport")
        assert requests == [[tool_port]]
        assert _tshark(pcap, "-Y", "tcp.analysis.flags && !tcp.analysis.window_update") == []
    finally:
        server.close()
        manager.close_all()
