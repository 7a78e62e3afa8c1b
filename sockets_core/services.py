"""Build the socket services from Settings; start, stop and report them.

Each service has a ServiceTap that outlives its server, so counters survive a stop and
start from the dashboard. A sampler greenlet turns the counters into per-second rates
once a second; status() is therefore cheap enough to push to every browser each second.
"""

from __future__ import annotations

import errno
import json
import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.baseserver import BaseServer

from . import __version__
from .bus import Bus
from .chat.autoreply import AutoResponder, RuleError
from .chat.history import FLUSH_INTERVAL, ChatHistory
from .chat.hub import ChatHub
from .chat.limits import ChatLimits
from .files import FileStore
from .packetfile import PacketFileWriter
from .packetlog import PacketLog
from .servers.admission import admission_from_settings
from .servers.file_download import FileDownloadServer
from .servers.listen import BindError, tcp_listener, udp_socket
from .servers.tcp_chat import TcpChatServer
from .servers.tftp import TftpServer
from .servers.tftp_policy import TftpPolicy
from .servers.syslog import SyslogServer
from .servers.udp_chat import UdpChatServer
from .settings import SERVICES, SYSLOG_FALLBACK_PORT, TFTP_FALLBACK_PORT, Settings
from .syslog.store import SyslogStore
from .tftp.access import AccessList
from .tftp.remap import RemapFile
from .tools.sessions import ToolManager
from .traffic import ServiceTap
from .transfers import TransferRegistry
from .watch import FolderWatcher

log = logging.getLogger(__name__)

STATUS_TOPIC = "status"
TRANSPORTS = {"tcp_chat": "tcp", "udp_chat": "udp", "file": "tcp", "tftp": "udp", "syslog": "udp"}
# service -> (its well-known port, the errnos binding it fails with that mean "take the other port")
WELL_KNOWN = {"tftp": (69, {errno.EACCES}), "syslog": (514, {errno.EACCES, errno.EADDRINUSE})}
STOP_TIMEOUT = 1.5
RATE_HISTORY = 300
AUTOREPLY_FILE = "autoreply.json"  # one sample a second: the last five minutes


def fallback_port(name: str, port: int, error: BindError) -> int | None:
    """The unprivileged port a service takes when its well-known one cannot be bound (69 ->
    6969 without root; 514 -> 5514 without root or when a system syslog daemon holds it)."""
    well_known, errnos = WELL_KNOWN.get(name, (None, set()))
    if port != well_known or error.cause.errno not in errnos:
        return None
    return {"tftp": TFTP_FALLBACK_PORT, "syslog": SYSLOG_FALLBACK_PORT}[name]  # read now: tests patch them


@dataclass
class Endpoint:
    host: str
    port: int


