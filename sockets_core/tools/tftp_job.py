"""The TFTP client tool: a get into the file root or a put from it, with the client of
`sockdash tftp`, its progress shown as a bar and in the Files page's transfer list."""

from __future__ import annotations

import time
from typing import IO, TYPE_CHECKING, Any

from ..servers.tftp_client import run_client
from ..tftp.client import TftpClient
from ..tftp.packets import RRQ, WRQ
from .base import ToolError, ToolSession

if TYPE_CHECKING:
    from ..files import AtomicWriter
    from .sessions import ToolManager

PROGRESS_EVERY = 0.25  # seconds between progress updates to the page: a few a second for the bar


class TftpJob(ToolSession):
    kind = "tftp"

    def __init__(self, manager: ToolManager, store: Any, transfers: Any, action: str, host: str, port: int,
                 remote: str, local: str, blksize: int | None, windowsize: int | None) -> None:
        self.progress: list[int | None] = [0, None]  # bytes moved, total (when known)
        self.address = manager.check_target(host)
        if action not in ("get", "put"):
            raise ToolError("action is get or put")
        super().__init__(manager, f"TFTP {action} {remote} {'from' if action == 'get' else 'to'} {host}:{port}")
        self.action, self.server, self.port = action, f"{host}:{port}", port
        self.writer: AtomicWriter | None = None  # a get's
        self.source: IO[bytes] | None = None  # a put's
        if action == "get":
            try:
                self.writer = store.writer(local or remote.replace("\\", "/").rsplit("/", 1)[-1])
            except (ValueError, OSError) as exc:
                raise ToolError(f"cannot write {local or remote!r} in the file root: {exc}") from None
            self.client = TftpClient(RRQ, remote, blksize=blksize, windowsize=windowsize, write=self.writer.write)
            self.transfer = transfers.begin("tftp", "download", self.server, remote, None, "client")
        else:
            try:
                path, size = store.open_for_reading(local)
            except (ValueError, OSError) as exc:
                raise ToolError(f"cannot read {local!r} in the file root: {exc}") from None
            self.source = open(path, "rb")  # noqa: SIM115  # open for the transfer: _run closes it
            self.client = TftpClient(WRQ, remote or path.name, blksize=blksize, windowsize=windowsize,
                                     read=self.source.read, size=size)
            self.transfer = transfers.begin("tftp", "upload", self.server, local, size, "client")
        self._last_shown = 0.0

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "progress": list(self.progress)}

    def start(self) -> None:
        self.record("info", self.server, info="started")
        self.spawn(self._run)

    def _progress(self, client: TftpClient) -> None:
        self.transfer.size = client.total
        self.transfer.advance(client.bytes_moved - self.transfer.done_bytes)
        self.progress = [client.bytes_moved, client.total]
        if time.monotonic() - self._last_shown >= PROGRESS_EVERY:
            self._last_shown = time.monotonic()
            self.manager.changed(self)

    def _run(self) -> None:
        outcome: str | None = "cancelled"  # what stands if the job is closed (or at shutdown)
        try:
            run_client(self.client, self.address, self.port, self._progress, tap=self.manager.udp_tap)
            outcome = self.client.error
        except Exception as exc:  # over the upload limit, a full disk, the network
            outcome = f"failed: {exc}"
        finally:
            outcome = self._finish_files(outcome)
            self.transfer.finish(outcome)
            self.progress = [self.client.bytes_moved, self.client.total or self.client.bytes_moved]
            self.record("info", self.server, info=(
                f"done: {self.client.bytes_moved} bytes" if outcome is None else f"failed: {outcome}"))
            self.open = False
            self.manager.changed(self)

    def _finish_files(self, outcome: str | None) -> str | None:
        """A get commits only a complete file; a put closes its source."""
        if self.source is not None:
            self.source.close()
            return outcome
        assert self.writer is not None  # not a put: a get, which made its writer in __init__
        try:
            self.writer.finish(outcome is None)
        except OSError as exc:  # e.g. the name was taken meanwhile
            return f"could not store the file: {exc}"
        return outcome
