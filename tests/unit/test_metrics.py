"""The counters /metrics reads that were added for it: limit hits by limit name (in the one
warning throttle), bus drops (closed subscribers included), --packet-log-file losses (a
failed write costs its batch, never the writer); and the page itself on a test client."""

from __future__ import annotations

import errno
import json
import logging
from pathlib import Path
from typing import Any

import gevent
from prometheus_client.parser import text_string_to_metric_families

from sockets_core.bus import Bus
from sockets_core.files import FileStore
from sockets_core.logthrottle import LIMIT_HITS, ThrottledWarning, limit_name
from sockets_core.packetfile import PacketFileWriter
from sockets_core.packetlog import PacketLog
from sockets_core.services import Services
from sockets_core.settings import parse_settings
from sockets_core.transfers import TransferRegistry
from tests.harness import wait_for
from webapp.app import create_app

log = logging.getLogger("test.metrics")
SERVER, CLIENT = ("127.0.0.1", 69), ("127.0.0.1", 50000)


def test_a_limit_is_counted_under_the_flag_it_names_and_never_under_what_a_client_sent() -> None:
    assert limit_name(log, "tftp: %s has %d transfers (limit --tftp-max-per-peer): refused %r", ()) == \
        "tftp_max_per_peer"
    # the flag as an argument (the admission warnings pass it so)
    assert limit_name(log, "%s: refused a connection from %s (%s)", ("file", "10.0.0.1", "--file-max-per-ip")) == \
        "file_max_per_ip"
    # a nick or file name that looks like a flag is not a limit: the logger's name is used
    assert limit_name(log, "chat: %s refused #%s", ("--evil-name", "--help")) == "test.metrics"
    assert limit_name(log, "a name --not-a-flag in the text", ()) == "test.metrics"


def test_every_hit_is_counted_also_those_the_throttle_does_not_log(caplog: Any) -> None:
    warnings = ThrottledWarning(log, clock=lambda: 100.0)
    before = LIMIT_HITS["udp_chat_max_per_ip"]
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            warnings.warn("udp_chat: peers from %s (--udp-chat-max-per-ip): ignoring", "10.0.0.1", key="10.0.0.1")
    assert LIMIT_HITS["udp_chat_max_per_ip"] - before == 5 and len(caplog.records) == 1


def test_bus_drops_are_summed_over_live_and_closed_subscribers() -> None:
    bus = Bus()
    slow, gone = bus.subscribe(limit=2), bus.subscribe(limit=1)
    for i in range(5):
        bus.publish("t", i)
    assert bus.dropped_total() == 3 + 4
    slow.get_batch(timeout=0)  # taking the batch moves its count, it does not reset the total
    gone.close()
    assert bus.dropped_total() == 7


