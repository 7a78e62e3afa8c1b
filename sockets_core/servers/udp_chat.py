"""UDP chat adapter (port 8989): each datagram is one line into the sender's room (lobby).

Room events are relayed, one datagram each, to the UDP peers heard from within
``peer_ttl`` seconds, in the encoding each peer last used. ``bye`` forgets the peer.

Fan-out must not stall the process: with 1,500 peers one message is 1,500 datagrams.
So handling a datagram only queues the event once for all the peers it goes to
(Fanout.deliver_many), and one sender greenlet sends the queue — the line encoded once
per encoding — yielding to the gevent hub every SENDS_PER_YIELD datagrams so the dashboard
and the other services are served meanwhile (bench/udp_fanout.py: before, one wakeup
handled up to 100 datagrams with all their sends in one go and /api/status waited
seconds). The queue is bounded in datagrams: when the peers cannot be sent to as fast as
messages arrive, the oldest queued events are dropped for the UDP peers, counted and
logged — the message itself still reaches the other transports and the history.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import gevent
from gevent.event import Event
from gevent.server import DatagramServer

from ..addresses import SockAddress, format_address
from ..chat.autoreply import AutoResponder
from ..chat.commands import handle_line
from ..chat.hub import ChatError, ChatEvent, ChatHub, Member
from ..chat.limits import WARNING_INTERVAL
from ..logthrottle import ThrottledWarning
from ..privacy import is_direct_message, line_is_direct_message
from ..textcodec import ESCAPED, decode, encode
from ..traffic import ServiceTap
from .listen import local_address, plain_address

log = logging.getLogger(__name__)

DEFAULT_PEER_TTL = 600.0
MAX_PEERS = 4096
DEFAULT_MAX_PER_IP = 64  # a class behind one NAT address, each script on its own port
RELAY_QUEUE = 32_768  # datagrams queued (~22 messages to 1,500 peers, ~0.3 s of sending); then the oldest go
SENDS_PER_YIELD = 64  # ~0.5 ms of sending between two turns of everything else
READS_PER_WAKEUP = 8  # datagrams handled per readiness of the socket (gevent's default is 100)


@dataclass
class Outgoing:
    """One event (or one ready reply) for some of the peers."""

    members: list[Member]
    event: ChatEvent | None = None
    data: bytes = b""  # a reply: already encoded for its one peer
    private: bool = False  # a direct message: hidden from the packet log's non-admin viewers


class UdpChatServer(DatagramServer):
    max_accept = READS_PER_WAKEUP
    _socket: socket.socket  # gevent's init_socket sets it: the plain socket under self.socket (not in types-gevent)

    def __init__(self, sock: socket.socket, tap: ServiceTap, hub: ChatHub,
                 peer_ttl: float = DEFAULT_PEER_TTL, responder: AutoResponder | None = None,
                 max_per_ip: int = DEFAULT_MAX_PER_IP, clock: Callable[[], float] = time.monotonic) -> None:
        """``clock`` (monotonic seconds) times the peers' TTL and the auto-responses' limit:
        a step of the wall clock must neither expire every peer nor keep them for ever."""
        # handle each datagram in the reading greenlet (no greenlet per datagram): under a
        # flood the kernel's socket buffer is the bounded queue and drops the excess, instead
        # of an unbounded backlog of greenlets (bench/packetlog.py measured it growing)
        super().__init__(sock, spawn=None)
        self.tap = tap
        self.hub = hub
        self.peer_ttl = peer_ttl
        self.clock = clock
        self.responder = responder
        self.local = local_address(sock)
        self.peers: dict[SockAddress, Member] = {}
        # one host sending from thousands of ports must not take every peer slot (and each
        # new peer's join notice costs a datagram to every other peer)
        self.max_per_ip = max_per_ip
        self.per_ip: dict[str, int] = {}
        self.outbox: deque[Outgoing] = deque()
        self.queued = 0  # datagrams in the outbox
        self.dropped = 0  # datagrams dropped because the outbox was full
        self._outbox_ready = Event()
        self._warnings = ThrottledWarning(log, WARNING_INTERVAL)
        self._expirer: gevent.Greenlet[[], None] | None = None
        self._sender: gevent.Greenlet[[], None] | None = None

    # types-gevent types DatagramServer.handle as (socket, address); gevent gives it (data, address)
    def handle(self, data: bytes, address: SockAddress) -> None:  # type: ignore[override]  # types-gevent: not (socket, addr)
        now, seen = time.time(), self.clock()  # the chat's events carry wall time
        self.tap.received(self.local, plain_address(address), data, private=line_is_direct_message(data))
        member = self.peers.get(address) or self._new_member(address, now, seen)
        if member is None:
            return
        member.last_seen = seen
        text, encoding = decode(data)
        if encoding != ESCAPED:
            member.encoding = encoding
        outcome = handle_line(self.hub, member, text, now)
        private = is_direct_message(text)  # the "-> bob: text" echo of a /msg
        for reply in outcome.replies:
            self._send(address, member, f"* {reply}\n", private)
        if outcome.said is not None and self.responder is not None:
            answer = self.responder.answer(outcome.said, member.nick, now=seen, wall_time=now, key=address[0])
            if answer is not None:
                self._send(address, member, answer)  # one datagram, as the course's server answers
        if outcome.quit:
            self._forget([address])

    def _new_member(self, address: SockAddress, now: float, seen: float) -> Member | None:
        peer = plain_address(address)
        who = format_address(peer)
        if len(self.peers) >= MAX_PEERS:
            self._warnings.warn("udp_chat: %d peers (limit): ignoring %s", MAX_PEERS, who, key="max-peers")
            return None
        if self.per_ip.get(peer[0], 0) >= self.max_per_ip:
            self._warnings.warn("udp_chat: %d peers from %s (--udp-chat-max-per-ip): ignoring %s",
                                self.max_per_ip, peer[0], who, key="per-ip:" + peer[0])
            return None
        member = Member(self.hub.default_nick("udp", who, peer[1]), "udp",
                        lambda event: self.deliver_many(event, [member]), fanout=self, address=who,
                        last_seen=seen, sockaddr=address)
        try:
            self.hub.join(member, now)
        except ChatError:
            return None
        self.peers[address] = member
        self.per_ip[peer[0]] = self.per_ip.get(peer[0], 0) + 1
        self.tap.counters.clients = len(self.peers)
        return member

    # -- sending: queue here, send in one greenlet ----------------------------------------------
    def deliver_many(self, event: ChatEvent, members: list[Member]) -> None:
        self._queue(Outgoing(members, event, private=event.kind == "dm"))

    def _send(self, address: SockAddress, member: Member, text: str, private: bool = False) -> None:
        self._queue(Outgoing([member], None, encode(text, member.encoding), private))

    def _queue(self, item: Outgoing) -> None:
        self.outbox.append(item)
        self.queued += len(item.members)
        while self.queued > RELAY_QUEUE and len(self.outbox) > 1:
            oldest = self.outbox.popleft()
            self.queued -= len(oldest.members)
            self.dropped += len(oldest.members)
            self._warnings.warn("udp_chat: more than %d datagrams waiting to be sent (limit): dropped the "
                                "oldest, %d to %s and others; %d peers, %d dropped so far", RELAY_QUEUE,
                                len(oldest.members), oldest.members[0].peer, len(self.peers), self.dropped,
                                key="outbox")
        self._outbox_ready.set()

    def _send_loop(self) -> None:
        tap, local, outbox, sent = self.tap, self.local, self.outbox, 0
        while True:
            self._outbox_ready.wait()
            self._outbox_ready.clear()
            while outbox:
                item = outbox.popleft()
                self.queued -= len(item.members)
                # Peers silent for longer than the TTL hear nothing; the periodic expirer
                # removes them from the hub later, so no datagram pays for a scan of all peers.
                oldest_seen = self.clock() - self.peer_ttl
                lines: dict[str, bytes] = {}  # the event's line, once per encoding
                for member in item.members:
                    if item.event is not None:
                        if member.last_seen < oldest_seen or member.gone:
                            continue
                        encoding = member.encoding
                        data = lines.get(encoding) or lines.setdefault(encoding, item.event.encoded_line(encoding))
                    else:
                        data = item.data
                    if member.sockaddr is None or not self._sendto(data, member.sockaddr):
                        continue
                    tap.sent(local, plain_address(member.sockaddr), data, private=item.private)
                    sent += 1
                    if sent % SENDS_PER_YIELD == 0:
                        gevent.sleep(0)

    def _sendto(self, data: bytes, address: SockAddress) -> bool:
        try:
            self._socket.sendto(data, address)  # the plain non-blocking socket: no wrapper per datagram
        except BlockingIOError:  # the send buffer is full: wait for room once, as gevent's sendto does
            try:
                return bool(self.socket.sendto(data, address))
            except OSError:
                return False
        except OSError:  # e.g. an address that became unreachable: that datagram only
            return False
        return True

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        super().start()
        self._expirer = gevent.spawn(self._expire_periodically)
        self._sender = gevent.spawn(self._send_loop)

    def stop(self, timeout: float | None = None) -> None:
        for greenlet in (self._expirer, self._sender):
            if greenlet is not None:
                greenlet.kill(block=False)
        self.outbox.clear()
        self.queued = 0
        # a restart must not leave ghosts holding their nicks; all leave at once, so their
        # leave notices go to the other transports only, not to each other
        self._forget(list(self.peers))
        super().stop(timeout)

    def _expire_periodically(self) -> None:
        while True:
            gevent.sleep(min(30.0, self.peer_ttl))
            self._expire(self.clock())

    def _expire(self, now: float) -> None:
        """Forget the peers silent for longer than the TTL; ``now`` is of ``self.clock``."""
        self._forget([a for a, m in self.peers.items() if now - m.last_seen > self.peer_ttl])

    def _forget(self, addresses: list[SockAddress]) -> None:
        members = [m for m in (self.peers.pop(a, None) for a in addresses) if m is not None]
        for member in members:
            member.gone = True  # what is still queued for it is not sent
            host = plain_address(member.sockaddr)[0] if member.sockaddr is not None else ""
            left = self.per_ip.pop(host, 1) - 1
            if left > 0:
                self.per_ip[host] = left
        if members:
            self.hub.leave_all(members, time.time())
        self.tap.counters.clients = len(self.peers)
