"""The process's services, put together from Settings: the one object the web side holds.

Services is a façade over parts that each have one job:

- ``service_registry.ServiceRegistry``: start, stop and report the socket servers, the
  ports they hold and why one moved (the fallback rule for well-known ports is here, in
  ``fallback_port``, with ``_build``: what each service is made of);
- ``rate_sampler.RateSampler``: counters -> per-second rates and the five-minute history;
- ``autoreply_store.AutoReplyStore``: the chat auto-responses and where they are kept
  (``FileAutoReplyStore`` here; a store shared through Redis is another subclass);
- the background jobs that live as long as the services (the chat history flusher, the
  folder watcher, the packet-log file, SIGHUP for the TFTP map) are started and stopped
  here, each in one line.

Why a façade and not new call sites: about forty places (webapp/*, tests, bench) read
``services().store``, ``.transfers``, ``.status()``... The parts are the unit to change
(a Redis-backed rule store, another sampler), and a caller that needs one asks for it by
name (``services.autoreplies``, ``.registry``, ``.sampler``); the façade keeps what the
callers share (one status document, one start/stop) in one place.

Each service has a ServiceTap that outlives its server, so counters survive a stop and
start from the dashboard.
"""

from __future__ import annotations

import errno
import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent

from . import __version__
from .autoreply_store import AUTOREPLY_FILE, AutoReplyStore, FileAutoReplyStore
from .bus import Bus
from .chat.autoreply import AutoResponder
from .chat.history import FLUSH_INTERVAL, ChatHistory
from .chat.hub import ChatHub
from .chat.limits import ChatLimits
from .cluster.status import bus_status
from .files import FileStore
from .packetfile import PacketFileWriter
from .packetlog import PacketLog
from .rate_sampler import STATUS_TOPIC, RateSampler
from .servers.admission import admission_from_settings
from .servers.file_download import FileDownloadServer
from .servers.listen import BindError, tcp_listener, udp_socket
from .servers.mmsg import describe as describe_batches
from .servers.outbound import DeliveryCounters
from .servers.syslog import SyslogServer
from .servers.tcp_chat import TcpChatServer
from .servers.tftp import TftpServer
from .servers.tftp_policy import TftpPolicy
from .servers.udp_chat import UdpChatServer
from .service_registry import STOP_TIMEOUT, TRANSPORTS, AnyServer, Endpoint, ServiceRegistry
from .settings import SERVICES, SYSLOG_FALLBACK_PORT, TFTP_FALLBACK_PORT, Settings
from .syslog.store import SyslogStore
from .tftp.access import AccessList
from .tftp.remap import RemapFile
from .tools.sessions import ToolManager
from .traffic import ServiceTap
from .transfers import TransferRegistry
from .watch import FolderWatcher

if TYPE_CHECKING:  # --bus only: the embedded default never imports the Redis client
    from .cluster.node import Cluster
    from .cluster.packets import ClusterPackets
    from .cluster.syslog_share import ClusterSyslog

# re-exported: callers import them from here
__all__ = ["AUTOREPLY_FILE", "STATUS_TOPIC", "STOP_TIMEOUT", "TRANSPORTS", "Endpoint", "Services", "fallback_port"]

log = logging.getLogger(__name__)

CHAT_SERVICES = ("tcp_chat", "udp_chat")  # the ones with auto-responses
# service -> (its well-known port, the errnos binding it fails with that mean "take the other port")
WELL_KNOWN = {"tftp": (69, {errno.EACCES}), "syslog": (514, {errno.EACCES, errno.EADDRINUSE})}


def fallback_port(name: str, port: int, error: BindError) -> int | None:
    """The unprivileged port a service takes when its well-known one cannot be bound (69 ->
    6969 without root; 514 -> 5514 without root or when a system syslog daemon holds it)."""
    well_known, errnos = WELL_KNOWN.get(name, (None, set()))
    if port != well_known or error.cause.errno not in errnos:
        return None
    return {"tftp": TFTP_FALLBACK_PORT, "syslog": SYSLOG_FALLBACK_PORT}[name]  # read now: tests patch them


def every(interval: float, job: Callable[[], object]) -> gevent.Greenlet[[], None]:
    def run() -> None:
        while True:
            gevent.sleep(interval)
            job()
    return gevent.spawn(run)


