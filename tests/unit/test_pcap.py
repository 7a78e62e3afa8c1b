import struct
from itertools import pairwise
from pathlib import Path

from sockets_core.bus import Bus
from sockets_core.packetfile import PacketFileWriter
from sockets_core.packetlog import PacketLog
from sockets_core.pcap import to_pcap
from tests.harness import pcap_records as records
from tests.harness import pcap_tcp_fields as tcp_fields

SERVER = ("127.0.0.1", 8888)
CLIENT = ("127.0.0.1", 50000)


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
    for _ in range(10_000):
        log.record("tftp", "udp", "data", "out", ("127.0.0.1", 69), CLIENT, b"x")
    assert [e.payload for e in log.events(service="tcp_chat")] == [b"important line\n"]
    assert len(log.events(service="tftp")) == 100 and len(log) == 101
    assert next(e.service for e in log.events()) == "tcp_chat"  # merged in time order
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
    assert all(b - a == 65495 for a, b in pairwise(seqs))


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
