"""TCP chat adapter (port 8888): netcat and the course's chat scripts.

Bytes go through LineFramer (a newline or a 300 ms pause ends a message); each line is
handled by chat.commands against the ChatHub, which fans events out to every member.
Each client's output goes through its own bounded OutboundQueue (outbound.py); room events
reach the members through one Fanout, TcpFanout: the line rendered once per encoding and
appended to each member's queue, which the flusher sends with one send() per round.
"""

from __future__ import annotations

import logging
import socket
import time

import gevent

from ..addresses import Address, format_address
from ..chat.autoreply import AutoResponder
from ..chat.commands import HELP, handle_line
from ..chat.framing import Line, LineFramer
from ..chat.hub import ChatError, ChatEvent, ChatHub, Member
from ..privacy import DirectMessageLines, is_direct_message
from ..textcodec import ESCAPED, decode, encode
from ..traffic import ServiceTap
from .outbound import DEFAULT_LIMIT, DeliveryCounters, OutboundQueue
from .stream import TappedStreamServer, bytes_waiting
from .timed import call_until

log = logging.getLogger(__name__)

SEND_BUFFER = 64 * 1024


class TcpFanout:
    """How the TCP members take a room event: its line rendered once per encoding (cached on
    the event) and the same bytes appended to each member's queue; no send here."""

    def __init__(self) -> None:
        self.queues: dict[Member, OutboundQueue] = {}

    def deliver_many(self, event: ChatEvent, members: list[Member]) -> None:
        queues = self.queues
        lines: dict[str, bytes] = {}
        for member in members:
            queue = queues.get(member)
            if queue is None:
                continue
            line = lines.get(member.encoding)
            if line is None:
                line = lines[member.encoding] = event.encoded_line(member.encoding)
            queue.put(line)


class TcpChatServer(TappedStreamServer):
    def __init__(self, listener: socket.socket, tap: ServiceTap, hub: ChatHub,
                 responder: AutoResponder | None = None, delivery: DeliveryCounters | None = None) -> None:
        """``delivery``: the output queues' limit and drop counters (Services keeps them across restarts)."""
        super().__init__(listener, tap)
        self.hub = hub
        self.responder = responder
        self.delivery = delivery if delivery is not None else DeliveryCounters(DEFAULT_LIMIT)
        self.fanout = TcpFanout()

    def serve_client(self, sock: socket.socket, peer: Address, local: Address) -> str:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        # chat needs no large kernel buffer; a small one makes the queue limit (256 KiB) the
        # real bound on what a reader that stopped reading can pin in memory
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        who = format_address(peer)
        # direct messages in either direction are marked private in the packet log
        incoming_dms = DirectMessageLines()
        outbound = OutboundQueue(sock, f"tcp_chat {who}",
                                 lambda data, private: self.tap.sent(local, peer, data, private=private),
                                 self.delivery.queue_bytes, self.delivery)
        nick = self.hub.default_nick("tcp", who, peer[1])

        def deliver(event: ChatEvent) -> None:  # what is not a room event: direct messages
            outbound.put(event.encoded_line(member.encoding), private=event.kind == "dm")

        member = Member(nick, "tcp", deliver, address=who, fanout=self.fanout)
        self.fanout.queues[member] = outbound
        try:
            self.hub.join(member, time.time())
        except ChatError as exc:  # e.g. its default nick claimed on another instance just now
            self._notice(outbound, member, f"error: {exc}; connect again")
            outbound.flush()
            outbound.stop()
            del self.fanout.queues[member]
            return "us"
        framer = LineFramer()
        try:
            self._notice(outbound, member, f"welcome to sockdash chat, you are {member.nick} in "
                                           f"#{member.room}; /help lists the commands")
            while True:
                data = call_until(sock, framer.get_timer(),
                                  lambda: self.receive(sock, peer, local, private=incoming_dms.feed))
                if data is None and bytes_waiting(sock):
                    # the deadline passed while this process was busy, but the rest of the line
                    # is here: the pause was ours, not the client's (cutting would split it)
                    data = self.receive(sock, peer, local, private=incoming_dms.feed)
                if data is None:  # the pause ended the line
                    lines = framer.handle_timer(time.monotonic())
                elif not data:
                    for line in framer.close():
                        self._on_line(outbound, member, line)
                    return "peer"
                else:
                    lines = framer.receive_data(data, time.monotonic())
                if framer.get_timer() is None:
                    incoming_dms.line_ended()  # a pause ended the line, as the framer sees it
                for line in lines:
                    if not self._on_line(outbound, member, line):
                        outbound.flush()
                        return "us"
                # a recv() of buffered bytes does not yield: let the writers drain between
                # chunks, or one fast sender's burst would overflow everyone's queue
                gevent.sleep(0)
        finally:
            self.hub.leave(member, time.time())
            outbound.stop()
            self.fanout.queues.pop(member, None)

    def _on_line(self, outbound: OutboundQueue, member: Member, line: Line) -> bool:
        """Act on one line; False ends the session."""
        text, encoding = decode(line.data)
        if encoding != ESCAPED:
            member.encoding = encoding
        if line.truncated:
            self._notice(outbound, member, f"your line was cut at {len(line.data)} bytes (the limit)")
            log.info("tcp_chat: line from %s cut at %d bytes", member.nick, len(line.data))
        now = time.time()
        outcome = handle_line(self.hub, member, text, now)
        private = is_direct_message(text)  # the "-> bob: text" echo of a /msg
        for reply in outcome.replies:
            self._notice(outbound, member, reply, private)
        if outcome.said is not None and self.responder is not None:
            answer = self.responder.answer(outcome.said, member.nick, now=time.monotonic(), wall_time=now)
            if answer is not None:
                self._send(outbound, member, answer + "\n")
        return not outcome.quit

    def _notice(self, outbound: OutboundQueue, member: Member, text: str, private: bool = False) -> None:
        self._send(outbound, member, f"* {text}\n", private)

    @staticmethod
    def _send(outbound: OutboundQueue, member: Member, text: str, private: bool = False) -> None:
        outbound.put(encode(text, member.encoding), private)


__all__ = ["HELP", "ChatEvent", "TcpChatServer"]
