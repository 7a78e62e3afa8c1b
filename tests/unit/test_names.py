"""Names that are not UTF-8: the wire form, the readable form, and every JSON encoder."""

import json
import os
from pathlib import Path

import gevent
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sockets_core.bus import Bus
from sockets_core.files import FileStore, UnsafePath
from sockets_core.names import display, from_bytes, from_wire, to_bytes, to_wire
from sockets_core.packetfile import PacketFileWriter
from sockets_core.packetlog import LAZY_SUMMARIES, PACKET_TOPIC, PacketLog
from sockets_core.textcodec import readable
from sockets_core.tftp import packets
from sockets_core.transfers import TransferRegistry
from sockets_core.watch import FILES_TOPIC, FolderWatcher
from tests.harness import wait_for
from webapp.frames import to_json

GBK_NAME = "你好.txt".encode("gbk")  # b"\xc4\xe3\xba\xc3.txt": a Windows zip unpacked on Linux
LATIN1_NAME = "café.txt".encode("latin-1")  # b"caf\xe9.txt"
INVALID_NAME = b"\xff\xfe.bin"

# one component of a name on disk: any bytes but "/" and NUL
components = st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b)


@given(st.lists(components, min_size=1, max_size=4))
def test_the_wire_form_gives_every_name_back_byte_exact_and_is_valid_unicode(parts: list[bytes]) -> None:
    name = from_bytes(b"/".join(parts))
    wire = to_wire(name)
    wire.encode("utf-8")  # JSON- and URL-safe: no lone surrogate
    assert to_bytes(from_wire(wire)) == b"/".join(parts)
    assert len(wire.split("/")) == len(parts)  # per component: breadcrumbs stay possible


@pytest.mark.parametrize("raw, wire, shown, encoding", [
    (b"hello.txt", "hello.txt", "hello.txt", "utf-8"),
    ("子目录/说明.txt".encode(), "子目录/说明.txt", "子目录/说明.txt", "utf-8"),
    (GBK_NAME, "~b64:xOO6wy50eHQ", "你好.txt", "gbk"),
    (LATIN1_NAME, "~b64:Y2Fm6S50eHQ", "caf\\xe9.txt", "escaped"),
    (INVALID_NAME, "~b64:__4uYmlu", "\\xff\\xfe.bin", "escaped"),
    (b"docs/" + GBK_NAME, "docs/~b64:xOO6wy50eHQ", "docs/你好.txt", "gbk"),
    (b"~b64:abc", "~b64:fmI2NDphYmM", "~b64:abc", "utf-8"),  # the marker itself is escaped
    (b"line\nbreak", "line\nbreak", "line\\x0abreak", "utf-8"),
])
def test_wire_and_display_forms(raw: bytes, wire: str, shown: str, encoding: str) -> None:
    name = os.fsdecode(raw)  # as os.scandir gives it
    assert to_wire(name) == wire
    assert from_wire(wire) == name
    assert display(name) == (shown, encoding)


def test_percent_decoded_raw_bytes_are_the_same_name_as_the_wire_form() -> None:
    # what /files/%C4%E3%BA%C3.txt decodes to, in any split between escapes and text
    assert from_wire(from_bytes(GBK_NAME)) == from_wire("~b64:xOO6wy50eHQ") == os.fsdecode(GBK_NAME)
    assert from_wire("\udce4\udcbd\udca0.txt") == "你.txt"  # UTF-8 bytes that arrived one by one


@pytest.mark.parametrize("wire", ["~b64:***", "~b64:a", "~b64:YS9i", "a\ud800"])
def test_malformed_wire_forms_are_refused(wire: str) -> None:
    # bad alphabet, impossible length, a part holding "/" ("a/b"), no bytes at all
    with pytest.raises(UnsafePath):
        from_wire(wire)


def test_a_wire_form_cannot_hide_a_traversal_from_the_file_store(tmp_path: Path) -> None:
    assert from_wire("~b64:Li4") == ".."
    with pytest.raises(UnsafePath):
        FileStore(tmp_path).resolve(from_wire("~b64:Li4/etc"))


def test_readable_reads_surrogate_escapes_as_gbk_or_escapes_them() -> None:
    assert readable("plain 文本") == "plain 文本"
    assert readable("RRQ " + os.fsdecode(GBK_NAME) + " octet") == "RRQ 你好.txt octet"
    assert readable("RRQ " + os.fsdecode(INVALID_NAME)) == "RRQ \\xff\\xfe.bin"
    assert readable("json \ud800") == "json \\ud800"  # a surrogate that stands for no byte


