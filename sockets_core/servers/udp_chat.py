"""UDP chat adapter (port 8989): each datagram is one line into the sender's room (lobby).

Room events are relayed, one datagram each, to the UDP peers heard from within
``peer_ttl`` seconds, in the encoding each peer last used. ``bye`` forgets the peer.
"""

from __future__ import annotations

import logging
import socket
import time

import gevent
from gevent.server import DatagramServer

from ..chat.commands import handle_line
from ..chat.hub import ChatError, ChatEvent, ChatHub, Member
from ..packetlog import format_address
from ..privacy import is_direct_message, line_is_direct_message
from ..textcodec import ESCAPED, UTF8, decode, encode
from ..tools.autoreply import AutoResponder
from ..traffic import ServiceTap
from .listen import local_address, plain_address

log = logging.getLogger(__name__)

DEFAULT_PEER_TTL = 600.0
MAX_PEERS = 4096


class UdpChatServer(DatagramServer):
    def __init__(self, sock: socket.socket, tap: ServiceTap, hub: ChatHub,
                 peer_ttl: float = DEFAULT_PEER_TTL, responder: AutoResponder | None = None) -> None:
        # handle each datagram in the reading greenlet (no greenlet per datagram): under a
        # flood the kernel's socket buffer is the bounded queue and drops the excess, instead
        # of an unbounded backlog of greenlets (bench/packetlog.py measured it growing)
        super().__init__(sock, spawn=None)
        self.tap = tap
        self.hub = hub
        self.peer_ttl = peer_ttl
        self.responder = responder
        self.local = local_address(sock)
        self.peers: dict[tuple, Member] = {}  # type: ignore[type-arg]

    def handle(self, data: bytes, address: tuple) -> None:  # type: ignore[type-arg]
        now = time.time()
        self.tap.received(self.local, plain_address(address), data, private=line_is_direct_message(data))
        member = self.peers.get(address) or self._new_member(address, now)
        if member is None:
            return
        member.extra["seen"] = now
        text, encoding = decode(data)
        if encoding != ESCAPED:
            member.extra["encoding"] = encoding
        outcome = handle_line(self.hub, member, text, now)
        private = is_direct_message(text)  # the "-> bob: text" echo of a /msg
        for reply in outcome.replies:
            self._send(address, member, f"* {reply}\n", private)
        if outcome.said is not None and self.responder is not None:
            answer = self.responder.answer(outcome.said, member.nick, now, key=address[0])
            if answer is not None:
                self._send(address, member, answer)  # one datagram, as the course's server answers
        if outcome.quit:
            self._forget(address)

    def _new_member(self, address: tuple, now: float) -> Member | None:  # type: ignore[type-arg]
        if len(self.peers) >= MAX_PEERS:
            log.warning("udp_chat: %d peers (limit): ignoring %s", MAX_PEERS, address)
            return None
        peer = plain_address(address)
        member = Member(self.hub.default_nick("udp", format_address(peer), peer[1]), "udp",
                        lambda event: self._relay(address, member, event))
        member.extra.update(encoding=UTF8, seen=now)
        try:
            self.hub.join(member, now)
        except ChatError:
            return None
        self.peers[address] = member
        self.tap.counters.clients = len(self.peers)
        return member

    def _relay(self, address: tuple, member: Member, event: ChatEvent) -> None:  # type: ignore[type-arg]
        # Peers silent for longer than the TTL hear nothing; the periodic expirer removes
        # them from the hub later, so no datagram pays for a scan of every peer.
        if time.time() - float(member.extra["seen"]) <= self.peer_ttl:
            self._send_bytes(address, event.encoded_line(member.extra["encoding"]), event.kind == "dm")

    def _send(self, address: tuple, member: Member, text: str, private: bool = False) -> None:  # type: ignore[type-arg]
        self._send_bytes(address, encode(text, str(member.extra["encoding"])), private)

    def _send_bytes(self, address: tuple, data: bytes, private: bool = False) -> None:  # type: ignore[type-arg]
        """``private``: a direct message (hidden from the packet log's non-admin viewers)."""
        try:
            self.socket.sendto(data, address)
        except OSError:
            return
        self.tap.sent(self.local, plain_address(address), data, private=private)

    def start(self) -> None:
        super().start()
        self._expirer = gevent.spawn(self._expire_periodically)

    def stop(self, timeout: float | None = None) -> None:
        self._expirer.kill(block=False)
        for address in list(self.peers):  # a restart must not leave ghosts holding their nicks
            self._forget(address)
        super().stop(timeout)

    def _expire_periodically(self) -> None:
        while True:
            gevent.sleep(min(30.0, self.peer_ttl))
            self._expire(time.time())

    def _expire(self, now: float) -> None:
        stale = [a for a, m in self.peers.items() if now - float(m.extra["seen"]) > self.peer_ttl]
        for address in stale:
            self._forget(address)

    def _forget(self, address: tuple) -> None:  # type: ignore[type-arg]
        member = self.peers.pop(address, None)
        if member is not None:
            self.hub.leave(member, time.time())
        self.tap.counters.clients = len(self.peers)
