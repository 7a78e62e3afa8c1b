"""What a TFTP request may do, decided before any file is touched, and under which name an
upload is finally stored: the rules a network engineer would set in tftpd-hpa or Tftpd64.

The order on a request: the access lists (--tftp-allow for reads; --tftp-write-allow for
writes, which follow --tftp-allow when it is not given), then the map (--tftp-map, the
rules of tftp-hpa's --map-file: the name is rewritten, or the request refused), then the
upload folder (--tftp-write-dir: an upload's name is put under it). The refused options
(--tftp-refuse) are left out of the request, so negotiation never sees them and the OACK
never names them: the client falls back to RFC 1350's default, as with tftp-hpa's
--refuse. The adapter then opens the file (the FileStore's checks, as for every name) and
binds the transfer port (--tftp-port-range, see tftp_admission). An upload whose name is
taken is stored under the first free ``NAME.1``, ``NAME.2``, ... with --tftp-rename,
decided when it is committed, by exclusive links (AtomicWriter.commit_first_free).

Every refusal here is ERROR 2 "Access violation", answered from the well-known port and
never larger than the request (the adapter's ``_refuse``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..files import AtomicWriter, FileStore, UnsafePath
from ..names import display
from ..tftp.access import AccessList
from ..tftp.packets import WRQ, Request, summarize
from ..tftp.remap import RemapFile, RemapRefused

log = logging.getLogger("sockets_core.servers.tftp")

ACCESS_VIOLATION = "Access violation"
# numbered names tried for one upload with --tftp-rename (NAME.1 ... NAME.1000); then ERROR 6
RENAME_TRIES = 1000


@dataclass(frozen=True)
class Ruling:
    """The request to serve (the name mapped and in the upload folder, the refused options
    left out), or why it is refused."""

    request: Request
    asked: str  # the name the client sent
    refusal: str | None = None  # why, for the log and the transfer list
    message: str = ACCESS_VIOLATION  # the text of the client's ERROR 2

    def summary(self, data: bytes) -> str:
        """The packet log's line for the request when the served name differs from the one
        asked for (both are on it), else "": the log then summarises the packet lazily."""
        if self.refusal is not None or self.request.filename == self.asked:
            return ""
        verb = "stored as" if self.request.opcode == WRQ else "served"
        return f"{summarize(data)}, {verb} {display(self.request.filename)[0]}"


class TftpPolicy:
    def __init__(self, store: FileStore, read_allow: AccessList | None = None,
                 write_allow: AccessList | None = None, remap: RemapFile | None = None,
                 write_dir: str | None = None, refuse: frozenset[str] = frozenset(), rename: bool = False) -> None:
        self.store = store
        self.read_allow = read_allow
        self.write_allow = write_allow
        self.remap = remap
        self.write_dir = write_dir
        self.refuse = refuse
        self.rename = rename
        # warn(key, message, *args): the server sets its TftpAdmission's throttled WARNING
        self.warn: Callable[..., object] = lambda key, message, *args: log.warning(message, *args)

    def rule(self, request: Request, ip: str, peer: str) -> Ruling:
        write = request.opcode == WRQ
        allowed: AccessList | None
        if write and self.write_allow:
            allowed, flag = self.write_allow, "--tftp-write-allow"
        else:
            allowed, flag = self.read_allow, "--tftp-allow"
        if allowed and not allowed.allows(ip):
            self.warn("allow " + ip, "tftp: %s is not in %s: %s %r refused", peer, flag,
                      "WRQ" if write else "RRQ", request.filename)
            return Ruling(request, request.filename, f"{ACCESS_VIOLATION} ({ip} is not in {flag})")
        name = request.filename
        if self.remap is not None:
            try:
                name = self.remap.rules().apply(name, ip, write)
            except RemapRefused as exc:  # an 'a' rule, its text the client's; or a map that never ended
                if exc.looped:  # a limit that bit (a rule like "rg a a"): the map's author must hear of it
                    self.warn("*map", "tftp: the --tftp-map rules took over %d steps on %r from %s: refused "
                              "(the map loops?)", self.remap.rules().max_steps, name, peer)
                where = f"line {exc.line}" if exc.line is not None else "no end"
                return Ruling(request, request.filename, f"{exc} (--tftp-map, {where})", str(exc))
        # the file root is the client's "/", as with tftpd-hpa -s (what PXE ROMs and switches
        # expect): "/boot/x" and "\\boot\\x" are boot/x; the store's checks then apply as always
        name = name.lstrip("/\\") or name
        if write and self.write_dir is not None:
            try:  # the client's name on its own: "../x" stays refused inside the folder too
                parts = self.store.check_name(name)
            except UnsafePath as exc:
                return Ruling(request, request.filename, f"{ACCESS_VIOLATION} (refused name: {exc})")
            name = "/".join((self.write_dir, *parts))
        options = {k: v for k, v in request.options.items() if k not in self.refuse}
        return Ruling(dataclasses.replace(request, filename=name, options=options), request.filename)

    def writer(self, name: str, overwrite: bool) -> AtomicWriter:
        """An upload's writer. With --tftp-rename a taken name is no refusal; the stored name
        is chosen at commit (``commit``). ERROR 6 (FileExistsError) only when the name and all
        its numbered ones are taken already."""
        if not self.rename:
            return self.store.writer(name, overwrite=overwrite)
        writer = self.store.writer(name, overwrite=True)  # commit_first_free never replaces
        if all(os.path.lexists(_numbered(writer.target, n)) for n in range(RENAME_TRIES + 1)):
            writer.abort()
            raise FileExistsError("File already exists")
        return writer

    def commit(self, writer: AtomicWriter, ok: bool) -> Path | None:
        """Keep a complete upload (returns the path it is stored at), throw away any other."""
        writer.finish(ok, (lambda: writer.commit_first_free(RENAME_TRIES)) if self.rename else None)
        return writer.target if ok else None


def _numbered(path: Path, number: int) -> Path:
    """As AtomicWriter.commit_first_free names them: NAME, NAME.1, NAME.2, ..."""
    return path.with_name(f"{path.name}.{number}") if number else path
