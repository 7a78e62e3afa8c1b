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
    with pytest.raises(RuntimeError), store.writer("d.txt") as w:
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


GBK_NAME = "你好.txt".encode("gbk")
ODD_NAMES = [GBK_NAME, "café.txt".encode("latin-1"), b"\xff\xfe.bin"]


@pytest.fixture
def odd_store(tmp_path: Path) -> FileStore:
    """A root holding files named in GBK, Latin-1 and bytes that are neither (as unzipped)."""
    root = tmp_path / "files"
    root.mkdir()
    for raw in ODD_NAMES:
        with open(os.fsencode(root) + b"/" + raw, "wb") as f:
            f.write(raw)
    (root / "hello.txt").write_text("hello")
    return FileStore(root)


def test_names_that_are_not_utf8_are_listed_opened_renamed_and_deleted_byte_exact(odd_store: FileStore) -> None:
    names = {os.fsencode(e.name) for e in odd_store.list()}
    assert names == {*ODD_NAMES, b"hello.txt"}
    for raw in ODD_NAMES:
        path, size = odd_store.open_for_reading(os.fsdecode(raw))
        assert path.read_bytes() == raw and size == len(raw)
    odd_store.rename(os.fsdecode(GBK_NAME), "你好.txt")  # stored in UTF-8 from now on
    assert (odd_store.root / "你好.txt").read_bytes() == GBK_NAME
    odd_store.delete(os.fsdecode(b"\xff\xfe.bin"))
    assert {os.fsencode(e.name) for e in odd_store.list()} == {"café.txt".encode("latin-1"), b"hello.txt",
                                                               "你好.txt".encode()}


def test_a_gbk_request_finds_the_file_stored_in_utf8(tmp_path: Path) -> None:
    (tmp_path / "说明.txt").write_text("utf-8 name")
    store = FileStore(tmp_path)
    path, _ = store.open_for_reading(os.fsdecode("说明.txt".encode("gbk")))  # a Windows client asks in GBK
    assert path.name == "说明.txt"
    with pytest.raises(FileNotFoundError):
        store.open_for_reading(os.fsdecode(b"\xff\xfe-missing"))


@pytest.mark.parametrize("name", [123, None, ["a.txt"], "a\ud800.txt"])
def test_names_that_are_not_text_or_stand_for_no_bytes_are_refused(store: FileStore, name: object) -> None:
    with pytest.raises(UnsafePath):
        store.resolve(name)  # type: ignore[arg-type]


def test_error_texts_never_name_the_absolute_root(store: FileStore) -> None:
    for call in (lambda: store.open_for_reading("missing.txt"), lambda: store.open_for_reading("sub"),
                 lambda: store.rename("missing.txt", "x.txt"), lambda: store.rename("a.txt", "sub"),
                 lambda: store.folder("a.txt"), lambda: store.writer("a.txt")):
        with pytest.raises(OSError) as caught:
            call()
        assert str(store.root) not in str(caught.value)
