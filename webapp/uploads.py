"""Multipart uploads streamed straight into the file root.

Werkzeug would spool each uploaded part to a temporary file in /tmp and we would copy it
again. Instead ``UploadRequest`` hands werkzeug a hidden ``*.sockdash-part`` file in the
root itself (the same file system), so finishing an upload is one link/rename, and a
1 GiB upload is written once. Whatever has not been committed when the request ends
(client gone, limit passed, name refused) is deleted by ``discard_staged``.

A request with several files is kept whole or not at all (``commit_all``): the route
checks every name first, and a commit that still fails (the name appeared meanwhile, a
full disk) removes again what this request had already put in place.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import IO, Any

from flask import Request, current_app
from werkzeug.exceptions import RequestEntityTooLarge

from sockets_core.files import PART_SUFFIX
from sockets_core.names import display
from sockets_core.transfers import Transfer

log = logging.getLogger(__name__)


class StagedFile:
    """A write-only file that counts what werkzeug writes into it for the transfer list."""

    def __init__(self, root: Path, transfer: Transfer, limit: int) -> None:
        self.limit = limit
        self.path = root / f".upload.{secrets.token_hex(6)}{PART_SUFFIX}"
        self.transfer = transfer
        self.committed = False
        self.discarded = False
        self._file: IO[bytes] = open(self.path, "xb")  # noqa: SIM115  # open while the upload lasts

    def write(self, data: bytes) -> int:
        if self.transfer.done_bytes + len(data) > self.limit:
            raise RequestEntityTooLarge(f"upload larger than the limit of {self.limit} bytes")
        written = self._file.write(data)
        self.transfer.advance(written)
        return written

    def seek(self, *args: Any) -> int:
        return self._file.seek(*args)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, *args: Any) -> bytes:
        return self._file.read(*args)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def commit(self, target: Path, overwrite: bool) -> None:
        """Put the file in place; the transfer is finished by ``finish`` once the whole
        request is kept."""
        self._file.close()
        target.parent.mkdir(parents=True, exist_ok=True)
        if overwrite:
            os.replace(self.path, target)
        else:
            os.link(self.path, target)  # FileExistsError if the name is taken
            os.unlink(self.path)
        self.committed = True

    def finish(self, error: str | None = None) -> None:
        self.transfer.size = self.transfer.done_bytes  # the part's size; the request's included framing
        self.transfer.finish(error)

    def discard(self, reason: str) -> None:
        self.discarded = True
        self._file.close()
        self.path.unlink(missing_ok=True)
        self.transfer.finish(reason)


class UploadRequest(Request):
    staged: list[StagedFile]

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> Any:
        services = current_app.extensions["sockdash"]
        peer = f"{self.remote_addr}:{self.environ.get('REMOTE_PORT', '?')}"
        if not hasattr(self, "staged"):
            self.staged = []
        # the request's length includes the multipart framing (and every other file): the
        # size is the part's own Content-Length, else the page's ?size= (one per file, in
        # order), else unknown until the part ends
        sizes = self.args.getlist("size")
        declared = sizes[len(self.staged)] if len(self.staged) < len(sizes) else ""
        size = content_length or (int(declared) if declared.isdigit() else None)
        transfer = services.transfers.begin("http", "upload", peer, filename or "?", size)
        staged = StagedFile(services.store.root, transfer, services.store.max_upload)
        self.staged.append(staged)
        return staged


def commit_all(batch: list[tuple[StagedFile, Path]], overwrite: bool) -> tuple[Path, OSError] | None:
    """Commit every (staged file, target), or none: on the first failure the files this
    request created are removed again (a file replaced under overwrite=1 cannot be given
    back) and (target, error) is returned; the rest is left to ``discard_staged``."""
    placed: list[tuple[StagedFile, Path]] = []
    for staged, target in batch:
        try:
            staged.commit(target, overwrite)
        except OSError as exc:
            for done, done_target in placed:
                if not overwrite:
                    done_target.unlink(missing_ok=True)
                done.finish(f"not kept: {exc.strerror or exc}")
            log.warning("upload of %d files not kept: '%s' failed (%s)", len(batch),
                        display(staged.transfer.file)[0], exc.strerror or exc)
            return target, exc
        placed.append((staged, target))
    for staged, _ in placed:
        staged.finish()
    return None


def discard_staged(request: Request, reason: str) -> None:
    for staged in getattr(request, "staged", []):
        if not (staged.committed or staged.discarded):
            staged.discard(reason)
            log.info("upload of '%s' from %s discarded: %s", display(staged.transfer.file)[0],
                     staged.transfer.peer, reason)