class Services:
    def __init__(self, settings: Settings, bus: Bus, packetlog: PacketLog, store: FileStore,
                 history: ChatHistory | None = None) -> None:
        self.settings = settings
        self.bus = bus
        self.packetlog = packetlog
        self.store = store
        self.history = history
        self.hub = ChatHub(bus, history, ChatLimits.from_settings(settings))
        if history is not None:
            history.set_limits(settings.chat_history_per_room, settings.chat_history_max)
        self._flusher: gevent.Greenlet | None = None
        self.transfers = TransferRegistry(bus)
        self.responders = {"tcp_chat": AutoResponder(), "udp_chat": AutoResponder()}
        self.tools = ToolManager(bus, packetlog, settings.host, self.own_ports, list(settings.tools_allow))
        self.watcher = FolderWatcher(store, bus)
        # read (and checked) once at start; it outlives the TFTP server, and SIGHUP reloads it
        self.tftp_map = RemapFile(str(settings.tftp_map)) if settings.tftp_map is not None else None
        self._sighup: object | None = None
        self.syslog = SyslogStore(settings.syslog_max, bus, settings.syslog_file, settings.syslog_file_max)
        self.taps = {name: ServiceTap(name, TRANSPORTS[name], packetlog) for name in SERVICES}
        # connection caps per service and the descriptor reserve (HTTP's is used by webapp.cli)
        self.admission = admission_from_settings(settings)
        self.http_limits: Callable[[], dict[str, Any]] | None = None  # the HTTP server's, set by webapp.cli
        self.web_chat_tap = ServiceTap("web_chat", "ws", packetlog)  # the browser side of the chat
        self.endpoints: dict[str, Endpoint] = {}
        self.notes: dict[str, str] = {}
        self.http: Endpoint | None = None
        self.started_at = time.time()
        self._servers: dict[str, BaseServer] = {}
        self._rates: dict[str, dict[str, float]] = {}
        self.rate_history: deque[dict[str, Any]] = deque(maxlen=RATE_HISTORY)
        self.packet_file: PacketFileWriter | None = None
        self._sampler: gevent.Greenlet | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start_all(self) -> None:
        """Start every enabled service; on a BindError stop those already started and re-raise."""
        try:
            for name in SERVICES:
                if name not in self.settings.disabled:
                    self.start(name)
        except BindError:
            self.stop_all()
            raise
        self._sampler = gevent.spawn(self._sample_rates)
        if self.settings.packet_log_file is not None:
            self.packet_file = PacketFileWriter(self.bus, self.settings.packet_log_file,
                                                self.settings.packet_log_file_max)
        self.watcher.start()
        if self.history is not None:
            self._flusher = gevent.spawn(self._flush_history)
        if self.tftp_map is not None:
            self._sighup = gevent.signal_handler(signal.SIGHUP, self.reload_tftp_map)

    def start(self, name: str) -> Endpoint:
        if name in self._servers:
            return self.endpoints[name]
        host = self.settings.host
        # A service restarted from the dashboard keeps the port it had (even if it was 0).
        port = self.endpoints[name].port if name in self.endpoints else self.settings.port_of(name)
        try:
            server = self._build(name, host, port)
        except BindError as exc:
            fallback = fallback_port(name, port, exc)
            if fallback is None:
                raise
            server = self._build(name, host, fallback)
            reason = "is in use" if exc.cause.errno == errno.EADDRINUSE else "needs root"
            self.notes[name] = f"port {port} {reason}; using {fallback} instead"
        admission = self.admission.get(name)
        if admission is not None:  # the TCP services; it outlives the server, as the tap does
            server.admission = admission  # type: ignore[attr-defined]
        server.start()
        self._servers[name] = server
        self.endpoints[name] = Endpoint(host, server.socket.getsockname()[1])
        log.debug("%s listening on %s port %d", name, host, self.endpoints[name].port)
        return self.endpoints[name]

    def _build(self, name: str, host: str, port: int) -> BaseServer:
        factories: dict[str, Callable[[], BaseServer]] = {
            "tcp_chat": lambda: TcpChatServer(tcp_listener(name, host, port), self.taps[name], self.hub,
                                              self.responders[name]),
            "udp_chat": lambda: UdpChatServer(udp_socket(name, host, port), self.taps[name], self.hub,
                                              self.settings.udp_peer_ttl, self.responders[name],
                                              max_per_ip=self.settings.udp_chat_max_per_ip),
            "file": lambda: FileDownloadServer(tcp_listener(name, host, port), self.taps[name], self.store,
                                               self.transfers),
            "tftp": lambda: TftpServer(udp_socket(name, host, port), self.taps[name], self.store,
                                       self.transfers, self.settings.tftp_write,
                                       max_transfers=self.settings.tftp_max_transfers,
                                       max_upload=self.store.max_upload,
                                       overwrite=self.settings.tftp_overwrite,
                                       retries=self.settings.tftp_retries,
                                       requests_per_peer=self.settings.tftp_requests_per_peer,
                                       max_per_peer=self.settings.tftp_max_per_peer,
                                       window_bytes=self.settings.tftp_window_bytes,
                                       window_bytes_total=self.settings.tftp_window_bytes_total,
                                       port_range=self.settings.tftp_port_range, policy=self._tftp_policy()),
            "syslog": lambda: SyslogServer(udp_socket(name, host, port), self.taps[name], self.syslog),
        }
        return factories[name]()

    def _tftp_policy(self) -> TftpPolicy:
        s = self.settings
        return TftpPolicy(self.store, AccessList.from_cidrs(s.tftp_allow),
                          AccessList.from_cidrs(s.tftp_write_allow), self.tftp_map, s.tftp_write_dir,
                          s.tftp_refuse, s.tftp_rename)

    def reload_tftp_map(self) -> None:
        """SIGHUP: read the --tftp-map file again (logged; a bad one leaves the rules in force)."""
        assert self.tftp_map is not None
        self.tftp_map.reload()

    # -- auto-responses, kept in the data dir --------------------------------------------------
    def load_autoreplies(self) -> None:
        path = self.settings.data / AUTOREPLY_FILE
        if not path.exists():
            return
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            for name, rules in stored.items():
                if name in self.responders:
                    self.responders[name].set_rules(rules)
        except (OSError, ValueError, RuleError) as exc:
            log.error("auto-responses in %s not loaded: %s", path, exc)

    def set_autoreplies(self, name: str, rules: list[dict[str, Any]]) -> None:
        """Replace a service's rules (RuleError names what is wrong; nothing changes then)."""
        self.responders[name].set_rules(rules)
        stored = {n: [r.as_dict() for r in responder.rules] for n, responder in self.responders.items()}
        path = self.settings.data / AUTOREPLY_FILE
        temp = path.with_name(path.name + ".part")
        temp.write_text(json.dumps(stored, ensure_ascii=False, indent=1), encoding="utf-8")
        temp.replace(path)

    def stop(self, name: str, timeout: float = STOP_TIMEOUT) -> None:
        server = self._servers.pop(name, None)
        if server is not None:
            server.stop(timeout=timeout)
            log.debug("%s stopped", name)

    def own_ports(self) -> set[int]:
        ports = {e.port for e in self.endpoints.values()}
        return ports | ({self.http.port} if self.http is not None else set())

    def stop_all(self, timeout: float = STOP_TIMEOUT) -> None:
        self.tools.close_all()
        if self._sighup is not None:
            self._sighup.cancel()  # type: ignore[attr-defined]
        if self._sampler is not None:
            self._sampler.kill(block=False)
        self.watcher.stop()
        gevent.joinall([gevent.spawn(self.stop, name, timeout) for name in list(self._servers)],
                       timeout=timeout + 0.3)
        if self._flusher is not None:
            self._flusher.kill(block=False)
        if self.history is not None:
            self.history.close()  # flushes what the last interval buffered
        if self.packet_file is not None:
            self.packet_file.close()
        self.syslog.close()

    def _flush_history(self) -> None:
        assert self.history is not None
        while True:
            gevent.sleep(FLUSH_INTERVAL)
            self.history.flush()

    def running(self, name: str) -> bool:
        return name in self._servers

    # -- status ----------------------------------------------------------------------------
    def all_taps(self) -> dict[str, ServiceTap]:
        return {**self.taps, "web_chat": self.web_chat_tap}

    def _sample_rates(self, interval: float = 1.0) -> None:
        previous = {n: t.counters.as_dict() for n, t in self.all_taps().items()}
        while True:
            gevent.sleep(interval)
            for name, tap in self.all_taps().items():
                now = tap.counters.as_dict()
                before = previous[name]
                self._rates[name] = {
                    "packets_per_s": (now["packets_in"] + now["packets_out"]
                                      - before["packets_in"] - before["packets_out"]) / interval,
                    "bytes_per_s": (now["bytes_in"] + now["bytes_out"]
                                    - before["bytes_in"] - before["bytes_out"]) / interval,
                }
                previous[name] = now
            self.rate_history.append({"t": round(time.time(), 1), "services": {
                name: [rate["packets_per_s"], rate["bytes_per_s"]] for name, rate in self._rates.items()}})
            self.bus.publish(STATUS_TOPIC, None)

    def status(self) -> dict[str, Any]:
        services: dict[str, Any] = {}
        if self.http is not None:
            services["http"] = {"running": True, "transport": "tcp", "host": self.http.host,
                                "port": self.http.port,
                                "limits": self.http_limits() if self.http_limits else self.admission["http"].status()}
        for name in SERVICES:
            endpoint = self.endpoints.get(name)
            entry: dict[str, Any] = {
                "running": name in self._servers,
                "transport": TRANSPORTS[name],
                "host": endpoint.host if endpoint else self.settings.host,
                "port": endpoint.port if endpoint else self.settings.port_of(name),
                "disabled": name in self.settings.disabled,
            }
            entry.update(self.taps[name].counters.as_dict())
            entry.update(self._rates.get(name, {"packets_per_s": 0.0, "bytes_per_s": 0.0}))
            if name in self.notes:
                entry["note"] = self.notes[name]
            if (admission := self.admission.get(name)) is not None:
                entry["limits"] = admission.status()
            if name == "syslog":
                entry["messages"] = self.syslog.status()
            services[name] = entry
        return {
            "version": __version__,
            "uptime_s": round(time.time() - self.started_at, 1),
            "packet_log": {"events": len(self.packetlog), "recorded": self.packetlog.recorded,
                           "capacity": self.packetlog.capacity},
            "services": services,
            "fds": self.admission.budget.status(),
        }
