"""`sockdash tftp get|put`: a TFTP client on the command line, with a progress bar."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TypedDict

from sockets_core.addresses import AddressError, parse_hostport
from sockets_core.files import AtomicWriter
from sockets_core.servers.tftp_client import run_client
from sockets_core.settings import OneLineParser, SettingsError
from sockets_core.tftp.client import UNLIMITED, TftpClient
from sockets_core.tftp.packets import RRQ, WRQ

BAR = 30
TFTP_PORT = 69  # HOST alone means this port


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="sockdash tftp", description="Fetch or send a file over TFTP.")
    actions = parser.add_subparsers(dest="action", required=True)
    get = actions.add_parser("get", help="download REMOTE from SERVER (to LOCAL, default its name)")
    get.add_argument("server", metavar="HOST[:PORT]")
    get.add_argument("remote")
    get.add_argument("local", nargs="?")
    put = actions.add_parser("put", help="upload LOCAL to SERVER (as REMOTE, default its name)")
    put.add_argument("server", metavar="HOST[:PORT]")
    put.add_argument("local")
    put.add_argument("remote", nargs="?")
    for sub in (get, put):
        sub.add_argument("--blksize", type=int, help="block size 8-65464 (RFC 2348)")
        sub.add_argument("--windowsize", type=int, help="blocks per window 1-65535 (RFC 7440)")
        sub.add_argument("--timeout", type=int, help="seconds before a resend, 1-255 (default 1)")
        sub.add_argument("--retries", type=int, default=5, help="resends before giving up (default 5)")
        sub.add_argument("--mode", choices=["octet", "netascii"], default="octet")
    return parser


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


class Progress:
    """A one-line bar with rate and ETA on a terminal; nothing but the summary otherwise."""

    def __init__(self, verb: str, name: str) -> None:
        self.verb, self.name = verb, name
        self.started = time.monotonic()
        self._shown = 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, client: TftpClient) -> None:
        now = time.monotonic()
        if not self.tty or now - self._shown < 0.1:
            return
        self._shown = now
        done, total = client.bytes_moved, client.total
        rate = done / max(now - self.started, 1e-6)
        if total:
            filled = int(BAR * min(done / total, 1))
            eta = (total - done) / rate if rate > 0 else 0
            line = (f"\r{self.name} [{'#' * filled}{'.' * (BAR - filled)}] {100 * done / total:5.1f}% "
                    f"{human(done)}/{human(total)} {human(rate)}/s ETA {int(eta) // 60}:{int(eta) % 60:02d}")
        else:
            line = f"\r{self.name} {human(done)} {human(rate)}/s"
        sys.stderr.write(line.ljust(79))
        sys.stderr.flush()

    def finish(self, client: TftpClient) -> None:
        elapsed = time.monotonic() - self.started
        if self.tty:
            sys.stderr.write("\n")
        sys.stderr.write(f"{self.verb} {self.name}: {human(client.bytes_moved)} in {elapsed:.2f} s "
                         f"({human(client.bytes_moved / max(elapsed, 1e-6))}/s)"
                         + (f", options {' '.join(f'{k}={v}' for k, v in client.accepted.items())}"
                            if client.accepted else "") + "\n")


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
        host, port = parse_hostport(args.server, TFTP_PORT)
    except (SettingsError, AddressError) as exc:
        print(f"sockdash tftp: error: {exc}", file=sys.stderr)
        return 2
    options: ClientOptions = {"blksize": args.blksize, "windowsize": args.windowsize, "timeout": args.timeout,
                              "mode": args.mode, "max_retries": args.retries}
    try:
        if args.action == "get":
            local = args.local or Path(args.remote.replace("\\", "/")).name
            if not local:
                print(f"sockdash tftp: error: give a local name for {args.remote!r}", file=sys.stderr)
                return 2
            return _get(host, port, args.remote, Path(local), options)
        return _put(host, port, Path(args.local), args.remote or Path(args.local).name, options)
    except OSError as exc:
        print(f"sockdash tftp: error: {exc.strerror or exc}", file=sys.stderr)
        return 2


class ClientOptions(TypedDict):
    """The TftpClient keyword arguments the command line sets."""

    blksize: int | None
    windowsize: int | None
    timeout: float | None
    mode: str
    max_retries: int


def _get(host: str, port: int, remote: str, local: Path, options: ClientOptions) -> int:
    # the file appears under its name only when complete; anything else (an error, Ctrl-C) leaves nothing
    with AtomicWriter(local, overwrite=True, limit=UNLIMITED) as out:
        client = TftpClient(RRQ, remote, write=out.write, **options)
        progress = Progress("received", remote)
        run_client(client, host, port, progress)
        out.finish(client.error is None)
    if client.error is not None:
        print(f"\nsockdash tftp: {remote}: {client.error}", file=sys.stderr)
        return 1
    progress.finish(client)
    return 0


def _put(host: str, port: int, local: Path, remote: str, options: ClientOptions) -> int:
    with open(local, "rb") as source:
        client = TftpClient(WRQ, remote, read=source.read, size=local.stat().st_size, **options)
        progress = Progress("sent", remote)
        run_client(client, host, port, progress)
    if client.error is not None:
        print(f"\nsockdash tftp: {remote}: {client.error}", file=sys.stderr)
        return 1
    progress.finish(client)
    return 0
