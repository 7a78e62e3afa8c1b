"""ServiceTap: what every adapter calls on each socket event.

One call both counts the event (the service's status: clients, bytes and packets in and
out) and records it in the packet log, so no adapter can do one and forget the other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .addresses import Address
from .packetlog import PacketLog


@dataclass
class TrafficCounters:
    clients: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    packets_in: int = 0
    packets_out: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class ServiceTap:
    def __init__(self, service: str, transport: str, log: PacketLog) -> None:
        self.service = service
        self.transport = transport
        self.counters = TrafficCounters()
        self._log = log

    def opened(self, local: Address, peer: Address, by: str = "peer") -> None:
        """``by`` is "peer" (it connected to us) or "us" (we connected: the pcap's SYN is ours)."""
        self.counters.clients += 1
        self._log.record(self.service, self.transport, "open", "out" if by == "us" else "in", local, peer, b"",
                         f"{self.transport.upper()} connect")

    def closed(self, local: Address, peer: Address, by: str) -> None:
        """``by`` is "peer" (FIN), "reset" or "us"."""
        self.counters.clients -= 1
        direction = "out" if by == "us" else "in"
        self._log.record(self.service, self.transport, "close", direction, local, peer, b"",
                         f"{self.transport.upper()} close by {by}")

    def received(self, local: Address, peer: Address, data: bytes | int, summary: str = "",
                 private: bool = False) -> None:
        """``private``: the bytes carry (part of) a direct message (see PacketEvent.for_viewer)."""
        self.counters.packets_in += 1
        self.counters.bytes_in += data if isinstance(data, int) else len(data)
        self._log.record(self.service, self.transport, "data", "in", local, peer, data, summary, private)

    def sent(self, local: Address, peer: Address, data: bytes | int, summary: str = "",
             private: bool = False) -> None:
        self.counters.packets_out += 1
        self.counters.bytes_out += data if isinstance(data, int) else len(data)
        self._log.record(self.service, self.transport, "data", "out", local, peer, data, summary, private)
