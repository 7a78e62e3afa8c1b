"""UDP chat adapter (port 8989): each datagram is one message into the lobby.

Messages of the room are relayed, one datagram each, to the UDP peers heard from within
``peer_ttl`` seconds, in the encoding each peer last used. A datagram ``bye`` forgets the peer.
"""

from __future__ import annotations

import socket
import time

from gevent.server import DatagramServer

from ..chat.hub import ChatHub, ChatMessage, Member, NickTaken
from ..packetlog import format_address
from ..textcodec import UTF8, decode, encode
from ..traffic import ServiceTap
from .listen import local_address, plain_address

DEFAULT_PEER_TTL = 600.0


class UdpChatServer(DatagramServer):
    def __init__(self, sock: socket.socket, tap: ServiceTap, hub: ChatHub,
                 peer_ttl: float = DEFAULT_PEER_TTL) -> None:
        super().__init__(sock)
        self.tap = tap
        self.hub = hub
        self.peer_ttl = peer_ttl
        self.local = local_address(sock)
        self.peers: dict[tuple, Member] = {}  # type: ignore[type-arg]

    def handle(self, data: bytes, address: tuple) -> None:  # type: ignore[type-arg]
        peer = plain_address(address)
        now = time.time()
        self.tap.received(self.local, peer, data)
        self._expire(now)
        member = self.peers.get(address)
        if member is None:
            member = self._new_member(address, peer)
            if member is None:
                return
        member.extra["seen"] = now
        text, encoding = decode(data)
        if encoding != "escaped":
            member.extra["encoding"] = encoding
        stripped = text.strip()
        if stripped.lower() == "bye":
            self._forget(address)
        elif stripped.startswith("/nick ") and stripped[6:].strip():
            try:
                self.hub.rename(member, stripped[6:].strip())
                self._send(address, member, f"* you are now {member.nick}\n")
            except NickTaken:
                self._send(address, member, f"* error: nick {stripped[6:].strip()} is taken\n")
        elif stripped:
            self.hub.post(member, text.rstrip("\r\n"), now)

    def _new_member(self, address: tuple, peer: tuple[str, int]) -> Member | None:  # type: ignore[type-arg]
        member = Member(format_address(peer), "udp", lambda m: self._relay(address, member, m))
        member.extra["encoding"] = UTF8
        try:
            self.hub.join(member)
        except NickTaken:
            return None
        self.peers[address] = member
        self.tap.counters.clients = len(self.peers)
        return member

    def _relay(self, address: tuple, member: Member, message: ChatMessage) -> None:  # type: ignore[type-arg]
        self._send(address, member, message.as_line())

    def _send(self, address: tuple, member: Member, text: str) -> None:  # type: ignore[type-arg]
        data = encode(text, str(member.extra["encoding"]))
        try:
            self.socket.sendto(data, address)
        except OSError:
            return
        self.tap.sent(self.local, plain_address(address), data)

    def _expire(self, now: float) -> None:
        stale = [a for a, m in self.peers.items() if now - float(m.extra["seen"]) > self.peer_ttl]  # type: ignore[arg-type]
        for address in stale:
            self._forget(address)

    def _forget(self, address: tuple) -> None:  # type: ignore[type-arg]
        member = self.peers.pop(address, None)
        if member is not None:
            self.hub.leave(member)
        self.tap.counters.clients = len(self.peers)