class Services:
    def __init__(self, settings: Settings, bus: Bus, packetlog: PacketLog, store: FileStore,
                 history: ChatHistory | None = None, autoreplies: AutoReplyStore | None = None,
                 cluster: Cluster | None = None) -> None:
        self.settings = settings
        self.cluster = cluster  # --bus: shared presence, rules and the instances registry
        self.bus = bus
        self.packetlog = packetlog
        self.store = store
        self.history = history
        self.hub = ChatHub(bus, history, ChatLimits.from_settings(settings),
                           presence=cluster.presence if cluster is not None else None)
        if history is not None:
            history.set_limits(settings.chat_history_per_room, settings.chat_history_max)
        self.transfers = TransferRegistry(bus)
        self.cluster_packets: ClusterPackets | None = None  # --bus: started with the services
        self.cluster_syslog: ClusterSyslog | None = None  # --bus: every instance's syslog ring
        self.tcp_delivery = DeliveryCounters(settings.tcp_chat_queue_bytes)  # kept across restarts of tcp_chat
        self.autoreplies = autoreplies or (cluster.autoreply_store(CHAT_SERVICES) if cluster is not None
                                           else FileAutoReplyStore(CHAT_SERVICES, settings.data))
        self.tools = ToolManager(bus, packetlog, settings.host, self.own_ports, list(settings.tools_allow))
        self.watcher = FolderWatcher(store, bus)
        # read (and checked) once at start; it outlives the TFTP server, and SIGHUP reloads it
        self.tftp_map = RemapFile(str(settings.tftp_map)) if settings.tftp_map is not None else None
        self.syslog = SyslogStore(settings.syslog_max, bus, settings.syslog_file, settings.syslog_file_max)
        self.taps = {name: ServiceTap(name, TRANSPORTS[name], packetlog) for name in SERVICES}
        self.web_chat_tap = ServiceTap("web_chat", "ws", packetlog)  # the browser side of the chat
        # the web chat's per-tab queues (webapp/chat_ws.py counts): tabs told they lost events, and how many
        self.web_chat_delivery = {"queue_events": 2_000, "lagged": 0, "dropped_events": 0}
        # connection caps per service and the descriptor reserve (HTTP's is used by webapp.cli)
        self.admission = admission_from_settings(settings)
        self.registry = ServiceRegistry(SERVICES, settings.host, settings.port_of, self._build, fallback_port,
                                        self.admission)
        self.sampler = RateSampler(self.all_taps, bus)
        self.http_limits: Callable[[], dict[str, Any]] | None = None  # the HTTP server's, set by webapp.cli
        self.http: Endpoint | None = None
        self.started_at = time.time()
        self.packet_file: PacketFileWriter | None = None
        self._flusher: gevent.Greenlet[[], None] | None = None
        self._sighup: gevent.signal_handler[[]] | None = None

    # -- the parts, as the callers knew them ------------------------------------------------
    @property
    def endpoints(self) -> dict[str, Endpoint]:
        return self.registry.endpoints

    @property
    def notes(self) -> dict[str, str]:
        return self.registry.notes

    @property
    def _servers(self) -> dict[str, AnyServer]:
        return self.registry._servers  # tests reach a running server (tests/unit/test_tftp_limits.py)

    @property
    def rate_history(self) -> deque[dict[str, Any]]:
        return self.sampler.history

    @property
    def responders(self) -> dict[str, AutoResponder]:
        return self.autoreplies.responders

    def load_autoreplies(self) -> None:
        self.autoreplies.load()

    def set_autoreplies(self, name: str, rules: list[dict[str, Any]]) -> None:
        """Replace a service's rules (RuleError names what is wrong; nothing changes then)."""
        self.autoreplies.set_rules(name, rules)

    # -- lifecycle -------------------------------------------------------------------------
    def start_all(self) -> None:
        """Start every enabled service; on a BindError stop those already started and re-raise."""
        self.registry.start_all(skip=self.settings.disabled)
        if self.running("tftp"):
            log.info(describe_batches())  # which system call sends a TFTP window (found at the server's start)
        self.sampler.start()
        if self.settings.packet_log_file is not None:
            self.packet_file = PacketFileWriter(self.bus, self.settings.packet_log_file,
                                                self.settings.packet_log_file_max)
        self.watcher.start()
        if self.history is not None:
            self._flusher = every(FLUSH_INTERVAL, self.history.flush)
        if self.tftp_map is not None:
            self._sighup = gevent.signal_handler(signal.SIGHUP, self.reload_tftp_map)
        if self.cluster is not None:
            self.cluster.attach(__version__, self._cluster_record, self.hub.backfill)
            self.transfers.follow_cluster()  # /api/transfers lists every instance's
            from .cluster.packets import ClusterPackets  # the packet log of every instance

            self.cluster_packets = ClusterPackets(self.bus, self.packetlog, self.settings.bus_packets_per_second)
            self.cluster_packets.start()
            from .cluster.syslog_share import ClusterSyslog  # the syslog messages of every instance

            self.cluster_syslog = ClusterSyslog(self.bus, self.syslog)
            self.cluster_syslog.start()

    def _cluster_record(self) -> dict[str, Any]:
        """What this instance serves, for the cluster's list of instances."""
        ports = {name: {"transport": TRANSPORTS[name], "port": ep.port} for name, ep in self.endpoints.items()}
        if self.http is not None:
            ports["http"] = {"transport": "tcp", "port": self.http.port}
        return {"services": ports}

    def start(self, name: str) -> Endpoint:
        return self.registry.start(name)

    def stop(self, name: str, timeout: float = STOP_TIMEOUT) -> None:
        self.registry.stop(name, timeout)

    def running(self, name: str) -> bool:
        return self.registry.running(name)

    def stop_all(self, timeout: float = STOP_TIMEOUT) -> None:
        self.tools.close_all()
        if self._sighup is not None:
            self._sighup.cancel()
        self.sampler.stop()
        self.watcher.stop()
        self.registry.stop_all(timeout)
        if self._flusher is not None:
            self._flusher.kill(block=False)
        if self.history is not None:
            self.history.close()  # flushes what the last interval buffered
        if self.packet_file is not None:
            self.packet_file.close()
        self.syslog.close()
        self.transfers.stop_following()
        if self.cluster_packets is not None:
            self.cluster_packets.stop()
        if self.cluster_syslog is not None:
            self.cluster_syslog.stop()
        if self.cluster is not None:
            self.hub.stop()  # its nicks and id slot are free at once, not after the TTL
            self.cluster.close()

    def own_ports(self) -> set[int]:
        return self.registry.ports() | ({self.http.port} if self.http is not None else set())

    # -- what each service is made of --------------------------------------------------------
    def _build(self, name: str, host: str, port: int) -> AnyServer:
        factories: dict[str, Callable[[], AnyServer]] = {
            "tcp_chat": lambda: TcpChatServer(tcp_listener(name, host, port), self.taps[name], self.hub,
                                              self.responders[name], self.tcp_delivery),
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

    # -- status ----------------------------------------------------------------------------
    def all_taps(self) -> dict[str, ServiceTap]:
        return {**self.taps, "web_chat": self.web_chat_tap}

    def status(self) -> dict[str, Any]:
        services: dict[str, Any] = {}
        if self.http is not None:
            services["http"] = {"running": True, "transport": "tcp", "host": self.http.host,
                                "port": self.http.port,
                                "limits": self.http_limits() if self.http_limits else self.admission["http"].status()}
        for name in SERVICES:
            entry = self.registry.report(name, disabled=name in self.settings.disabled)
            entry.update(self.taps[name].counters.as_dict())
            entry.update(self.sampler.rate_of(name))
            if name == "syslog":
                entry["messages"] = self.syslog.status()
            if name == "tcp_chat":  # what its output queues dropped, by reason
                entry["delivery"] = self.tcp_delivery.as_dict()
            services[name] = entry
        return {
            "version": __version__,
            "uptime_s": round(time.time() - self.started_at, 1),
            "packet_log": {"events": len(self.packetlog), "recorded": self.packetlog.recorded,
                           "capacity": self.packetlog.capacity},
            "services": services,
            "fds": self.admission.budget.status(),
            "bus": bus_status(self.bus, self.cluster),
            "web_chat": {"delivery": dict(self.web_chat_delivery)},
        }
