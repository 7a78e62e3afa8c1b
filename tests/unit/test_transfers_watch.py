from pathlib import Path

import pytest

from sockets_core.bus import Bus
from sockets_core.files import PART_SUFFIX, FileStore, UnsafePath
from sockets_core.transfers import KEEP_FINISHED, TRANSFER_TOPIC, TransferRegistry
from sockets_core.watch import FILES_TOPIC, FolderWatcher


def test_transfer_lifecycle_and_throttled_progress() -> None:
    bus = Bus()
    sub = bus.subscribe([TRANSFER_TOPIC])
    registry = TransferRegistry(bus)
    t = registry.begin("tftp", "download", "10.0.0.9:1234", "fw.bin", 10_000, "blksize=1468")
    for _ in range(1000):
        t.advance(10)
    assert t.done_bytes == 10_000
    t.finish()
    t.finish("ignored: already finished")
    items = [item for _, item in sub.get_batch(timeout=0).items]
    assert items[0]["result"] is None and items[-1]["result"] == "ok"
    assert len(items) < 10  # 1000 advances, a handful of updates
    assert registry.snapshot()[0]["bytes"] == 10_000 and not registry.active


def test_only_the_last_finished_transfers_are_kept_running_ones_first() -> None:
    registry = TransferRegistry()
    for i in range(KEEP_FINISHED + 20):
        registry.begin("http", "download", "p", f"f{i}", 1).finish()
    running = registry.begin("tcp", "download", "p", "running", 5)
    snapshot = registry.snapshot()
    assert snapshot[0]["file"] == "running" and snapshot[0]["result"] is None
    assert len(snapshot) == KEEP_FINISHED + 1
    assert snapshot[1]["file"] == f"f{KEEP_FINISHED + 19}"
    running.finish("connection lost")
    assert registry.snapshot()[0]["result"] == "connection lost"


def test_watcher_reports_changes_on_disk_and_by_the_store(tmp_path: Path) -> None:
    bus = Bus()
    sub = bus.subscribe([FILES_TOPIC])
    store = FileStore(tmp_path)
    (tmp_path / "sub").mkdir()
    watcher = FolderWatcher(store, bus)
    watcher.watch("")
    watcher.watch("sub")
    assert watcher.poll_once() == []
    (tmp_path / "sub" / "copied.txt").write_text("by cp")
    # the root changes too: the listing shows the folder's modification time
    assert sorted(watcher.poll_once()) == ["", "sub"]
    assert watcher.poll_once() == []
    with store.writer("made.txt") as w:
        w.write(b"x")
        w.commit()
    assert [item for _, item in sub.get_batch(timeout=0).items] == ["", "sub", ""]
    assert watcher.poll_once() == []  # the store's own change was reported once, not again
    watcher.unwatch("sub")
    (tmp_path / "sub" / "other.txt").write_text("unwatched")
    assert watcher.poll_once() == [""]  # sub is no longer polled; the root sees its new mtime


def test_store_operations_and_partial_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path, max_upload=10)
    store.mkdir("a/b")
    (tmp_path / "a" / "b" / "f.txt").write_text("f")
    store.rename("a/b/f.txt", "a/g.txt")
    assert (tmp_path / "a" / "g.txt").exists()
    with pytest.raises(FileExistsError):
        store.mkdir("a")
    with pytest.raises(UnsafePath):
        store.rename("a/g.txt", "../out.txt")
    (tmp_path / f".x.1234{PART_SUFFIX}").write_text("half")
    assert [e.name for e in store.list()] == ["a"]
    with pytest.raises(UnsafePath):
        store.resolve(f".x.1234{PART_SUFFIX}")
    store.delete("a")
    assert [e.name for e in store.list()] == []
    with pytest.raises(FileNotFoundError):
        store.delete("a")


def test_upload_limit_in_the_writer(tmp_path: Path) -> None:
    from sockets_core.files import UploadTooLarge

    store = FileStore(tmp_path, max_upload=10)
    with pytest.raises(UploadTooLarge), store.writer("big.bin") as w:
        w.write(b"123456")
        w.write(b"789012")
    assert list(tmp_path.iterdir()) == []


def test_sha256_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    import hashlib
    import os

    store = FileStore(tmp_path)
    (tmp_path / "f").write_bytes(b"one")
    assert store.sha256("f") == hashlib.sha256(b"one").hexdigest()
    (tmp_path / "f").write_bytes(b"two!")
    os.utime(tmp_path / "f", ns=(1, 1))
    assert store.sha256("f") == hashlib.sha256(b"two!").hexdigest()


def test_with_a_cluster_bus_the_list_holds_every_instances_transfers_keyed_by_instance_and_id() -> None:
    import gevent

    from tests.harness import wait_for

    bus = Bus("here")
    registry = TransferRegistry(bus)
    registry.follow_cluster()
    try:
        mine = registry.begin("tftp", "download", "10.0.0.1:1", "mine.bin", 10)
        there = {"id": mine.id, "kind": "http", "direction": "download", "peer": "p", "file": "theirs.bin",
                 "instance": "there", "status": "running", "finished": None}
        bus.publish(TRANSFER_TOPIC, there)  # the same id as ours: another instance's, kept apart
        bus.publish(TRANSFER_TOPIC, {**there, "id": 7, "file": "refused.bin", "status": "refused", "finished": 5.0})
        wait_for(lambda: len(registry.snapshot()) == 3, sleep=gevent.sleep, what="3 transfers listed")
        assert [(t["instance"], t["file"], t["status"]) for t in registry.snapshot()] == [
            ("here", "mine.bin", "running"), ("there", "theirs.bin", "running"), ("there", "refused.bin", "refused")]
        bus.publish(TRANSFER_TOPIC, {**there, "status": "ok", "finished": 9.0})  # it finished: listed once
        wait_for(lambda: [t["status"] for t in registry.snapshot() if t["instance"] == "there"] == ["ok", "refused"],
                 sleep=gevent.sleep, what="the remote transfer finished once")
    finally:
        registry.stop_following()


def test_remote_transfers_are_bounded_like_the_local_ones() -> None:
    from sockets_core import transfers

    registry = TransferRegistry(Bus("here"))
    for i in range(KEEP_FINISHED + 50):
        registry.remember({"id": i, "instance": "there", "status": "ok", "finished": float(i)})
    for i in range(transfers.REMOTE_RUNNING_MAX + 5):
        registry.remember({"id": 10_000 + i, "instance": "there", "status": "running", "finished": None})
    registry.remember({"id": 1, "instance": "here", "status": "ok"})  # our own come from the registry itself
    registry.remember("not a dict")
    listed = registry.snapshot()
    assert sum(t["status"] == "ok" for t in listed) == KEEP_FINISHED
    assert sum(t["status"] == "running" for t in listed) == transfers.REMOTE_RUNNING_MAX
    assert all(t["instance"] == "there" for t in listed)
