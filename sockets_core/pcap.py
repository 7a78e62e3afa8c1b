"""Packet-log events as a pcap file that Wireshark and tshark open.

The log holds what the sockets saw (connects, segments as recv/send returned them,
datagrams, closes), not raw frames, so the frames are synthesised:

- link type RAW (101): each record starts with an IPv4 or IPv6 header, no Ethernet;
- a UDP event is one datagram with its true addresses and ports;
- a TCP connection becomes a stream: SYN / SYN-ACK / ACK at its start (also when the
  log only has its middle), the SYN from the side that opened it (an "open" event "in":
  the peer connected to us; "out": we connected, as the TCP client tool does; with the
  start lost, the peer), one PSH-ACK segment per recv or send with sequence and
  acknowledgement numbers that add up, and FIN / ACK (or RST) at its close, from the
  side that closed, so "Follow TCP stream" shows the conversation;
- a payload longer than the log keeps (256 bytes) is written truncated, with the
  original length in the record header, as a capture with a snap length would be;
  sequence numbers still advance by the full length;
- a direct message exported for a viewer without the admin token (PacketEvent.for_viewer)
  has no payload left: its frames are cut after the headers the same way, with the true
  length in the IP header and the record, so sequence numbers, "Follow TCP stream" and
  the analysis flags stay right and the conversation shows a gap, not made-up bytes
  (zero-filling would show bytes that were never sent).

The file is written as it is read: ``to_pcap`` walks its events once, keeping only the
sequence numbers of open connections, and hands out the frames of EVENTS_PER_CHUNK events
at a time (one write each, instead of one per frame).

WebSocket events (the web chat) are messages, not segments: they are left out here
and exported in the JSON lines.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from .addresses import Address
from .packetlog import PacketEvent

LINKTYPE_RAW = 101
SNAPLEN = 65535
SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10
MAX_SEGMENT = 65495  # an IPv4 packet's 65,535 bytes less the IP and TCP headers
EVENTS_PER_CHUNK = 200


def file_header() -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_RAW)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@lru_cache(maxsize=4096)
def _packed_pair(src: str, dst: str) -> tuple[bytes, bytes]:
    """Both addresses as 4 bytes (both IPv4) or 16; parsing them was half an export's time."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4 and d.version == 4:
        return s.packed, d.packed
    s6 = s if s.version == 6 else ipaddress.IPv6Address(f"::ffff:{s}")
    d6 = d if d.version == 6 else ipaddress.IPv6Address(f"::ffff:{d}")
    return s6.packed, d6.packed


def _ip_header(src: str, dst: str, proto: int, payload_len: int) -> bytes:
    s, d = _packed_pair(src, dst)
    if len(s) == 4:
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0x4000, 64, proto, 0, s, d)
        return header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return struct.pack("!IHBB16s16s", 6 << 28, payload_len, proto, 64, s, d)


