"""The admin's socket tools: TCP client, TCP server, UDP socket, TFTP client.

A ToolManager owns every tool session, so all of them are listed, each can be closed, and
all close at shutdown. One module per kind (tcp_client, tcp_server, udp, tftp_job) over
what they share (base.py). Everything the tools send and receive goes into the packet log
as the service ``tools``. Outbound targets may be restricted (--tools-allow CIDR); a
listener may not take a port sockdash itself uses.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import socket
from collections.abc import Callable
from typing import Any

from ..bus import Bus
from ..logthrottle import SINCE_LAST_REPORT, ThrottledWarning
from ..packetlog import PacketLog
from ..traffic import ServiceTap
from .base import TOOLS_TOPIC, ToolError, ToolSession
from .tcp_client import TcpClientSession
from .tcp_server import TcpServerSession
from .tftp_job import TftpJob
from .udp import UdpSession

__all__ = ["MAX_SESSIONS", "TOOLS_TOPIC", "ToolError", "ToolManager", "ToolSession", "open_tftp"]

log = logging.getLogger(__name__)

MAX_SESSIONS = 32  # open or closed, TFTP jobs included; the oldest closed ones make room
KINDS: dict[str, Callable[..., ToolSession]] = {
    "tcp-client": lambda manager, host, port: TcpClientSession(manager, host, port),
    "tcp-server": lambda manager, host, port: TcpServerSession(manager, port),
    "udp": lambda manager, host, port: UdpSession(manager, port),
}


class ToolManager:
    def __init__(self, bus: Bus, packetlog: PacketLog, host: str,
                 reserved_ports: Callable[[], set[int]], allow: list[str] | None = None) -> None:
        self.bus = bus
        self.host = host
        self.tap = ServiceTap("tools", "tcp", packetlog)
        self.udp_tap = ServiceTap("tools", "udp", packetlog)  # so the log and pcap show UDP as UDP
        self.reserved_ports = reserved_ports
        self.allow = [ipaddress.ip_network(cidr, strict=False) for cidr in (allow or [])]
        self.sessions: dict[int, ToolSession] = {}
        self.ids = itertools.count(1)
        self._warnings = ThrottledWarning(log, suffix=SINCE_LAST_REPORT)

    def warn(self, limit: str, message: str, *args: Any) -> None:
        """A WARNING when a limit bites, at most one per limit per 10 s (with the count held back)."""
        self._warnings.warn("tools: " + message, *args, key=limit)

    def make_room(self, what: str) -> None:
        """At most MAX_SESSIONS kept: the oldest closed ones go, open ones are never dropped."""
        while len(self.sessions) >= MAX_SESSIONS:
            closed = [s for s in self.sessions.values() if not s.open]
            if not closed:
                self.warn("sessions", "%d sessions open (the limit): refused a new %s", MAX_SESSIONS, what)
                raise ToolError(f"{MAX_SESSIONS} tool sessions are open (the limit): close one first")
            self.forget(closed[0].id)

    def open(self, tool: str, host: str = "", port: int = 0) -> ToolSession:
        make = KINDS.get(tool)
        if make is None:
            raise ToolError(f"unknown tool {tool!r}")
        if not 0 <= port <= 65535:
            raise ToolError("a port is 0-65535")
        self.make_room(tool)
        return self.add(make(self, host, port))

    def add(self, session: ToolSession) -> ToolSession:
        """Announce the session, then start it: a page has its pane before its first event."""
        self.sessions[session.id] = session
        self.changed(session)
        session.start()
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
            # an (int, bytes) address is IPv6 in a Python built without it: no socket could reach it
            addresses = [info[4][0] for info in socket.getaddrinfo(host, None) if isinstance(info[4][0], str)]
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


def open_tftp(manager: ToolManager, store: Any, transfers: Any, **job: Any) -> TftpJob:
    manager.make_room("TFTP job")
    session = TftpJob(manager, store, transfers, **job)
    manager.add(session)
    return session
