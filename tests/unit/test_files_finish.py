"""AtomicWriter.finish: the one commit-or-abort of an upload (the TFTP server, client and tools)."""

from pathlib import Path

import pytest

from sockets_core.files import PART_SUFFIX, AtomicWriter


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_finish_ok_commits_and_not_ok_leaves_nothing(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path / "new" / "dir" / "good.bin", overwrite=False, limit=100)
    writer.write(b"complete")
    writer.finish(True)
    assert (tmp_path / "new" / "dir" / "good.bin").read_bytes() == b"complete"
    failed = AtomicWriter(tmp_path / "other" / "bad.bin", overwrite=False, limit=100)
    failed.write(b"half")
    failed.finish(False)
    assert leftovers(tmp_path) == ["new", "new/dir", "new/dir/good.bin"]  # no temp, no empty folder


def test_a_commit_that_fails_aborts_and_raises(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path / "in" / "taken.bin", overwrite=False, limit=100)
    writer.write(b"mine")
    (tmp_path / "in" / "taken.bin").write_bytes(b"theirs")  # the name was taken meanwhile
    with pytest.raises(FileExistsError):
        writer.finish(True)
    assert (tmp_path / "in" / "taken.bin").read_bytes() == b"theirs"
    assert not [p for p in leftovers(tmp_path) if p.endswith(PART_SUFFIX)]


def test_finish_takes_another_commit(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path / "f.bin", overwrite=False, limit=100)
    writer.write(b"x")

    def refuse() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        writer.finish(True, commit=refuse)
    assert leftovers(tmp_path) == []
    used = []
    second = AtomicWriter(tmp_path / "g.bin", overwrite=False, limit=100)
    second.finish(True, commit=lambda: used.append(second.commit()))
    assert used == [None] and (tmp_path / "g.bin").exists()
