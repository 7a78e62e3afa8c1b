"""One Settings object built from command-line flags and SOCKDASH_* environment variables.

Precedence: a flag on the command line beats the environment, which beats the default.
Every flag ``--some-flag`` has the variable ``SOCKDASH_SOME_FLAG``; a repeatable flag
(``--disable``) takes a comma-separated list from the environment, a boolean flag takes
1/true/yes/on or 0/false/no/off.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

SERVICES: tuple[str, ...] = ("tcp_chat", "udp_chat", "file", "tftp", "syslog")
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS: tuple[str, ...] = ("text", "json")
TFTP_FALLBACK_PORT = 6969
SYSLOG_FALLBACK_PORT = 5514


class SettingsError(ValueError):
    """A flag or environment value that cannot be used; the message names it."""


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    http_port: int = 8000
    tcp_chat_port: int = 8888
    udp_chat_port: int = 8989
    file_port: int = 8080
    tftp_port: int = 69
    syslog_port: int = 514
    syslog_max: int = 10_000
    syslog_file: Path | None = None
    syslog_file_max: int = 64 << 20
    root: Path = Path("files")
    data: Path = Path(".sockdash")
    admin_token: str | None = None
    tftp_write: bool = False
    tftp_overwrite: bool = False
    tftp_retries: int = 5
    tftp_max_transfers: int = 64
    tftp_requests_per_peer: int = 50
    tftp_max_per_peer: int = 8
    tftp_window_bytes: int = 1 << 20
    tftp_window_bytes_total: int = 16 << 20
    tftp_map: Path | None = None
    tftp_allow: tuple[str, ...] = ()
    tftp_write_allow: tuple[str, ...] = ()  # empty: writes follow tftp_allow
    tftp_port_range: tuple[int, int] | None = None
    tftp_refuse: frozenset[str] = field(default_factory=frozenset)
    tftp_write_dir: str | None = None
    tftp_rename: bool = False
    tools_allow: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    disabled: frozenset[str] = field(default_factory=frozenset)
    log_level: str = "INFO"
    log_format: str = "text"
    packet_log_size: int = 10_000
    max_upload: int = 1 << 30
    udp_peer_ttl: int = 600
    udp_chat_max_per_ip: int = 64
    chat_max_rooms: int = 1_000
    chat_rooms_per_client: int = 20
    chat_room_ttl: int = 300
    chat_history_per_room: int = 10_000
    chat_history_max: int = 64 << 20
    packet_log_file: Path | None = None
    packet_log_file_max: int = 64 << 20
    http_max_per_ip: int = 256
    http_max_connections: int = 2048
    tcp_chat_max_per_ip: int = 64
    tcp_chat_max_connections: int = 1024
    tcp_chat_queue_bytes: int = 256 * 1024
    file_max_per_ip: int = 64
    file_max_connections: int = 256
    fd_reserve: int | None = None  # None: a quarter of the open-files limit, at most 256
    http_head_timeout: float = 10.0
    http_idle_timeout: float = 60.0
    http_write_timeout: float = 60.0
    ws_send_timeout: float = 30.0  # a WebSocket frame the browser does not take in this time: cut (webapp.feed)
    ws_idle_timeout: float = 120.0  # a WebSocket that sent nothing (not even a pong) this long: closed (webapp.feed)
    workers: int = 1  # processes serving the same ports (webapp.workers); more than 1 needs a bus
    worker_start_timeout: float = 60.0  # a (re)started worker without its banner by then is killed
    bus: str | None = None  # redis://HOST:PORT/DB or unix:///path: instances share one world (sockets_core.cluster)
    bus_stream_max: int = 10_000  # entries kept per Redis stream (XADD MAXLEN ~)
    bus_queue: int = 10_000  # cluster items waiting to be written to Redis; past it the oldest go
    bus_packets_per_second: int = 2_000  # packet-log events one instance shares (sampled past it: cluster/packets.py)
    instance_name: str | None = None  # this instance's id in the cluster (default host-pid-random)

    def port_of(self, service: str) -> int:
        return {
            "http": self.http_port,
            "tcp_chat": self.tcp_chat_port,
            "udp_chat": self.udp_chat_port,
            "file": self.file_port,
            "tftp": self.tftp_port,
            "syslog": self.syslog_port,
        }[service]


def parse_port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise SettingsError(f"invalid port {text!r}: not a number") from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"invalid port {port}: must be 0-65535 (0 picks a free port)")
    return port


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"invalid boolean {text!r}: use 1/true/yes/on or 0/false/no/off")


def parse_service(text: str) -> str:
    if text not in SERVICES:
        raise SettingsError(f"unknown service {text!r}: choose from {', '.join(SERVICES)}")
    return text


def parse_cidr(text: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        raise SettingsError(f"invalid network {text!r}: use a CIDR such as 192.168.1.0/24") from None


TFTP_OPTIONS: tuple[str, ...] = ("blksize", "tsize", "timeout", "windowsize")  # what sockdash negotiates


def parse_tftp_option(text: str) -> str:
    name = text.strip().lower()
    if name not in TFTP_OPTIONS:
        raise SettingsError(f"unknown TFTP option {text!r}: choose from {', '.join(TFTP_OPTIONS)}")
    return name


def parse_port_range(text: str) -> tuple[int, int]:
    low, sep, high = text.strip().partition(":")
    if not sep or not low.isdigit() or not high.isdigit():
        raise SettingsError(f"invalid port range {text!r}: use LOW:HIGH, e.g. 50000:50100")
    if not 1 <= int(low) <= int(high) <= 65535:
        raise SettingsError(f"invalid port range {text!r}: ports 1-65535, LOW not above HIGH")
    return int(low), int(high)


def parse_write_dir(text: str) -> str:
    """A folder under the file root, as a relative path (it is resolved under the root again
    at every upload, symlinks included)."""
    parts = [p for p in text.strip().replace("\\", "/").split("/") if p not in ("", ".")]
    if text.strip().startswith(("/", "\\")) or ":" in text or ".." in parts or not parts:
        raise SettingsError(f"invalid upload folder {text!r}: give a folder under the file root, e.g. uploads")
    return "/".join(parts)


def parse_tftp_map(text: str) -> Path:
    """The map file, read once here so that a bad one stops sockdash with its file and line."""
    from .tftp.remap import RemapFile, RemapSyntaxError

    path = Path(text)
    try:
        RemapFile(str(path))
    except RemapSyntaxError as exc:
        raise SettingsError(f"bad TFTP map: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read the TFTP map {text}: {exc.strerror or exc}") from None
    return path


def parse_allowed_host(text: str) -> str:
    """A Host name (or address) the dashboard answers besides this machine's; '*' for any."""
    import ipaddress

    name = text.strip().lower().removesuffix(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    if not name or any(c in name for c in "/@:[] \t"):
        raise SettingsError(f"invalid host name {text!r}: give a name or address without port, e.g. sockdash.lan")
    return name


def parse_level(text: str) -> str:
    level = text.upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"invalid log level {text!r}: choose from {', '.join(LOG_LEVELS)}")
    return level


