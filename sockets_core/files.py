"""FileStore: the one folder every service serves, and the one place a name is resolved.

A requested name comes from the network (TFTP, the TCP downloader, a URL). It is checked
as text first (no NUL or control characters, no absolute or drive paths, no ``..``
anywhere, at most 255 bytes) and then resolved with symlinks followed and compared, by
path components rather than string prefix, with the resolved root: a sibling folder
``files-secret`` next to a root ``files`` is outside it, and so is a symlink leading out.

Names are str as Python gives them for bytes (``surrogateescape``: bytes that are not
UTF-8 are lone surrogates), so a file named in GBK or Latin-1 on disk is listed, opened
and renamed byte-exact; sockets_core.names turns them into JSON and URLs and back.
Error messages never name the root's absolute path: callers show them to remote users.

Writes are atomic: the bytes go to a hidden ``*.sockdash-part`` file in the target
folder (the same file system, so the final rename is atomic) and appear under their
real name only when complete. Partial files are never listed nor served.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .textcodec import GBK, UTF8, decode

MAX_NAME_BYTES = 255
PART_SUFFIX = ".sockdash-part"
HASH_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafePath(ValueError):
    """A name that must not be served; the message says why."""


class UploadTooLarge(ValueError):
    """An upload passed the size limit; nothing of it was kept."""


@dataclass(frozen=True)
class Entry:
    name: str
    path: str  # relative to the root, with /
    size: int
    modified: float
    is_dir: bool


class FileStore:
    def __init__(self, root: Path, max_upload: int = 1 << 30) -> None:
        self.root = Path(root).resolve()
        self.max_upload = max_upload
        self.on_change: Callable[[str], None] | None = None  # called with the changed folder
        self._hashes: dict[tuple[str, int, int], str] = {}

    # -- names -----------------------------------------------------------------------------
    def check_name(self, name: str) -> list[str]:
        """Validate a requested name as text; return its parts. Raises UnsafePath."""
        if not isinstance(name, str):
            raise UnsafePath("a name must be a string")
        if not name:
            raise UnsafePath("empty name")
        try:
            size = len(name.encode(UTF8, "surrogateescape"))
        except UnicodeEncodeError:  # a lone surrogate from a JSON "\ud800" stands for no byte
            raise UnsafePath("not a valid name (a lone UTF-16 surrogate)") from None
        if size > MAX_NAME_BYTES:
            raise UnsafePath(f"name longer than {MAX_NAME_BYTES} bytes")
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise UnsafePath("NUL or control character in name")
        unified = name.replace("\\", "/")
        if unified.startswith("/"):
            raise UnsafePath("absolute path")
        if _DRIVE.match(unified):
            raise UnsafePath("drive path")
        parts = [p for p in unified.split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts):
            raise UnsafePath("'..' in path")
        if not parts:
            raise UnsafePath("name names the root itself")
        if parts[-1].endswith(PART_SUFFIX):
            raise UnsafePath("an upload in progress")
        return parts

    def resolve(self, name: str) -> Path:
        """The real path of ``name`` under the root (it may not exist). Raises UnsafePath."""
        parts = self.check_name(name)
        candidate = self.root.joinpath(*parts).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise UnsafePath("resolves outside the file root (symlink?)")
        return candidate

    def folder(self, subdir: str) -> Path:
        """An existing folder under the root; "" (or "/") is the root itself."""
        folder = self.root if subdir.strip("/") in ("", ".") else self.resolve(subdir)
        if not folder.is_dir():
            raise NotADirectoryError("not a folder")
        return folder

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def notify_changed(self, path: Path) -> None:
        """Tell the watcher (if any) that the folder holding ``path`` changed."""
        if self.on_change is not None:
            self.on_change(self.relative(path.parent) if path.parent != self.root else "")

    # -- reading ---------------------------------------------------------------------------
    def open_for_reading(self, name: str) -> tuple[Path, int]:
        """Resolve an existing regular file; return (path, size). Raises UnsafePath or FileNotFoundError.

        The file whose name has exactly these bytes wins; if there is none and the bytes
        read as GBK, the file named by that text in UTF-8 is served: a Windows client
        (TFTP, the course's TCP downloader) asks in GBK for ``你好.txt`` stored in UTF-8."""
        try:
            return self._existing_file(name)
        except FileNotFoundError:
            text, encoding = decode(name.encode(UTF8, "surrogateescape"))
            if encoding != GBK:
                raise
        return self._existing_file(text)

    def _existing_file(self, name: str) -> tuple[Path, int]:
        path = self.resolve(name)
        if path.is_dir():
            raise IsADirectoryError("a folder, not a file")
        try:
            return path, path.stat().st_size
        except FileNotFoundError:
            raise FileNotFoundError("no such file") from None  # not the OS's text: it names the root

    def list(self, subdir: str = "") -> list[Entry]:
        folder = self.folder(subdir)
        entries = []
        with os.scandir(folder) as it:
            for item in it:
                if item.name.endswith(PART_SUFFIX):
                    continue
                try:
                    real = Path(item.path).resolve()
                    if real != self.root and self.root not in real.parents:
                        continue  # symlinks leading out are not listed
                    st = item.stat()
                except OSError:
                    continue
                entries.append(Entry(item.name, self.relative(Path(item.path)), st.st_size,
                                     st.st_mtime, item.is_dir()))
        entries.sort(key=lambda e: (not e.is_dir, e.name.lower()))
        return entries

    def sha256(self, name: str) -> str:
        """Hex SHA-256 of a file, cached by (path, size, mtime). Blocking: run it in a thread."""
        path, size = self.open_for_reading(name)
        key = (str(path), size, path.stat().st_mtime_ns)
        if key not in self._hashes:
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(HASH_CHUNK):
                    digest.update(chunk)
            self._hashes[key] = digest.hexdigest()
        return self._hashes[key]

    # -- changing --------------------------------------------------------------------------
    def writer(self, name: str, overwrite: bool = False) -> AtomicWriter:
        """An atomic writer for ``name``. Raises UnsafePath, FileExistsError or IsADirectoryError."""
        path = self.resolve(name)
        if path.is_dir():
            raise IsADirectoryError("a folder, not a file")
        return AtomicWriter(path, overwrite, self.max_upload, self.notify_changed)

    def mkdir(self, name: str) -> Path:
        path = self.resolve(name)
        path.mkdir(parents=True)
        self.notify_changed(path)
        return path

    def entry(self, name: str) -> Path:
        """The entry ``name`` itself, not what a symlink there points to: its folder is
        resolved (and must be under the root), its last part is not. For delete and rename,
        which must act on a link, never on its target."""
        parts = self.check_name(name)
        parent = self.root.joinpath(*parts[:-1]).resolve()
        if parent != self.root and self.root not in parent.parents:
            raise UnsafePath("resolves outside the file root (symlink?)")
        return parent / parts[-1]

    def rename(self, source: str, target: str) -> Path:
        src, dst = self.entry(source), self.entry(target)
        if not src.exists() and not src.is_symlink():
            raise FileNotFoundError("does not exist")
        if dst.exists() or dst.is_symlink():
            raise FileExistsError("the new name is taken")
        self.resolve(target)  # the new name must also be safe once resolved
        dst.parent.mkdir(parents=True, exist_ok=True)
        src.rename(dst)
        self.notify_changed(src)
        self.notify_changed(dst)
        return dst

    def delete(self, name: str) -> None:
        path = self.entry(name)
        if path.is_symlink() or not path.is_dir():
            path.unlink()  # a link is removed, never what it points to; FileNotFoundError if missing
        else:
            shutil.rmtree(path)
        self.notify_changed(path)


class AtomicWriter:
    """Write a file under a temporary name in its folder; it appears under its real name only
    on ``commit``. ``abort`` (or an exception inside ``with``) leaves nothing behind."""

    def __init__(self, target: Path, overwrite: bool, limit: int,
                 on_commit: Callable[[Path], None] | None = None) -> None:
        self.target = target
        self.overwrite = overwrite
        self.limit = limit
        if target.exists() and not overwrite:
            raise FileExistsError("the name is taken")
        self._created_folders = _missing_folders(target.parent)  # abort takes them back
        target.parent.mkdir(parents=True, exist_ok=True)
        self.temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{PART_SUFFIX}")
        self._file = open(self.temp, "xb")  # noqa: SIM115  # open while the upload lasts: finish closes it
        self._on_commit = on_commit
        self.size = 0

    def write(self, data: bytes) -> int:
        if self.size + len(data) > self.limit:
            raise UploadTooLarge(f"larger than the upload limit of {self.limit} bytes")
        self._file.write(data)
        self.size += len(data)
        return len(data)

    def commit(self) -> None:
        self._file.close()
        if self.overwrite:
            os.replace(self.temp, self.target)
        else:
            os.link(self.temp, self.target)  # fails if the name appeared meanwhile
            os.unlink(self.temp)
        if self._on_commit is not None:
            self._on_commit(self.target)

    def commit_first_free(self, tries: int) -> Path:
        """Commit under the target's name or, when it is taken, under ``NAME.1``, ``NAME.2``, ...
        up to ``NAME.<tries>``, the first free one (``overwrite`` plays no part). Each try is an
        exclusive link, so two uploads committing at once never take the same name and nothing
        is replaced. ``target`` becomes the name stored; FileExistsError when all are taken."""
        self._file.close()
        for number in range(tries + 1):
            candidate = self.target.with_name(f"{self.target.name}.{number}") if number else self.target
            try:
                os.link(self.temp, candidate)
            except FileExistsError:
                continue
            os.unlink(self.temp)
            self.target = candidate
            if self._on_commit is not None:
                self._on_commit(candidate)
            return candidate
        raise FileExistsError(f"the name and {tries} numbered ones after it are taken")

    def abort(self) -> None:
        self._file.close()
        self.temp.unlink(missing_ok=True)
        self._remove_created_folders()

    def _remove_created_folders(self) -> None:
        """A failed upload to ``new/dir/f`` leaves no empty ``new/dir`` behind; a folder
        something else was put in meanwhile stays (rmdir refuses a non-empty one)."""
        for folder in self._created_folders:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                return

    def finish(self, ok: bool, commit: Callable[[], object] | None = None) -> None:
        """The one end of an upload: commit when ``ok`` (with ``commit``, default
        ``self.commit``), else abort. A commit that fails (the name was taken meanwhile, a
        full disk) aborts too, so nothing is left behind, and raises its OSError."""
        if not ok:
            self.abort()
            return
        try:
            (commit or self.commit)()
        except OSError:
            self.abort()
            raise

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None or not self._file.closed:
            self.abort()


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing
