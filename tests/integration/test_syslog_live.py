"""The syslog receiver in the real process: native senders (a UDP socket, util-linux logger),
the API, the packet log, --disable, --syslog-max and --syslog-file."""

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import harness, wsclient


def send(port: int, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for data in datagrams:
            sender.sendto(data, ("127.0.0.1", port))


def messages(sockdash: harness.Sockdash, query: str = "") -> list[dict]:  # type: ignore[type-arg]
    return sockdash.get_json("/api/syslog" + query)["messages"]  # type: ignore[no-any-return]


def test_rfc3164_and_rfc5424_from_a_socket_reach_the_api(sockdash: harness.Sockdash) -> None:
    after = sockdash.get_json("/api/syslog?limit=1")["last_id"]
    send(sockdash.ports["syslog"],
         b"<189>77: *Mar  1 00:01:02.003: %SYS-5-RELOAD: Reload requested by console",
         b'<187>1 2026-11-25T10:00:00.5Z sw-live stack 12 UPG [meta@32473 image="c2960.bin"] flash write failed')
    got = sockdash.wait_for(lambda: len(found := messages(sockdash, f"?after={after}")) >= 2 and found,
                            timeout=3, what="two syslog messages in the API")
    cisco, juniper = got
    assert (cisco["format"], cisco["severity_name"], cisco["app"], cisco["host"]) == (
        "rfc3164", "notice", "SYS", "127.0.0.1")
    assert (juniper["format"], juniper["severity_name"], juniper["host"], juniper["procid"]) == (
        "rfc5424", "err", "sw-live", "12")
    assert juniper["structured_data"] == [{"id": "meta@32473", "params": {"image": "c2960.bin"}}]
    assert [m["id"] for m in messages(sockdash, f"?after={after}&severity=err")] == [juniper["id"]]
    events = sockdash.get_json("/api/packets?service=syslog&limit=2")["events"]
    assert [e["summary"] for e in events] == ["syslog notice SYS: %SYS-5-RELOAD: Reload requested by console",
                                              "syslog err stack: flash write failed"]


def test_util_linux_logger_is_understood(sockdash: harness.Sockdash) -> None:
    logger = shutil.which("logger")
    assert logger, "logger (util-linux, Debian's bsdutils) is needed: tests/tools/ensure_peers.sh installs it"
    after = sockdash.get_json("/api/syslog?limit=1")["last_id"]
    for option in ("--rfc5424", "--rfc3164"):
        subprocess.run([logger, "--server", "127.0.0.1", "--port", str(sockdash.ports["syslog"]), "--udp", option,
                        "--tag", "upgrade", "--priority", "local0.warning", f"hello via {option}"],
                       check=True, timeout=10)
    got = sockdash.wait_for(lambda: len(found := messages(sockdash, f"?after={after}&q=hello+via")) >= 2 and found,
                            timeout=3, what="logger's two messages")
    assert [(m["format"], m["facility_name"], m["severity_name"], m["app"], m["message"]) for m in got] == [
        ("rfc5424", "local0", "warning", "upgrade", "hello via --rfc5424"),
        ("rfc3164", "local0", "warning", "upgrade", "hello via --rfc3164")]


def test_bad_query_is_a_400_with_the_reason(sockdash: harness.Sockdash) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        sockdash.get_json("/api/syslog?severity=loudest")
    body = json.load(info.value)
    info.value.close()
    assert info.value.code == 400 and "unknown severity 'loudest'" in body["error"]


def test_disable_syslog_leaves_the_port_closed_and_status_says_so(tmp_path: Path) -> None:
    port = harness.free_udp_port()
    proc = harness.start(tmp_path, "--disable", "syslog", "--syslog-port", str(port),
                         ports=harness.ALL_PORTS_ZERO[:-2])
    try:
        status = proc.status()["services"]["syslog"]
        assert status["running"] is False and status["disabled"] is True
        assert "syslog" not in proc.ports and any(line.strip() == "syslog    disabled" for line in proc.output)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", port))  # nobody holds it
    finally:
        proc.stop()


def test_ring_size_and_rotated_file_flags(tmp_path: Path) -> None:
    path = tmp_path / "syslog" / "switches.log"
    proc = harness.start(tmp_path, "--syslog-max", "5", "--syslog-file", str(path), "--syslog-file-max", "1K")
    try:
        send(proc.ports["syslog"], *[b"<14>message number %03d" % i for i in range(40)])
        proc.wait_for(lambda: proc.status()["services"]["syslog"]["messages"]["received"] == 40, timeout=3,
                      what="40 messages received")
        kept = messages(proc)
        assert [m["message"] for m in kept] == [f"message number {i:03d}" for i in range(35, 40)]
        assert proc.status()["services"]["syslog"]["messages"]["evicted"] == 35
    finally:
        proc.stop()
    assert any("--syslog-max" in line and "WARNING" in line for line in proc.output)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[-1].endswith(" 127.0.0.1 <14>message number 039") and path.with_name("switches.log.1").exists()
    assert path.stat().st_size <= 1024


def test_a_long_message_is_cut_marked_and_warned(tmp_path: Path) -> None:
    proc = harness.start(tmp_path)
    try:
        send(proc.ports["syslog"], b"<14>" + b"z" * 12_000)
        got = proc.wait_for(lambda: messages(proc), timeout=3, what="the long message")
        assert got[0]["truncated"] is True and got[0]["length"] == 12_004 and len(got[0]["raw"]) == 8192
    finally:
        proc.stop()
    assert any("kept the first 8192 of 12004 bytes of a message from 127.0.0.1" in line for line in proc.output)


def test_status_stays_quick_while_a_sender_floods(sockdash: harness.Sockdash) -> None:
    """Functional bound only (the figures are bench/syslog.py's): 5,000 datagrams at once do
    not stop the dashboard from answering."""
    port = sockdash.ports["syslog"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for i in range(5_000):
            sender.sendto(b"<14>flood %d" % i, ("127.0.0.1", port))
    started = time.monotonic()
    sockdash.status()
    assert time.monotonic() - started < 1.0


def test_default_port_514_taken_falls_back_to_5514(tmp_path: Path) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):  # else held by another process already: the same situation
        holder.bind(("127.0.0.1", 514))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", 5514))
            except OSError:
                pytest.fail("port 5514 is taken on this machine; the fallback cannot be shown")
        proc = harness.start(tmp_path, ports=harness.ALL_PORTS_ZERO[:-2])  # no --syslog-port: the default
        try:
            assert proc.ports["syslog"] == 5514
            assert any(line.startswith("  syslog") and "port 514 is in use; using 5514 instead" in line
                       for line in proc.banner)
            send(5514, b"<14>after the fallback")
            proc.wait_for(lambda: messages(proc), timeout=3, what="a message on 5514")
        finally:
            proc.stop()
    finally:
        holder.close()


def test_a_syslog_file_that_cannot_be_written_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("")
    result = harness.run_to_exit(tmp_path, *harness.ALL_PORTS_ZERO, "--syslog-file",
                                 str(tmp_path / "not-a-folder" / "switches.log"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"sockdash: error: --syslog-file {tmp_path}/not-a-folder/switches.log cannot be written: File exists"]


def test_the_live_feed_refuses_other_origins_and_streams_to_its_own(sockdash: harness.Sockdash) -> None:
    port = sockdash.ports["http"]
    with wsclient.connect("127.0.0.1", port, "/ws/syslog", origin="http://evil.example") as refused:
        assert refused.status == 403
    with wsclient.connect("127.0.0.1", port, "/ws/syslog", origin=f"http://127.0.0.1:{port}") as ws:
        assert ws.accepted
        assert json.loads(ws.receive() or "null")["reset"] is True
        ws.send_text(json.dumps({"filter": {"q": "feed-origin-check"}}))
        assert json.loads(ws.receive() or "null")["messages"] == []  # the reset for the filter
        send(sockdash.ports["syslog"], b"<13>feed-origin-check arrives live")
        frame = json.loads(ws.receive() or "null")
        assert [m["message"] for m in frame["messages"]] == ["feed-origin-check arrives live"]


def test_the_admin_stops_and_starts_syslog_and_the_ring_stays(fresh_sockdash: harness.Sockdash) -> None:
    proc = fresh_sockdash
    port = proc.ports["syslog"]
    send(port, b"<14>before the stop")
    proc.wait_for(lambda: messages(proc), timeout=3, what="the first message")
    auth = {"Authorization": f"Bearer {proc.token}"}
    base = f"{proc.base_url}/api/services/syslog"
    urllib.request.urlopen(urllib.request.Request(base + "/stop", method="POST", headers=auth), timeout=5).close()
    assert proc.status()["services"]["syslog"]["running"] is False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", port))  # released
    urllib.request.urlopen(urllib.request.Request(base + "/start", method="POST", headers=auth), timeout=5).close()
    assert proc.status()["services"]["syslog"]["port"] == port
    send(port, b"<14>after the start")
    got = proc.wait_for(lambda: len(found := messages(proc)) == 2 and found, timeout=3, what="both messages")
    assert [m["message"] for m in got] == ["before the stop", "after the start"]
