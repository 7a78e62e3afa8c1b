"""The admin's socket tools: TCP client, TCP server, UDP socket, TFTP client.

A ToolManager owns every open tool session, so all of them are listed, each can be
closed, and all close at shutdown. A session keeps its last MAX_EVENTS events (what was
received and sent, connects, closes) for a page that reattaches after a reload, and
publishes each on the bus topic ``tools``. Everything goes into the packet log as the
service ``tools``. Outbound targets may be restricted (--tools-allow CIDR); a listener
may not take a port sockdash itself uses.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
from gevent import socket as gsocket

from ..bus import Bus
from ..packetlog import PacketLog, format_address
from ..servers.listen import BindError, local_address, plain_address, tcp_listener, udp_socket
from ..servers.tftp_client import run_client
from ..tftp.client import TftpClient
from ..tftp.packets import RRQ, WRQ
from ..textcodec import ESCAPED, UTF8, decode, encode
from ..traffic import ServiceTap
from .autoreply import AutoResponder

log = logging.getLogger(__name__)

TOOLS_TOPIC = "tools"
MAX_EVENTS = 300
MAX_SESSIONS = 32  # open or closed, TFTP jobs included; the oldest closed ones make room
MAX_EVENT_BYTES = 4096  # kept per event for the page (the packet log keeps its own 256)
MAX_REPEATS = 4  # running at once per session
SEND_TIMEOUT = 5.0  # a TCP peer that does not read for this long fails the send
MAX_REPEAT = 10_000
MIN_REPEAT_MS = 10
CONNECT_TIMEOUT = 5.0


class ToolError(ValueError):
    """A refused tool action; the message is for the admin."""


@dataclass(frozen=True)
class ToolEvent:
    time: float
    direction: str  # "in" | "out" | "info"
    peer: str
    data: bytes = b""
    info: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"time": self.time, "direction": self.direction, "peer": self.peer,
                "hex": self.data.hex(), "info": self.info}


class ToolSession:
    kind = "tool"

    def __init__(self, manager: "ToolManager", label: str) -> None:
        self.responder = AutoResponder()  # used by the server sessions (TCP server, UDP)
        self.id = next(manager.ids)
        self.manager = manager
        self.label = label
        self.open = True
        self.events: deque[ToolEvent] = deque(maxlen=MAX_EVENTS)
        self._greenlets: list[gevent.Greenlet] = []
        self._repeats: list[gevent.Greenlet] = []

    def record(self, direction: str, peer: str, data: bytes = b"", info: str = "") -> None:
        event = ToolEvent(time.time(), direction, peer, bytes(data[:MAX_EVENT_BYTES]), info)
        self.events.append(event)
        self.manager.bus.publish(TOOLS_TOPIC, {"session": self.id, "event": event.as_dict()})

    def spawn(self, function: Callable[..., Any], *args: Any) -> gevent.Greenlet:
        self._greenlets = [g for g in self._greenlets if not g.dead]
        greenlet = gevent.spawn(function, *args)
        self._greenlets.append(greenlet)
        return greenlet

    def fix_target(self, to: str | None) -> str | None:
        """Where a repeat sends, decided once when it starts."""
        return to

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "open": self.open, "peers": self.peers(),
                "rules": [r.as_dict() for r in self.responder.rules]}

    def auto_answer(self, data: bytes, who: str, to: str | None, ip: str) -> None:
        """Answer a message by the session's rules, in the encoding the peer used."""
        if not self.responder.rules:
            return
        text, encoding = decode(data)
        answer = self.responder.answer(text.rstrip("\r\n"), who, time.time(), key=ip)
        if answer is not None:
            self.send(encode(answer, encoding if encoding != ESCAPED else UTF8), to)

    def peers(self) -> list[str]:
        return []

    def send(self, data: bytes, to: str | None) -> None:
        raise ToolError(f"a {self.kind} cannot send")

    def repeat(self, data: bytes, to: str | None, every_ms: int, count: int) -> None:
        if not 1 <= count <= MAX_REPEAT or every_ms < MIN_REPEAT_MS:
            raise ToolError(f"repeat 1-{MAX_REPEAT} times, every {MIN_REPEAT_MS} ms or more")
        self._repeats = [g for g in self._repeats if not g.dead]
        if len(self._repeats) >= MAX_REPEATS:
            raise ToolError(f"{MAX_REPEATS} repeats are running on this session (the limit)")
        target = self.fix_target(to)

        def run() -> None:
            for _ in range(count):
                if not self.open:
                    return
                try:
                    self.send(data, target)
                except Exception as exc:  # any failure ends the repeat, visibly
                    self.record("info", "", info=f"repeat stopped: {exc}")
                    return
                gevent.sleep(every_ms / 1000)

        self._repeats.append(self.spawn(run))

    def close(self) -> None:
        if not self.open:
            return
        self.open = False
        gevent.killall(self._greenlets, block=False)
        self._close_sockets()
        self.record("info", "", info="closed")
        self.manager.changed(self)

    def _close_sockets(self) -> None:
        pass


