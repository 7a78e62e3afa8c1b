import os
from pathlib import Path

import pytest

from sockets_core.files import FileStore, UnsafePath


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    root = tmp_path / "files"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.bin").write_bytes(b"b" * 10)
    sibling = tmp_path / "files-secret"
    sibling.mkdir()
    (sibling / "s.txt").write_text("secret")
    (tmp_path / "outside.txt").write_text("outside")
    os.symlink(tmp_path / "outside.txt", root / "link-out")
    os.symlink(root / "a.txt", root / "link-in")
    return FileStore(root)


@pytest.mark.parametrize("name", [
    "../outside.txt", "sub/../../outside.txt", "sub/..", "..", "a/../a.txt",
    "/etc/passwd", "//etc/passwd", "\\etc\\passwd", "C:\\Windows\\win.ini", "c:/x",
    "..\\outside.txt", "sub\\..\\..\\outside.txt",
    "../files-secret/s.txt", "link-out",
    "a\x00.txt", "a\n.txt", "a\x7f", "x" * 256, "", "/", ".",
])
def test_unsafe_names_are_refused(store: FileStore, name: str) -> None:
    with pytest.raises(UnsafePath):
        store.resolve(name)


@pytest.mark.parametrize("name, expected", [
    ("a.txt", "a.txt"), ("sub/b.bin", "sub/b.bin"), ("sub\\b.bin", "sub/b.bin"),
    ("./a.txt", "a.txt"), ("sub//b.bin", "sub/b.bin"), ("link-in", "a.txt"),
])
def test_safe_names_resolve_under_the_root(store: FileStore, name: str, expected: str) -> None:
    assert store.relative(store.resolve(name)) == expected


def test_open_for_reading(store: FileStore) -> None:
    path, size = store.open_for_reading("sub/b.bin")
    assert size == 10 and path.read_bytes() == b"b" * 10
    with pytest.raises(FileNotFoundError):
        store.open_for_reading("missing.txt")
    with pytest.raises(IsADirectoryError):
        store.open_for_reading("sub")


def test_listing_hides_links_leading_out(store: FileStore) -> None:
    names = [e.name for e in store.list()]
    assert names == ["sub", "a.txt", "link-in"]
    assert [(e.path, e.size) for e in store.list("sub")] == [("sub/b.bin", 10)]


def test_atomic_writer_commits_only_when_complete(store: FileStore) -> None:
    with store.writer("new/c.txt") as w:
        w.write(b"part")
        assert not (store.root / "new" / "c.txt").exists()
        w.commit()
    assert (store.root / "new" / "c.txt").read_bytes() == b"part"
    assert [p.name for p in (store.root / "new").iterdir()] == ["c.txt"]


def test_atomic_writer_leaves_nothing_on_failure(store: FileStore) -> None:
    with pytest.raises(RuntimeError):
        with store.writer("d.txt") as w:
            w.write(b"half")
            raise RuntimeError("connection lost")
    assert sorted(p.name for p in store.root.iterdir()) == ["a.txt", "link-in", "link-out", "sub"]


def test_writer_does_not_overwrite_unless_asked(store: FileStore) -> None:
    with pytest.raises(FileExistsError):
        store.writer("a.txt")
    with store.writer("a.txt", overwrite=True) as w:
        w.write(b"new")
        w.commit()
    assert (store.root / "a.txt").read_bytes() == b"new"


def test_delete_and_rename_act_on_a_link_never_on_its_target(store: FileStore) -> None:
    root = store.root
    os.symlink(root / "sub", root / "alias")
    os.symlink(root, root / "here")
    store.delete("alias")
    store.delete("here")
    assert (root / "sub" / "b.bin").exists() and (root / "a.txt").exists()
    assert not (root / "alias").is_symlink() and not (root / "here").is_symlink()
    store.rename("link-in", "renamed-link")
    assert (root / "renamed-link").is_symlink() and (root / "a.txt").read_text() == "a"
    with pytest.raises(UnsafePath):
        store.rename("a.txt", "link-out/x")  # a new name through a link leading out
