"""GET /metrics of the real process: chat, TFTP and HTTP file traffic move the right counters
by the right amounts, the transfer histograms count the transfers, and Prometheus' own
parser reads the page."""

from __future__ import annotations

import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests import harness
from tests.harness import chat_client, recv_until

HOST = "127.0.0.1"
BOOT = bytes(range(256)) * 8  # 2048 bytes: 4 TFTP blocks of 512 and an empty one


def scrape(proc: harness.Sockdash, headers: dict[str, str] | None = None) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    request = urllib.request.Request(f"{proc.base_url}/metrics", headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode("utf-8")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_traffic_moves_the_counters_and_the_histogram_counts_the_transfers(tmp_path: Path) -> None:
    proc = harness.start(tmp_path / "s")
    try:
        before = scrape(proc)  # no browser session, no token: Prometheus scrapes like this
        build = [dict(labels) for (name, labels), v in before.items() if name == "sockdash_build_info" and v == 1]
        assert len(build) == 1 and build[0]["version"] == proc.status()["version"]
        assert value(before, "sockdash_service_up", service="tftp") == 1.0
        assert ("process_cpu_seconds_total", ()) in before

        alice, bob = chat_client(proc, "alice"), chat_client(proc, "bob")
        for i in range(3):
            alice.sendall(b"hello %d\n" % i)
            recv_until(bob, b"hello %d\n" % i)
        tcp_chat_clients = value(scrape(proc), "sockdash_service_clients", service="tcp_chat")
        alice.close()
        bob.close()

        (proc.root / "boot.img").write_bytes(BOOT)
        subprocess.run(["tftp", HOST, str(proc.ports["tftp"]), "-m", "binary", "-c", "get", "boot.img",
                        str(tmp_path / "boot.img")], check=True, timeout=30, capture_output=True)
        assert (tmp_path / "boot.img").read_bytes() == BOOT
        subprocess.run(["tftp", HOST, str(proc.ports["tftp"]), "-m", "binary", "-c", "get", "missing.img",
                        str(tmp_path / "missing.img")], check=False, timeout=30, capture_output=True)
        with urllib.request.urlopen(f"{proc.base_url}/files/boot.img", timeout=10) as response:
            assert response.read() == BOOT

        def settled() -> dict[tuple[str, tuple], float] | None:
            now = scrape(proc)
            done = (value(now, "sockdash_transfers_total", kind="http", direction="download", result="ok") == 1
                    and value(now, "sockdash_service_clients", service="tcp_chat") == 0)
            return now if done else None

        after = proc.wait_for(settled)
        assert after, "the HTTP download and the chat's close were never counted"
    finally:
        proc.stop()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert tcp_chat_clients == 2
    assert moved("sockdash_chat_messages_total", kind="message", transport="tcp") == 3
    # what bob got: three lines "<alice> hello N" at the least (plus the join/leave notices)
    assert moved("sockdash_service_received_bytes_total", service="tcp_chat") >= 3 * len(b"hello 0\n")
    assert moved("sockdash_service_sent_bytes_total", service="tcp_chat") >= 3 * len(b"hello 0\n")

    tftp = {"kind": "tftp", "direction": "download"}
    assert moved("sockdash_transfers_total", result="ok", **tftp) == 1
    assert moved("sockdash_transfers_total", result="refused", **tftp) == 1
    assert moved("sockdash_transfer_size_bytes_count", **tftp) == 1  # the refusal is not a transfer
    assert moved("sockdash_transfer_size_bytes_sum", **tftp) == len(BOOT)
    assert moved("sockdash_transfer_size_bytes_bucket", le="1024.0", **tftp) == 0
    assert moved("sockdash_transfer_size_bytes_bucket", le="16384.0", **tftp) == 1
    assert moved("sockdash_transfer_duration_seconds_count", **tftp) == 1
    # 5 DATA out, the RRQ and 5 ACKs in (the refused RRQ and its ERROR too)
    assert moved("sockdash_service_sent_bytes_total", service="tftp") >= len(BOOT)
    assert moved("sockdash_service_received_packets_total", service="tftp") == 1 + 5 + 1
    assert moved("sockdash_service_sent_packets_total", service="tftp") == 5 + 1
    assert moved("sockdash_transfer_size_bytes_sum", kind="http", direction="download") == len(BOOT)

    text = "\n".join(f"{name}{dict(labels)}" for name, labels in after)
    assert "127.0.0.1" not in text and "boot.img" not in text and "alice" not in text


def test_metrics_answer_only_the_hosts_every_route_answers(tmp_path: Path) -> None:
    proc = harness.start(tmp_path / "s")
    try:
        assert scrape(proc, {"Host": f"localhost:{proc.ports['http']}"})
        try:
            scrape(proc, {"Host": "attacker.example"})
            raise AssertionError("a foreign Host header was answered")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403
            exc.close()
    finally:
        proc.stop()


def test_a_refused_connection_counts_as_a_hit_of_the_limit_it_names(tmp_path: Path) -> None:
    proc = harness.start(tmp_path / "s", "--tcp-chat-max-per-ip", "1")
    try:
        before = scrape(proc)
        first = chat_client(proc, "first")
        with socket.create_connection((proc.host, proc.ports["tcp_chat"]), timeout=5) as second:
            recv_until(second, b"too many connections from your address")
        first.close()
        after = proc.wait_for(lambda: (now := scrape(proc)) and value(
            now, "sockdash_connections_refused_total", service="tcp_chat", reason="per_ip") == 1 and now)
    finally:
        proc.stop()
    assert value(after, "sockdash_limit_hits_total", limit="tcp_chat_max_per_ip") - value(
        before, "sockdash_limit_hits_total", limit="tcp_chat_max_per_ip") == 1
    assert not any(name == "sockdash_limit_hits_total" and "127.0.0.1" in str(labels) for name, labels in after)