class TcpClientSession(ToolSession):
    kind = "tcp-client"

    def __init__(self, manager: "ToolManager", host: str, port: int) -> None:
        super().__init__(manager, f"TCP client to {host}:{port}")
        self._closed_tapped = False
        address = manager.check_target(host)  # resolved once: we connect to what was checked
        try:
            self.sock = gsocket.create_connection((address, port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise ToolError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        self.sock.settimeout(None)
        self.local = plain_address(self.sock.getsockname())
        self.peer = plain_address(self.sock.getpeername())
        manager.tap.opened(self.local, self.peer)
        self.record("info", format_address(self.peer), info="connected")
        self.spawn(self._read)

    def _read(self) -> None:
        who = format_address(self.peer)
        try:
            while data := self.sock.recv(65536):
                self.manager.tap.received(self.local, self.peer, data)
                self.record("in", who, data)
            self.record("info", who, info="closed by the peer")
        except OSError as exc:
            self.record("info", who, info=f"connection lost: {exc.strerror or exc}")
        self._tap_closed("peer")
        self.open = False
        self.sock.close()
        self.manager.changed(self)

    def _tap_closed(self, by: str) -> None:
        if not self._closed_tapped:
            self._closed_tapped = True
            self.manager.tap.closed(self.local, self.peer, by)

    def send(self, data: bytes, to: str | None) -> None:
        if not self.open:
            raise ToolError("the connection is closed")
        _sendall(self.sock, data)
        self.manager.tap.sent(self.local, self.peer, data)
        self.record("out", format_address(self.peer), data)

    def _close_sockets(self) -> None:
        self._tap_closed("us")
        self.sock.close()


def _sendall(sock: gsocket.socket, data: bytes) -> None:
    """sendall with a time limit that leaves the socket's own timeout (its reader's) alone."""
    with gevent.Timeout(SEND_TIMEOUT, ToolError(f"the peer read nothing for {SEND_TIMEOUT:.0f} s: send abandoned")):
        sock.sendall(data)


def _bind(manager: "ToolManager", port: int, make: Callable[[str, str, int], Any]) -> Any:
    """A listening socket for a tool on ``port`` (0: any), never on one of sockdash's own."""
    manager.check_port(port)
    try:
        return make("tools", manager.host, port)
    except BindError as exc:
        raise ToolError(str(exc)) from None


class TcpServerSession(ToolSession):
    kind = "tcp-server"

    def __init__(self, manager: "ToolManager", port: int) -> None:
        self.listener = _bind(manager, port, tcp_listener)
        self.local = local_address(self.listener)
        super().__init__(manager, f"TCP server on port {self.local[1]}")
        self.clients: dict[str, gsocket.socket] = {}
        self.record("info", "", info=f"listening on {format_address(self.local)}")
        self.spawn(self._accept)

    def _accept(self) -> None:
        while True:
            sock, address = self.listener.accept()
            peer = plain_address(address)
            self.clients[format_address(peer)] = sock
            self.manager.tap.opened(self.local, peer)
            self.record("info", format_address(peer), info="client connected")
            self.manager.changed(self)
            self.spawn(self._serve, sock, peer)

    def _serve(self, sock: gsocket.socket, peer: tuple[str, int]) -> None:
        who = format_address(peer)
        try:
            while data := sock.recv(65536):
                self.manager.tap.received(self.local, peer, data)
                self.record("in", who, data)
                self.auto_answer(data, who, who, peer[0])
        except (OSError, ToolError):
            pass
        sock.close()
        if self.clients.pop(who, None) is not None:
            self.manager.tap.closed(self.local, peer, "peer")
            self.record("info", who, info="client left")
            self.manager.changed(self)

    def peers(self) -> list[str]:
        return sorted(self.clients)

    def send(self, data: bytes, to: str | None) -> None:
        if to and to not in self.clients:
            raise ToolError("no such client")
        targets = [(to, self.clients[to])] if to else list(self.clients.items())  # a snapshot: sends yield
        if not targets:
            raise ToolError("no client is connected")
        for who, sock in targets:
            try:
                _sendall(sock, data)
                peer = plain_address(sock.getpeername())
            except (OSError, ToolError) as exc:
                self.record("info", who, info=f"send failed: {exc}")
                continue
            self.manager.tap.sent(self.local, peer, data)
            self.record("out", who, data)

    def kick(self, who: str) -> None:
        sock = self.clients.pop(who, None)
        if sock is None:
            raise ToolError("no such client")
        self._drop(who, sock)
        self.record("info", who, info="kicked")
        self.manager.changed(self)

    def _drop(self, who: str, sock: gsocket.socket) -> None:
        try:
            peer = plain_address(sock.getpeername())
            self.manager.tap.closed(self.local, peer, "us")
        except OSError:
            pass
        sock.close()

    def _close_sockets(self) -> None:
        self.listener.close()
        for who, sock in list(self.clients.items()):
            self._drop(who, sock)
        self.clients.clear()


class UdpSession(ToolSession):
    kind = "udp"

    def __init__(self, manager: "ToolManager", port: int) -> None:
        self.sock = _bind(manager, port, udp_socket)
        self.local = local_address(self.sock)
        super().__init__(manager, f"UDP on port {self.local[1]}")
        self.last_sender: tuple[str, int] | None = None
        self.record("info", "", info=f"bound to {format_address(self.local)}")
        self.spawn(self._read)

    def _read(self) -> None:
        while True:
            data, address = self.sock.recvfrom(65536)
            peer = plain_address(address)
            self.last_sender = address
            self.manager.tap.received(self.local, peer, data)
            self.record("in", format_address(peer), data)
            try:
                self.auto_answer(data, format_address(peer), None, peer[0])  # None: reply to the sender
            except (ToolError, OSError) as exc:
                self.record("info", format_address(peer), info=f"auto-response failed: {exc}")

    def fix_target(self, to: str | None) -> str | None:
        if to or self.last_sender is None:
            return to
        host, port = plain_address(self.last_sender)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # not whoever sends next

    def send(self, data: bytes, to: str | None) -> None:
        if to:
            host, _, port = to.rpartition(":")
            host = host.strip("[]")
            if not port.isdigit() or not host:
                raise ToolError("send to HOST:PORT")
        elif self.last_sender is not None:
            host, port = self.last_sender[0], str(self.last_sender[1])  # reply to whoever spoke last
        else:
            raise ToolError("give HOST:PORT (nobody has sent to this socket yet)")
        checked = self.manager.check_target(host)  # a reply too: --tools-allow has no exception
        try:
            address = socket.getaddrinfo(checked, int(port), self.sock.family, socket.SOCK_DGRAM)[0][4]
        except (OSError, UnicodeError) as exc:
            raise ToolError(f"cannot send to {host}: {exc}") from None
        self.sock.sendto(data, address)
        peer = plain_address(address)
        self.manager.tap.sent(self.local, peer, data)
        self.record("out", format_address(peer), data)

    def _close_sockets(self) -> None:
        self.sock.close()


class ToolManager:
    def __init__(self, bus: Bus, packetlog: PacketLog, host: str,
                 reserved_ports: Callable[[], set[int]], allow: list[str] | None = None) -> None:
        self.bus = bus
        self.host = host
        self.tap = ServiceTap("tools", "tcp", packetlog)
        self.reserved_ports = reserved_ports
        self.allow = [ipaddress.ip_network(cidr, strict=False) for cidr in (allow or [])]
        self.sessions: dict[int, ToolSession] = {}
        self.ids = itertools.count(1)

    def make_room(self, what: str) -> None:
        """At most MAX_SESSIONS kept: the oldest closed ones go, open ones are never dropped."""
        while len(self.sessions) >= MAX_SESSIONS:
            closed = [s for s in self.sessions.values() if not s.open]
            if not closed:
                log.warning("tools: %d sessions open (limit): refused a new %s", MAX_SESSIONS, what)
                raise ToolError(f"{MAX_SESSIONS} tool sessions are open (the limit): close one first")
            self.forget(closed[0].id)

    def open(self, tool: str, host: str = "", port: int = 0) -> ToolSession:
        self.make_room(tool)
        if not 0 <= port <= 65535:
            raise ToolError("a port is 0-65535")
        session: ToolSession
        if tool == "tcp-client":
            session = TcpClientSession(self, host, port)
        elif tool == "tcp-server":
            session = TcpServerSession(self, port)
        elif tool == "udp":
            session = UdpSession(self, port)
        else:
            raise ToolError(f"unknown tool {tool!r}")
        self.sessions[session.id] = session
        self.changed(session)
        return session

    def get(self, session_id: int) -> ToolSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise ToolError("no such session")
        return session

    def forget(self, session_id: int) -> None:
        session = self.get(session_id)
        session.close()
        del self.sessions[session_id]
        self.bus.publish(TOOLS_TOPIC, {"removed": session_id})

    def changed(self, session: ToolSession) -> None:
        self.bus.publish(TOOLS_TOPIC, {"session": session.id, "state": session.describe()})

    def check_target(self, host: str) -> str:
        """Resolve ``host`` once and return the address to use; with --tools-allow every
        address it resolves to must be inside. Callers connect to the returned address, so
        a name cannot resolve one way for the check and another for the connection."""
        try:
            addresses = [info[4][0] for info in socket.getaddrinfo(host, None)]
        except (OSError, UnicodeError) as exc:
            raise ToolError(f"cannot resolve {host}: {exc}") from None
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if self.allow and not any(ip in network for network in self.allow):
                raise ToolError(f"{host} ({ip}) is outside --tools-allow")
        return addresses[0]

    def check_port(self, port: int) -> None:
        if port and port in self.reserved_ports():
            raise ToolError(f"port {port} is one of sockdash's own services")

    def snapshot(self) -> list[dict[str, Any]]:
        return [{**s.describe(), "events": [e.as_dict() for e in s.events]} for s in self.sessions.values()]

    def close_all(self) -> None:
        for session in list(self.sessions.values()):
            session.close()


class TftpJob(ToolSession):
    """A get into the file root or a put from it, with the client of `sockdash tftp`."""

    kind = "tftp"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "progress": list(self.progress)}

    def __init__(self, manager: "ToolManager", store: Any, transfers: Any, action: str, host: str, port: int,
                 remote: str, local: str, blksize: int | None, windowsize: int | None) -> None:
        self.progress: list[int | None] = [0, None]  # bytes moved, total (when known)
        address = manager.check_target(host)
        if action not in ("get", "put"):
            raise ToolError("action is get or put")
        super().__init__(manager, f"TFTP {action} {remote} {'from' if action == 'get' else 'to'} {host}:{port}")
        options = {"blksize": blksize, "windowsize": windowsize}
        if action == "get":
            try:
                writer = store.writer(local or remote.replace("\\", "/").rsplit("/", 1)[-1])
            except (ValueError, OSError) as exc:
                raise ToolError(f"cannot write {local or remote!r} in the file root: {exc}") from None
            client = TftpClient(RRQ, remote, write=writer.write, **options)
            record = transfers.begin("tftp", "download", f"{host}:{port}", remote, None, "client")
        else:
            try:
                path, size = store.open_for_reading(local)
            except (ValueError, OSError) as exc:
                raise ToolError(f"cannot read {local!r} in the file root: {exc}") from None
            source = open(path, "rb")
            client = TftpClient(WRQ, remote or path.name, read=source.read, size=size, **options)
            record = transfers.begin("tftp", "upload", f"{host}:{port}", local, size, "client")

        last_shown = [0.0]

        def progress(c: Any) -> None:
            record.size = c.total
            record.advance(c.bytes_moved - record.done_bytes)
            self.progress = [c.bytes_moved, c.total]
            if time.monotonic() - last_shown[0] >= 0.25:  # a few updates a second for the bar
                last_shown[0] = time.monotonic()
                manager.changed(self)

        def run() -> None:
            outcome: str | None = "cancelled"  # what stands if the job is closed (or at shutdown)
            try:
                run_client(client, address, port, progress)
                outcome = client.error
            except Exception as exc:  # over the upload limit, a full disk, the network
                outcome = f"failed: {exc}"
            finally:
                if action == "get":
                    try:
                        writer.commit() if outcome is None else writer.abort()
                    except OSError as exc:  # e.g. the name was taken meanwhile
                        writer.abort()
                        outcome = f"could not store the file: {exc}"
                else:
                    source.close()
                record.finish(outcome)
                self.progress = [client.bytes_moved, client.total or client.bytes_moved]
                self.record("info", f"{host}:{port}", info=(
                    f"done: {client.bytes_moved} bytes" if outcome is None else f"failed: {outcome}"))
                self.open = False
                manager.changed(self)

        self.record("info", f"{host}:{port}", info="started")
        self.spawn(run)


def open_tftp(manager: ToolManager, store: Any, transfers: Any, **job: Any) -> TftpJob:
    manager.make_room("TFTP job")
    session = TftpJob(manager, store, transfers, **job)
    manager.sessions[session.id] = session
    manager.changed(session)
    return session