def parse_log_format(text: str) -> str:
    fmt = text.strip().lower()
    if fmt not in LOG_FORMATS:
        raise SettingsError(f"invalid log format {text!r}: choose from {', '.join(LOG_FORMATS)}")
    return fmt


def parse_positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"invalid number {text!r}") from None
    if value < 1:
        raise SettingsError(f"invalid number {value}: must be at least 1")
    return value


def parse_workers(text: str) -> int:
    """--workers: a number of processes, or ``auto`` for one per core this process may use."""
    if text.strip().lower() == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    try:
        return parse_positive(text)
    except SettingsError:
        raise SettingsError(f"invalid number of workers {text!r}: a number from 1 up, or auto") from None


def parse_bus_url(text: str) -> str:
    """--bus: a Redis URL (the scheme is checked here, the host when sockdash connects)."""
    url = text.strip()
    if not url.startswith(("redis://", "rediss://", "unix://")) or url in ("redis://", "rediss://", "unix://"):
        raise SettingsError(f"invalid bus {text!r}: use redis://HOST:PORT/DB or unix:///path/to/redis.sock")
    return url


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"invalid number of seconds {text!r}") from None
    if not 0 < value < 1e6:
        raise SettingsError(f"invalid number of seconds {text!r}: must be more than 0")
    return value


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes, with an optional K/M/G/T suffix (binary units): 1G, 512M, 1048576."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = value[-1:] if value[-1:] in _SIZE_UNITS and value[-1:] else ""
    number = value[:-1] if unit else value
    if not number.isdigit():
        raise SettingsError(f"invalid size {text!r}: use bytes or a K/M/G suffix, e.g. 1G")
    return int(number) * _SIZE_UNITS[unit]


