"""The `sockdash` command: parse settings, bind everything, print the banner, serve, stop cleanly."""

from __future__ import annotations

import dataclasses
import logging
import signal
import sqlite3
import sys
from pathlib import Path

import gevent
from flask import Response
from gevent.event import Event

from sockets_core import __version__
from sockets_core.bus import Bus
from sockets_core.files import FileStore
from sockets_core.netinfo import lan_addresses, url_host
from sockets_core.packetfile import check_writable
from sockets_core.packetlog import PacketLog
from sockets_core.servers.admission import raise_fd_limit
from sockets_core.servers.listen import BindError, adopt_shared_ports, tcp_listener
from sockets_core.services import Endpoint, Services
from sockets_core.settings import SERVICES, Settings, SettingsError, parse_settings

from . import logformat, workers
from .app import create_app
from .auth import load_or_create_token
from .http_server import DashboardServer

log = logging.getLogger("sockdash")

WELCOME_FILE = "hello.txt"
WELCOME_TEXT = ("Hello from sockdash!\n"
                "This file lives in the file root; every service serves it: HTTP, the TCP\n"
                "file-download server and TFTP.\n")
HTTP_STOP_TIMEOUT = 1.0


class StartupError(Exception):
    """A problem found before serving; printed as one line, exit status 2."""


def prepare_root(root: Path) -> Path:
    try:
        if not root.exists():
            root.mkdir(parents=True)
            (root / WELCOME_FILE).write_text(WELCOME_TEXT)
        if not root.is_dir():
            raise StartupError(f"the file root {root} is not a folder")
        next(root.iterdir(), None)
        return root.resolve()
    except OSError as exc:  # a folder on the way that we may not enter counts too
        raise StartupError(f"the file root {root} is not readable: {exc.strerror}") from None


def prepare_data(data: Path) -> Path:
    try:
        data.mkdir(parents=True, exist_ok=True)
        probe = data / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise StartupError(f"the data folder {data} is not writable: {exc.strerror}") from None
    return data.resolve()


def reachable_hosts(bound: str, lan: list[str]) -> list[str]:
    """Where browsers can reach a server bound to ``bound``: loopback first, then the LAN."""
    if bound in ("0.0.0.0", "::", ""):
        return ["127.0.0.1", *lan]
    return [bound]


def banner(settings: Settings, services: Services, token: str, lan: list[str]) -> str:
    status = services.status()["services"]
    lines = [f"sockdash {__version__}"]
    for name in ("http", *SERVICES):
        entry = status[name]
        if not entry["running"]:
            lines.append(f"  {name:<9} disabled")
            continue
        note = f"  ({entry['note']})" if "note" in entry else ""
        lines.append(f"  {name:<9} {entry['transport']} {url_host(entry['host'])}:{entry['port']}{note}")
    urls = [f"http://{url_host(host)}:{status['http']['port']}/" for host in reachable_hosts(settings.host, lan)]
    lines.append("Dashboard: " + "  ".join(urls))
    lines.append(f"Admin:     {urls[-1]}?token={token}")
    return "\n".join(lines)


def _say_worker(response: Response, number: int) -> Response:
    response.headers["X-Sockdash-Worker"] = str(number)  # which of --workers N answered
    return response


def main(argv: list[str]) -> int:
    if argv[:1] == ["tftp"]:
        from .tftp_cli import main as tftp_main

        return tftp_main(argv[1:])
    try:
        settings = parse_settings(argv)
    except SettingsError as exc:
        print(f"sockdash: error: {exc}", file=sys.stderr)
        return 2
    logformat.configure(settings.log_level, settings.log_format)
    worker = workers.worker_number()
    if worker is not None:  # one of --workers N: bind the ports the supervisor decided
        adopt_shared_ports()
        workers.tag_logs(worker, settings.log_format)
        settings = workers.for_worker(settings, worker)  # syslog and the shared files: worker 1 alone
        if settings.instance_name:  # each worker is an instance on the bus: their names must differ
            settings = dataclasses.replace(settings, instance_name=f"{settings.instance_name}-w{worker}")
    # every connection is a descriptor: take all the kernel allows before the budget reads it
    before, after = raise_fd_limit()
    if after != before:
        log.debug("open files limit raised from %d to %d", before, after)
    if settings.fd_reserve is not None and settings.fd_reserve >= after:
        print(f"sockdash: error: --fd-reserve {settings.fd_reserve} leaves no descriptor for connections: "
              f"the open-files limit is {after}", file=sys.stderr)
        return 2
    try:
        store = FileStore(prepare_root(settings.root), settings.max_upload)
        data = prepare_data(settings.data)
        token = load_or_create_token(data, settings.admin_token)
        history = workers.open_history(data / "chat.sqlite3", worker)  # with --workers, worker 1 stores
        if settings.packet_log_file is not None:  # opened only once the ports are bound: fail before that
            check_writable(settings.packet_log_file)
    except (StartupError, OSError, sqlite3.Error) as exc:
        print(f"sockdash: error: {exc}", file=sys.stderr)
        return 2

    cluster = None
    if settings.bus:  # one world with every instance on this Redis (sockets_core/cluster)
        from sockets_core.cluster.node import BusUnavailable, Cluster  # only now: no Redis client otherwise

        try:
            cluster = Cluster.connect(settings)
        except BusUnavailable as exc:
            print(f"sockdash: error: {exc} (--bus)", file=sys.stderr)
            return 2
        token = cluster.adopt_token(token)
    bus = cluster.bus if cluster is not None else Bus()
    try:
        services = Services(settings, bus, PacketLog(bus, settings.packet_log_size), store, history,
                            cluster=cluster)
    except OSError as exc:  # --syslog-file that cannot be opened: one line, as for --root
        print(f"sockdash: error: {exc}", file=sys.stderr)
        return 2
    services.load_autoreplies()
    lan = lan_addresses(include_ipv6=":" in settings.host)
    app = create_app(services, token, lan)
    try:
        http_socket = tcp_listener("http", settings.host, settings.http_port)
    except BindError as exc:
        print(f"sockdash: error: {exc}", file=sys.stderr)
        return 2
    try:
        services.start_all()
    except BindError as exc:
        http_socket.close()
        print(f"sockdash: error: {exc}", file=sys.stderr)
        return 2
    services.http = Endpoint(settings.host, http_socket.getsockname()[1])
    if worker is not None:
        services.notes.update(workers.handed_down_notes())  # the fallback ports the supervisor took
        app.after_request(lambda response: _say_worker(response, worker))
        from . import worker_metrics

        worker_metrics.install(app, app.extensions["sockdash_registry"], data, worker)  # one /metrics for all
    http = DashboardServer(http_socket, app, services.admission["http"], head_timeout=settings.http_head_timeout,
                           idle_timeout=settings.http_idle_timeout, write_timeout=settings.http_write_timeout)
    services.http_limits = http.status
    http.start()
    stopping = Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, stopping.set)
    # the banner last: whoever reads it may signal us at once (the tests do)
    print(banner(settings, services, token, lan), flush=True)
    stopping.wait()
    log.info("stopping")
    # both as () -> None: joinall's one type variable takes no list of two different greenlet types
    gevent.joinall([gevent.spawn(lambda: http.stop(HTTP_STOP_TIMEOUT)), gevent.spawn(lambda: services.stop_all())],
                   timeout=1.9)
    if worker is None:  # a worker's supervisor says it, once for all
        print("sockdash stopped", flush=True)
    return 0