class FullDisk:
    """A stream whose first write fails as a full disk does."""

    def __init__(self, real: Any) -> None:
        self.real, self.failed = real, False

    def write(self, text: str) -> int:
        if not self.failed:
            self.failed = True
            raise OSError(errno.ENOSPC, "No space left on device")
        return int(self.real.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_full_disk_costs_the_packet_file_one_batch_then_it_writes_again(tmp_path: Path, caplog: Any) -> None:
    bus = Bus()
    packets = PacketLog(bus)
    target = tmp_path / "packets.jsonl"
    writer = PacketFileWriter(bus, target, max_bytes=1 << 20)
    writer._greenlet.kill()
    writer._file.stream = FullDisk(writer._file.stream)
    try:
        packets.record("udp_chat", "udp", "data", "in", SERVER, CLIENT, b"lost")
        packets.record("udp_chat", "udp", "data", "in", SERVER, CLIENT, b"lost too")
        with caplog.at_level(logging.WARNING):
            writer._greenlet = gevent.spawn(writer._run)
            wait_for(lambda: writer.dropped, 5, "the failed batch counted", sleep=gevent.sleep)
        packets.record("udp_chat", "udp", "data", "in", SERVER, CLIENT, b"kept")
    finally:
        writer.close()
    assert writer.dropped == 2 and "cannot write" in caplog.text
    payloads = [bytes.fromhex(json.loads(line)["payload_hex"]) for line in target.read_text().splitlines()]
    assert payloads == [b"kept"]


def test_the_page_reads_the_taps_and_counts_finished_transfers_once(tmp_path: Path) -> None:
    bus = Bus()
    services = Services(parse_settings(["--root", str(tmp_path)]), bus, PacketLog(bus), FileStore(tmp_path))
    services.transfers = TransferRegistry(bus)
    app = create_app(services, "token")
    services.taps["file"].sent(SERVER, CLIENT, b"x" * 300)
    transfer = services.transfers.begin("tftp", "upload", "127.0.0.1:5000", "up.bin", None)
    transfer.advance(4096)
    transfer.finish()
    transfer.finish()  # a second finish changes nothing
    events = app.extensions["sockdash_metrics"]
    for topic, item in events._sub.get_batch(timeout=0).items:  # what its greenlet would do
        events.observe(topic, item)
    response = app.test_client().get("/metrics", headers={"Host": "127.0.0.1"})
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(response.get_data(as_text=True)) for s in f.samples}
    events.close()
    assert samples[("sockdash_service_sent_bytes_total", (("service", "file"),))] == 300
    up = (("direction", "upload"), ("kind", "tftp"))
    assert samples[("sockdash_transfers_total", (*up, ("result", "ok")))] == 1
    assert samples[("sockdash_transfer_size_bytes_sum", up)] == 4096
    assert samples[("sockdash_transfer_size_bytes_count", up)] == 1


def test_with_a_bus_only_this_instances_finished_transfers_are_counted(tmp_path: Path) -> None:
    bus = Bus("here")
    services = Services(parse_settings(["--root", str(tmp_path)]), bus, PacketLog(bus), FileStore(tmp_path))
    services.transfers = TransferRegistry(bus)
    app = create_app(services, "token")
    events = app.extensions["sockdash_metrics"]
    finished = {"id": 1, "kind": "tftp", "direction": "download", "status": "ok", "bytes": 512, "elapsed": 0.1}
    events.observe("transfers", {**finished, "instance": "there"})  # another instance's: counted there
    events.observe("transfers", {**finished, "instance": "here"})
    response = app.test_client().get("/metrics", headers={"Host": "127.0.0.1"})
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(response.get_data(as_text=True)) for s in f.samples}
    events.close()
    down = (("direction", "download"), ("kind", "tftp"))
    assert samples[("sockdash_transfers_total", (*down, ("result", "ok")))] == 1
    assert samples[("sockdash_transfer_size_bytes_count", down)] == 1


def test_with_a_bus_the_shared_left_out_and_ingested_packet_events_are_counted(tmp_path: Path) -> None:
    from sockets_core.cluster.packets import ClusterPackets

    bus = Bus("here")
    packetlog = PacketLog(bus)
    services = Services(parse_settings(["--root", str(tmp_path)]), bus, packetlog, FileStore(tmp_path))
    services.cluster_packets = ClusterPackets(bus, packetlog, per_second=10)  # 2 events a batch
    app = create_app(services, "token")
    for _ in range(5):
        packetlog.record("tftp", "udp", "data", "out", SERVER, CLIENT, b"\x00\x03\x00\x01")
    services.cluster_packets.share_now()
    services.cluster_packets.ingest({"instance": "there", "events": [[1, "tftp", "udp", "data", "in", list(CLIENT),
                                                                      list(SERVER), 4, "", "", False]]})
    response = app.test_client().get("/metrics", headers={"Host": "127.0.0.1"})
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(response.get_data(as_text=True)) for s in f.samples}
    services.cluster_packets.stop()
    app.extensions["sockdash_metrics"].close()
    assert [samples[("sockdash_cluster_packet_events_total", (("what", what),))]
            for what in ("shared", "left_out", "ingested")] == [2, 3, 1]
