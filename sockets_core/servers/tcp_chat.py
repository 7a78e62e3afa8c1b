"""TCP chat adapter (port 8888): netcat and the course's chat scripts.

Bytes go through LineFramer (newline or a 300 ms pause ends a message); each message is
posted to the ChatHub, which fans it out to every other member in the room.
"""

from __future__ import annotations

import logging
import socket
import time

from ..chat.framing import Line, LineFramer
from ..chat.hub import ChatHub, ChatMessage, Member, NickTaken
from ..packetlog import format_address
from ..textcodec import UTF8, decode, encode
from ..traffic import ServiceTap
from .outbound import OutboundQueue
from .stream import Address, TappedStreamServer

log = logging.getLogger(__name__)

FAREWELLS = ("bye", "see you")
HELP = ("commands: /nick NAME (change your nick), /quit (leave); "
        "anything else is a message to the room; 'bye' also leaves")


class TcpChatServer(TappedStreamServer):
    def __init__(self, listener: socket.socket, tap: ServiceTap, hub: ChatHub) -> None:
        super().__init__(listener, tap)
        self.hub = hub

    def serve_client(self, sock: socket.socket, peer: Address) -> str:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        outbound = OutboundQueue(sock, f"tcp_chat {format_address(peer)}",
                                 lambda data: self.tap.sent(self.local, peer, data))
        member = Member(format_address(peer), "tcp", lambda m: self._deliver(outbound, member, m))
        member.extra["encoding"] = UTF8
        self.hub.join(member)
        framer = LineFramer()
        try:
            self._notice(outbound, member, f"welcome to sockdash chat, you are {member.nick} "
                                           f"in #{member.room}; type /help for commands")
            while True:
                timer = framer.get_timer()
                sock.settimeout(None if timer is None else max(0.0, timer - time.monotonic()))
                try:
                    data = self.receive(sock, peer)
                except TimeoutError:
                    lines = framer.handle_timer(time.monotonic())
                else:
                    if not data:
                        for line in framer.close():
                            self._handle_line(outbound, member, line)
                        return "us" if outbound.overflowed else "peer"
                    lines = framer.receive_data(data, time.monotonic())
                for line in lines:
                    if not self._handle_line(outbound, member, line):
                        outbound.flush()
                        return "us"
        finally:
            self.hub.leave(member)
            outbound.stop()

    def _handle_line(self, outbound: OutboundQueue, member: Member, line: Line) -> bool:
        """Act on one message; False ends the session."""
        text, encoding = decode(line.data)
        if encoding != "escaped":
            member.extra["encoding"] = encoding
        if line.truncated:
            self._notice(outbound, member, f"line cut at {len(line.data)} bytes (limit)")
        stripped = text.strip()
        if not stripped:
            return True
        if stripped.lower() in FAREWELLS or stripped == "/quit":
            self._notice(outbound, member, "bye")
            return False
        if stripped.startswith("/"):
            self._command(outbound, member, stripped)
            return True
        self.hub.post(member, text.rstrip("\r\n"), time.time())
        return True

    def _command(self, outbound: OutboundQueue, member: Member, text: str) -> None:
        name, _, arg = text.partition(" ")
        if name == "/nick" and arg.strip():
            try:
                self.hub.rename(member, arg.strip())
                self._notice(outbound, member, f"you are now {member.nick}")
            except NickTaken:
                self._notice(outbound, member, f"error: nick {arg.strip()} is taken")
        elif name == "/help":
            self._notice(outbound, member, HELP)
        else:
            self._notice(outbound, member, f"error: unknown command {name}; {HELP}")

    def _notice(self, outbound: OutboundQueue, member: Member, text: str) -> None:
        outbound.put(encode(f"* {text}\n", str(member.extra["encoding"])))

    def _deliver(self, outbound: OutboundQueue, member: Member, message: ChatMessage) -> None:
        outbound.put(encode(message.as_line(), str(member.extra["encoding"])))
