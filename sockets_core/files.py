"""FileStore: the one folder every service serves, and the one place a name is resolved.

A requested name comes from the network (TFTP, the TCP downloader, a URL). It is checked
as text first (no NUL or control characters, no absolute or drive paths, no ``..``
anywhere, at most 255 bytes) and then resolved with symlinks followed and compared, by
path components rather than string prefix, with the resolved root: a sibling folder
``files-secret`` next to a root ``files`` is outside it, and so is a symlink leading out.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

MAX_NAME_BYTES = 255
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafePath(ValueError):
    """A name that must not be served; the message says why."""


@dataclass(frozen=True)
class Entry:
    name: str
    path: str  # relative to the root, with /
    size: int
    modified: float
    is_dir: bool


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def check_name(self, name: str) -> list[str]:
        """Validate a requested name as text; return its parts. Raises UnsafePath."""
        if not name:
            raise UnsafePath("empty name")
        if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
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
        return parts

    def resolve(self, name: str) -> Path:
        """The real path of ``name`` under the root (it may not exist). Raises UnsafePath."""
        parts = self.check_name(name)
        candidate = self.root.joinpath(*parts).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise UnsafePath("resolves outside the file root (symlink?)")
        return candidate

    def open_for_reading(self, name: str) -> tuple[Path, int]:
        """Resolve an existing regular file; return (path, size). Raises UnsafePath or FileNotFoundError."""
        path = self.resolve(name)
        if path.is_dir():
            raise IsADirectoryError(f"{name!r} is a folder")
        size = path.stat().st_size  # raises FileNotFoundError
        return path, size

    def writer(self, name: str, overwrite: bool = False) -> "AtomicWriter":
        """An atomic writer for ``name``. Raises UnsafePath or FileExistsError."""
        path = self.resolve(name)
        if path.is_dir():
            raise IsADirectoryError(f"{name!r} is a folder")
        return AtomicWriter(path, overwrite)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def list(self, subdir: str = "") -> list[Entry]:
        folder = self.root if subdir.strip("/") in ("", ".") else self.resolve(subdir)
        entries = []
        with os.scandir(folder) as it:
            for item in it:
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


class AtomicWriter:
    """Write a file under a temporary name in its folder; it appears under its real name only
    on ``commit``. ``abort`` (or an exception inside ``with``) leaves nothing behind."""

    def __init__(self, target: Path, overwrite: bool) -> None:
        self.target = target
        self.overwrite = overwrite
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target.name} exists")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        self.temp = Path(temp)
        self._file = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self.size += len(data)

    def commit(self) -> None:
        self._file.close()
        if self.overwrite:
            os.replace(self.temp, self.target)
        else:
            os.link(self.temp, self.target)  # fails if the name appeared meanwhile
            os.unlink(self.temp)

    def abort(self) -> None:
        self._file.close()
        self.temp.unlink(missing_ok=True)

    def __enter__(self) -> "AtomicWriter":
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None or not self._file.closed:
            self.abort()