_Parsed = TypeVar("_Parsed")


def _argparse_type(parse: Callable[[str], _Parsed]) -> Callable[[str], _Parsed]:
    """Adapt a parser raising SettingsError to argparse's ArgumentTypeError."""

    def convert(text: str) -> _Parsed:
        try:
            return parse(text)
        except SettingsError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus an error; a user wants the one line that names the problem."""

    def error(self, message: str) -> NoReturn:
        raise SettingsError(message)


# (flag, dest, parser, help) for flags that take a value; env var is derived from the flag.
_VALUE_FLAGS: list[tuple[str, str, Callable[[str], object], str]] = [
    ("--host", "host", str, "address to bind every service to; '::' serves IPv6 and IPv4 (default 0.0.0.0)"),
    ("--http-port", "http_port", parse_port, "HTTP dashboard and WebSockets (default 8000)"),
    ("--tcp-chat-port", "tcp_chat_port", parse_port, "TCP chat (default 8888)"),
    ("--udp-chat-port", "udp_chat_port", parse_port, "UDP chat (default 8989)"),
    ("--file-port", "file_port", parse_port, "TCP file download (default 8080)"),
    ("--tftp-port", "tftp_port", parse_port,
     f"TFTP (default 69; falls back to {TFTP_FALLBACK_PORT} when 69 cannot be bound)"),
    ("--syslog-port", "syslog_port", parse_port,
     f"syslog receiver, UDP (default 514; falls back to {SYSLOG_FALLBACK_PORT} when 514 cannot be bound)"),
    ("--syslog-max", "syslog_max", parse_positive,
     "syslog messages kept for the dashboard; older ones go (default 10000)"),
    ("--syslog-file", "syslog_file", Path,
     "also append every syslog message to this file, one line each (rotated, 3 old files kept)"),
    ("--syslog-file-max", "syslog_file_max", parse_size, "rotate the syslog file at this size (default 64M)"),
    ("--root", "root", Path, "folder served by every service, created if missing (default ./files)"),
    ("--data", "data", Path, "state folder: chat history, admin token (default ./.sockdash)"),
    ("--admin-token", "admin_token", str, "admin token (default: generated once, kept in --data)"),
    ("--log-level", "log_level", parse_level, "DEBUG, INFO, WARNING or ERROR (default INFO)"),
    ("--log-format", "log_format", parse_log_format,
     "text, or json: one JSON object per line for journald and containers (default text)"),
    ("--packet-log-size", "packet_log_size", parse_positive, "events kept in the packet log (default 10000)"),
    ("--max-upload", "max_upload", parse_size, "largest upload over HTTP or TFTP, e.g. 512M (default 1G)"),
    ("--packet-log-file", "packet_log_file", Path,
     "also append every packet event to this JSON-lines file (rotated, 3 old files kept)"),
    ("--packet-log-file-max", "packet_log_file_max", parse_size,
     "rotate the packet log file at this size (default 64M)"),
    ("--tftp-retries", "tftp_retries", parse_positive, "TFTP resends before a transfer is abandoned (default 5)"),
    ("--tftp-max-transfers", "tftp_max_transfers", parse_positive, "TFTP transfers at once (default 64)"),
    ("--tftp-requests-per-peer", "tftp_requests_per_peer", parse_positive,
     "new TFTP requests per second from one IP (default 50)"),
    ("--tftp-max-per-peer", "tftp_max_per_peer", parse_positive,
     "TFTP transfers at once from one IP; more get ERROR 0 (default 8)"),
    ("--tftp-window-bytes", "tftp_window_bytes", parse_size,
     "bytes one TFTP window may hold; a larger windowsize is lowered in the OACK (default 1M)"),
    ("--tftp-window-bytes-total", "tftp_window_bytes_total", parse_size,
     "bytes the windows of all TFTP downloads may hold together; past it new windows shrink (default 16M)"),
    ("--tftp-map", "tftp_map", parse_tftp_map,
     "TFTP file-name map (tftp-hpa's --map-file rules); reloaded when it changes and on SIGHUP"),
    ("--tftp-port-range", "tftp_port_range", parse_port_range,
     "LOW:HIGH: every TFTP transfer uses a port in this range (default: any free port)"),
    ("--tftp-write-dir", "tftp_write_dir", parse_write_dir,
     "TFTP uploads land only under this folder of the file root, created if missing (default: anywhere)"),
    ("--udp-peer-ttl", "udp_peer_ttl", parse_positive,
     "seconds a UDP chat peer keeps receiving after its last datagram (default 600)"),
    ("--udp-chat-max-per-ip", "udp_chat_max_per_ip", parse_positive,
     "UDP chat peers (source ports) from one address; datagrams from more are ignored (default 64)"),
    ("--chat-max-rooms", "chat_max_rooms", parse_positive,
     "chat rooms listed at once; a new one replaces the longest-empty room, or is refused (default 1000)"),
    ("--chat-rooms-per-client", "chat_rooms_per_client", parse_positive,
     "chat rooms one client may be in, plus the empty ones it opened (default 20)"),
    ("--chat-room-ttl", "chat_room_ttl", parse_positive,
     "seconds an empty chat room stays listed; its history is kept (default 300)"),
    ("--chat-history-per-room", "chat_history_per_room", parse_positive,
     "chat messages kept per room in the history; older ones are removed (default 10000)"),
    ("--chat-history-max", "chat_history_max", parse_size,
     "size of the whole chat history; past it the oldest messages are removed (default 64M)"),
    ("--http-max-per-ip", "http_max_per_ip", parse_positive,
     "HTTP connections from one address; idle ones make room for new ones (default 256)"),
    ("--http-max-connections", "http_max_connections", parse_positive, "HTTP connections in all (default 2048)"),
    ("--tcp-chat-max-per-ip", "tcp_chat_max_per_ip", parse_positive,
     "TCP chat connections from one address (default 64)"),
    ("--tcp-chat-max-connections", "tcp_chat_max_connections", parse_positive,
     "TCP chat connections in all (default 1024)"),
    ("--tcp-chat-queue-bytes", "tcp_chat_queue_bytes", parse_size,
     "bytes waiting for one TCP chat client to read; past it its oldest lines are dropped and it is told "
     "how many (default 256K)"),
    ("--file-max-per-ip", "file_max_per_ip", parse_positive, "file-download connections from one address (default 64)"),
    ("--file-max-connections", "file_max_connections", parse_positive,
     "file-download connections in all (default 256)"),
    ("--fd-reserve", "fd_reserve", parse_positive,
     "file descriptors kept free for the dashboard and open files; chat and file downloads are refused "
     "below it, HTTP below half of it (default: a quarter of the open-files limit, at most 256)"),
    ("--http-head-timeout", "http_head_timeout", parse_seconds,
     "seconds a client has to send a whole request head; then 408 (default 10)"),
    ("--http-idle-timeout", "http_idle_timeout", parse_seconds,
     "seconds an idle keep-alive HTTP connection is kept (default 60)"),
    ("--http-write-timeout", "http_write_timeout", parse_seconds,
     "seconds an HTTP response (or request body) may make no progress before the connection is dropped "
     "(default 60)"),
    ("--ws-send-timeout", "ws_send_timeout", parse_seconds,
     "seconds a WebSocket frame may wait for the browser to take it before the connection is cut (default 30)"),
    ("--ws-idle-timeout", "ws_idle_timeout", parse_seconds,
     "seconds a WebSocket may send nothing, not even a pong to the server's pings, before it is closed "
     "(default 120)"),
    ("--workers", "workers", parse_workers,
     "processes serving the same ports, or auto (one per core); more than 1 needs a bus (default 1)"),
    ("--worker-start-timeout", "worker_start_timeout", parse_seconds,
     "seconds a started or restarted worker has to serve before it is killed and tried again (default 60)"),
    ("--bus", "bus", parse_bus_url,
     "redis://HOST:PORT/DB or unix:///path/redis.sock: instances on this Redis share chat, presence, "
     "packet log, transfers, admin token and auto-responses (default: none, one instance)"),
    ("--bus-stream-max", "bus_stream_max", parse_positive,
     "entries kept per Redis stream of the bus (chat, transfers, packet, ...); older ones are trimmed (default 10000)"),
    ("--bus-queue", "bus_queue", parse_positive,
     "items waiting to be written to Redis; when Redis is slower the oldest are dropped (default 10000)"),
    ("--bus-packets-per-second", "bus_packets_per_second", parse_positive,
     "packet-log events this instance shares with the others per second; past it a sample (default 2000)"),
    ("--instance-name", "instance_name", str, "this instance's name in the cluster (default HOST-PID-RANDOM)"),
]


# repeatable TFTP flags: (flag, dest, parser, metavar, help); the env variable takes a comma-separated list
_TFTP_LIST_FLAGS: list[tuple[str, str, Callable[[str], object], str, str]] = [
    ("--tftp-allow", "tftp_allow", parse_cidr, "CIDR",
     "only these networks may use TFTP; repeatable (default: any)"),
    ("--tftp-write-allow", "tftp_write_allow", parse_cidr, "CIDR",
     "only these networks may upload over TFTP; repeatable (default: as --tftp-allow)"),
    ("--tftp-refuse", "tftp_refuse", parse_tftp_option, "OPTION",
     f"never grant this TFTP option ({', '.join(TFTP_OPTIONS)}); repeatable"),
]


def env_name(flag: str) -> str:
    return "SOCKDASH_" + flag.lstrip("-").upper().replace("-", "_")


def build_parser(prog: str = "sockdash") -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=prog,
        description="Run the sockdash web dashboard and its socket services in one process.",
        epilog="Every flag can also be set as SOCKDASH_<FLAG>, e.g. SOCKDASH_HTTP_PORT=9000; "
        "flags given on the command line win. Port 0 means any free port. "
        "`sockdash tftp get|put --help`: the TFTP client.",
    )
    for flag, dest, parse, help_text in _VALUE_FLAGS:
        parser.add_argument(flag, dest=dest, type=_argparse_type(parse) if parse not in (str, Path) else parse,
                            default=None, help=f"{help_text} [{env_name(flag)}]")
    parser.add_argument("--tftp-write", dest="tftp_write", action="store_true", default=None,
                        help="allow TFTP uploads (off by default) [SOCKDASH_TFTP_WRITE]")
    parser.add_argument("--tftp-overwrite", dest="tftp_overwrite", action="store_true", default=None,
                        help="let TFTP uploads replace existing files (off by default; not with --tftp-rename) "
                        "[SOCKDASH_TFTP_OVERWRITE]")
    parser.add_argument("--tftp-rename", dest="tftp_rename", action="store_true", default=None,
                        help="store a TFTP upload whose name exists as NAME.1, NAME.2, ... (the first free); "
                        "not with --tftp-overwrite [SOCKDASH_TFTP_RENAME]")
    for flag, dest, parse, metavar, help_text in _TFTP_LIST_FLAGS:
        parser.add_argument(flag, dest=dest, action="append", default=None, metavar=metavar,
                            type=_argparse_type(parse), help=f"{help_text} [{env_name(flag)}, comma-separated]")
    parser.add_argument("--tools-allow", dest="tools_allow", action="append", default=None, metavar="CIDR",
                        type=_argparse_type(parse_cidr),
                        help="restrict the admin's socket tools to these targets; repeatable (default: any) "
                        "[SOCKDASH_TOOLS_ALLOW, comma-separated]")
    parser.add_argument("--allowed-host", dest="allowed_hosts", action="append", default=None, metavar="NAME",
                        type=_argparse_type(parse_allowed_host),
                        help="also answer browsers that use this Host name (DNS rebinding protection answers "
                        "only this machine's addresses and names); repeatable; '*' allows any "
                        "[SOCKDASH_ALLOWED_HOST, comma-separated]")
    parser.add_argument("--disable", dest="disabled", action="append", default=None,
                        type=_argparse_type(parse_service), metavar="SERVICE",
                        help=f"do not start SERVICE ({', '.join(SERVICES)}); repeatable "
                        "[SOCKDASH_DISABLE, comma-separated]")
    return parser


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    # Settings' fields by name (dest), each of its field's type: the flags decide which are
    # there, so the names are strings, and Settings(**values) checks them at run time
    values: dict[str, Any] = {}
    for flag, dest, parse, _ in _VALUE_FLAGS:
        name = env_name(flag)
        if name in environ:
            try:
                values[dest] = parse(environ[name])
            except SettingsError as exc:
                raise SettingsError(f"{name}: {exc}") from None
    for flag, dest, parse, _, _ in _TFTP_LIST_FLAGS:
        if (name := env_name(flag)) in environ:
            try:
                values[dest] = [parse(n) for n in environ[name].split(",") if n.strip()]
            except SettingsError as exc:
                raise SettingsError(f"{name}: {exc}") from None
    for name, dest in (("SOCKDASH_TFTP_WRITE", "tftp_write"), ("SOCKDASH_TFTP_OVERWRITE", "tftp_overwrite"),
                       ("SOCKDASH_TFTP_RENAME", "tftp_rename")):
        if name in environ:
            try:
                values[dest] = parse_bool(environ[name])
            except SettingsError as exc:
                raise SettingsError(f"{name}: {exc}") from None
    if "SOCKDASH_TOOLS_ALLOW" in environ:
        try:
            values["tools_allow"] = [parse_cidr(n) for n in environ["SOCKDASH_TOOLS_ALLOW"].split(",") if n.strip()]
        except SettingsError as exc:
            raise SettingsError(f"SOCKDASH_TOOLS_ALLOW: {exc}") from None
    if "SOCKDASH_ALLOWED_HOST" in environ:
        try:
            values["allowed_hosts"] = [parse_allowed_host(n) for n in environ["SOCKDASH_ALLOWED_HOST"].split(",")
                                       if n.strip()]
        except SettingsError as exc:
            raise SettingsError(f"SOCKDASH_ALLOWED_HOST: {exc}") from None
    if "SOCKDASH_DISABLE" in environ:
        names = [n.strip() for n in environ["SOCKDASH_DISABLE"].split(",") if n.strip()]
        try:
            values["disabled"] = [parse_service(n) for n in names]
        except SettingsError as exc:
            raise SettingsError(f"SOCKDASH_DISABLE: {exc}") from None
    return values


def parse_settings(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from argv and the environment; raises SettingsError with one clear line."""
    environ = os.environ if environ is None else environ
    values = _from_env(environ)
    args = build_parser().parse_args(list(argv))
    for key, value in vars(args).items():
        if value is not None:
            values[key] = value
    if "disabled" in values:
        values["disabled"] = frozenset(values["disabled"])
    if "tools_allow" in values:
        values["tools_allow"] = tuple(values["tools_allow"])
    if "allowed_hosts" in values:
        values["allowed_hosts"] = tuple(values["allowed_hosts"])
    for dest in ("tftp_allow", "tftp_write_allow"):
        if dest in values:
            values[dest] = tuple(values[dest])
    if "tftp_refuse" in values:
        values["tftp_refuse"] = frozenset(values["tftp_refuse"])
    if values.get("tftp_rename") and values.get("tftp_overwrite"):
        raise SettingsError("--tftp-rename and --tftp-overwrite contradict each other: an upload to a taken name "
                            "either replaces the file or is stored under a new name; choose one")
    if not str(values.get("host", "0.0.0.0")).strip():
        raise SettingsError("--host must not be empty")
    token = values.get("admin_token")
    if token is not None and len(str(token)) < 8:
        raise SettingsError("--admin-token must be at least 8 characters")
    return Settings(**values)