def _record(time_us: int, frame: bytes, original_len: int) -> bytes:
    return struct.pack("<IIII", time_us // 1_000_000, time_us % 1_000_000, len(frame), original_len) + frame


def _udp(event: PacketEvent, src: Address, dst: Address) -> bytes:
    udp_len = min(8 + event.length, 65515)  # no datagram is larger; guard the 16-bit fields
    header = struct.pack("!HHHH", src[1], dst[1], udp_len & 0xFFFF, 0)
    ip = _ip_header(src[0], dst[0], 17, udp_len)
    return _record(event.time_us, ip + header + event.payload, len(ip) + udp_len)


@dataclass
class _Stream:
    client: Address  # who sent the SYN: the peer of a connection sockdash accepted, sockdash for one it opened
    server: Address
    next_seq: dict[Address, int]  # per sending side


class TcpSynthesizer:
    """Keeps sequence numbers per connection while events go by."""

    def __init__(self) -> None:
        self._streams: dict[tuple[Address, Address], _Stream] = {}  # by (peer, local)
        self._connections = 0  # so that a client port used again gets new sequence numbers

    @staticmethod
    def _segment(stream: _Stream, time_us: int, src: Address, dst: Address, flags: int, payload: bytes = b"",
                 length: int = 0) -> bytes:
        seq, ack = stream.next_seq[src], stream.next_seq[dst]
        header = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                             5 << 4, flags | (ACK if flags != SYN else 0), 65535, 0, 0)
        stream.next_seq[src] = seq + length + (1 if flags & (SYN | FIN) else 0)
        ip = _ip_header(src[0], dst[0], 6, 20 + length)
        return _record(time_us, ip + header + payload, len(ip) + 20 + length)

    def _open(self, time_us: int, key: tuple[Address, Address], client: Address, server: Address) -> Iterator[bytes]:
        self._connections += 1
        base = ((hash((client, server)) + self._connections * 0x9E3779B1) & 0xFFFFFF) * 64
        stream = self._streams[key] = _Stream(client, server, {client: base + 1000, server: base + 500_000})
        yield self._segment(stream, time_us, client, server, SYN)
        # SYN-ACK: the server's SYN acknowledges the client's
        seq = stream.next_seq[server]
        header = struct.pack("!HHIIBBHHH", server[1], client[1], seq, stream.next_seq[client] & 0xFFFFFFFF,
                             5 << 4, SYN | ACK, 65535, 0, 0)
        stream.next_seq[server] = seq + 1
        ip = _ip_header(server[0], client[0], 6, 20)
        yield _record(time_us, ip + header, len(ip) + 20)
        yield self._segment(stream, time_us, client, server, ACK)

    def frames(self, event: PacketEvent) -> Iterator[bytes]:
        peer, local = event.peer, event.local
        key = (peer, local)
        if event.kind == "open":
            # direction "out": sockdash opened it (a TCP client tool), so the SYN is ours
            client, server = (local, peer) if event.direction == "out" else (peer, local)
            yield from self._open(event.time_us, key, client, server)
            return
        if key not in self._streams:
            # the log lost its start: who opened it is unknown; most connections are accepted ones
            yield from self._open(event.time_us, key, peer, local)
        stream = self._streams[key]
        # "in" is from the peer: data it sent, a close it made
        src, dst = (peer, local) if event.direction == "in" else (local, peer)
        if event.kind == "data":
            # one recv/send may be larger than an IP packet (a sendfile chunk of 1 MiB): split it
            payload, remaining = event.payload, event.length
            while True:
                length = min(remaining, MAX_SEGMENT)
                yield self._segment(stream, event.time_us, src, dst, PSH | ACK, payload[:length], length)
                payload, remaining = payload[length:], remaining - length
                if remaining <= 0:
                    break
        elif event.kind == "close":
            if "reset" in event.summary:
                yield self._segment(stream, event.time_us, src, dst, RST)
            else:
                yield self._segment(stream, event.time_us, src, dst, FIN | ACK)
                yield self._segment(stream, event.time_us, dst, src, FIN | ACK)
                yield self._segment(stream, event.time_us, src, dst, ACK)
            del self._streams[key]


def to_pcap(events: Iterable[PacketEvent], events_per_chunk: int = EVENTS_PER_CHUNK) -> Iterator[bytes]:
    """The pcap file, chunk by chunk: the header, then the frames of up to
    ``events_per_chunk`` events each (never an empty chunk)."""
    yield file_header()
    tcp = TcpSynthesizer()
    frames: list[bytes] = []
    pending = 0
    for event in events:
        if event.transport == "udp" and event.kind == "data":
            src, dst = (event.peer, event.local) if event.direction == "in" else (event.local, event.peer)
            frames.append(_udp(event, src, dst))
        elif event.transport == "tcp":
            frames.extend(tcp.frames(event))
        pending += 1
        if pending >= events_per_chunk and frames:
            yield b"".join(frames)
            frames.clear()
            pending = 0
    if frames:
        yield b"".join(frames)