def test_to_json_never_raises_on_a_surrogate_and_shows_it_readable() -> None:
    text = to_json({"file": os.fsdecode(GBK_NAME), os.fsdecode(INVALID_NAME): ["x", os.fsdecode(LATIN1_NAME)]})
    assert json.loads(text.encode("utf-8")) == {"file": "你好.txt", "\\xff\\xfe.bin": ["x", "caf\\xe9.txt"]}
    assert to_json({"plain": "ü"}) == '{"plain":"ü"}'


@pytest.mark.parametrize("raw, summary", [(GBK_NAME, "RRQ 你好.txt octet"), (INVALID_NAME, "RRQ \\xff\\xfe.bin octet"),
                                          (LATIN1_NAME, "RRQ caf\\xe9.txt octet")])
def test_tftp_request_names_round_trip_and_log_readable(raw: bytes, summary: str) -> None:
    wire = b"\x00\x01" + raw + b"\x00octet\x00"
    request = packets.decode(wire)
    assert isinstance(request, packets.Request)
    assert to_bytes(request.filename) == raw  # the file of exactly these bytes is opened
    assert packets.encode_request(packets.RRQ, request.filename, "octet") == wire
    assert packets.summarize(wire) == summary
    # the packet log's dict and JSON line (the jsonl export, --packet-log-file, /ws/packets)
    LAZY_SUMMARIES["tftp"] = packets.summarize
    log = PacketLog()
    event = log.record("tftp", "udp", "data", "in", ("127.0.0.1", 69), ("127.0.0.1", 5000), wire)
    assert event.to_dict()["summary"] == summary
    assert json.loads(event.to_json().encode("utf-8"))["summary"] == summary
    eager = log.record("file", "tcp", "data", "in", ("127.0.0.1", 8080), ("127.0.0.1", 5000), raw,
                       summary="asked for " + os.fsdecode(raw))
    assert json.loads(eager.to_json().encode("utf-8"))["summary"] == "asked for " + summary[4:-6]


def test_transfers_show_the_name_readable_and_carry_it_losslessly() -> None:
    registry = TransferRegistry()
    transfer = registry.begin("tftp", "download", "127.0.0.1:5000", os.fsdecode(b"sub/" + GBK_NAME), 10)
    as_dict = transfer.as_dict()
    assert as_dict["file"] == "sub/你好.txt" and as_dict["path"] == "sub/~b64:xOO6wy50eHQ"
    json.dumps(registry.snapshot(), ensure_ascii=False).encode("utf-8")


def test_the_packet_log_file_writes_such_names_and_survives_a_bad_batch(tmp_path: Path) -> None:
    bus = Bus()
    LAZY_SUMMARIES["tftp"] = packets.summarize
    log = PacketLog(bus)
    target = tmp_path / "packets.jsonl"
    writer = PacketFileWriter(bus, target, max_bytes=1 << 20)
    try:
        for raw in (GBK_NAME, INVALID_NAME):
            log.record("tftp", "udp", "data", "in", ("127.0.0.1", 69), ("127.0.0.1", 5000),
                       b"\x00\x01" + raw + b"\x00octet\x00")
        bus.publish(PACKET_TOPIC, object())  # not an event: its own line is lost, nothing else
        log.record("udp_chat", "udp", "data", "in", ("127.0.0.1", 8989), ("127.0.0.1", 5000), b"later")

        def written() -> list[dict]:  # type: ignore[type-arg]
            return [json.loads(line) for line in target.read_bytes().decode("utf-8").splitlines()]

        # the writer is a greenlet draining the bus: wait until it wrote the last line
        wait_for(lambda: any(line.get("service") == "udp_chat" for line in written()), what="the udp_chat line written",
                 sleep=gevent.sleep)
        summaries = [line["summary"] for line in written()]
        assert summaries[:2] == ["RRQ 你好.txt octet", "RRQ \\xff\\xfe.bin octet"]
        assert len(summaries) == 3 and written()[-1]["service"] == "udp_chat" and writer.unwritable == 1
    finally:
        writer.close()


def test_a_folder_named_in_gbk_is_watched_and_reported_in_the_wire_form(tmp_path: Path) -> None:
    bus = Bus()
    sub = bus.subscribe([FILES_TOPIC])
    folder = os.fsencode(tmp_path) + b"/" + "文件".encode("gbk")
    os.mkdir(folder)
    store = FileStore(tmp_path)
    watcher = FolderWatcher(store, bus)
    wire = to_wire(os.fsdecode("文件".encode("gbk")))
    watcher.watch(wire)  # what the page asks for, from the listing
    with open(folder + b"/copied.txt", "wb") as f:
        f.write(b"by cp")
    assert watcher.poll_once() == [wire]
    store.delete(os.fsdecode("文件".encode("gbk") + b"/copied.txt"))
    assert [item for _, item in sub.get_batch(timeout=0).items] == [wire, wire]
