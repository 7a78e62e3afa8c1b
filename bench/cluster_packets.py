"""What sharing the packet log costs (--bus, sockets_core/cluster/packets.py): the packet
events a second of one instance's TFTP download (curl, blksize 1468) in three setups,
alternating in one sitting (each first in turn):

- ``no bus``: the embedded default;
- ``bus, alone``: --bus, no other instance (this one batches and publishes its sample);
- ``bus + ingesting``: --bus and a second instance on the same Redis taking the batches in.

Printed per setup: the median events/s of the download instance, and for the second instance
the events it took in and the CPU it spent meanwhile. ``--micro``: in one process instead, the
CPU of PacketLog.record with and without the sharer's subscription, of one batch (share_now)
and of PacketLog.ingest per event (less noise than a download on a shared machine).

    .venv/bin/python bench/cluster_packets.py --mib 20 --rounds 5
    .venv/bin/python bench/cluster_packets.py --micro
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import harness
from tests.redis_server import RedisServer

FILE = "bench.bin"


def recorded(proc: harness.Sockdash) -> int:
    """sockdash_packet_log_events_total of ``proc`` (its own events and those it took in)."""
    with urllib.request.urlopen(proc.base_url + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("sockdash_packet_log_events_total "):
                return int(float(line.split()[1]))
    raise RuntimeError("no sockdash_packet_log_events_total in /metrics")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def download(proc: harness.Sockdash, into: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["curl", "-s", "--tftp-blksize", "1468", "-o", str(into),
                    f"tftp://127.0.0.1:{proc.ports['tftp']}/{FILE}"], check=True, timeout=300)
    return time.perf_counter() - started


def micro(count: int = 200_000) -> None:
    from sockets_core.bus import Bus
    from sockets_core.cluster.packets import PACKET_BATCH_TOPIC, ClusterPackets
    from sockets_core.packetlog import PacketLog

    local, peer, block = ("127.0.0.1", 6969), ("127.0.0.1", 50000), b"\x00\x03\x00\x01" + b"x" * 1468

    def record_ns(log: PacketLog) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter_ns()
            for _ in range(count // 5):
                log.record("tftp", "udp", "data", "out", local, peer, block)
            best = min(best, (time.perf_counter_ns() - started) / (count // 5))
        return best

    plain_bus = Bus("A")
    plain = record_ns(PacketLog(plain_bus))
    bus = Bus("A")
    log = PacketLog(bus)
    sharer = ClusterPackets(bus, log)
    sent = bus.subscribe([PACKET_BATCH_TOPIC])
    shared = record_ns(log)  # the sharer's queue fills (its limit): what a storm costs
    print(f"PacketLog.record: {plain:.0f} ns without the sharer, {shared:.0f} ns with it ({shared / plain:.2f}x)")
    sharer.share_now()  # the first WARNING learns its limit's name (an import): not counted
    storm = 6_000  # 0.15 s of a 40,000 events/s download
    best = float("inf")
    for _ in range(5):
        for _ in range(storm):
            log.record("tftp", "udp", "data", "out", local, peer, block)
        started = time.perf_counter_ns()
        sharer.share_now()
        best = min(best, (time.perf_counter_ns() - started) / 1000)
    print(f"one batch (share_now) of {storm} events recorded in the interval, {sharer.budget} sent: {best:.0f} us")
    batch = sent.get_batch(timeout=0).items[-1][1]
    batch = {**batch, "instance": "B"}
    other = ClusterPackets(Bus("C"), PacketLog(Bus("C")))
    rounds = 200
    started = time.perf_counter_ns()
    for _ in range(rounds):
        other.ingest(batch)
    print(f"ingest: {(time.perf_counter_ns() - started) / (rounds * len(batch['events'])):.0f} ns an event")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--micro", action="store_true", help="the in-process costs only")
    args = parser.parse_args()
    if args.micro:
        micro()
        return
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        payload = os.urandom(args.mib << 20)
        redis_alone, redis_pair = RedisServer(tmp / "redis1"), RedisServer(tmp / "redis2")
        redis_alone.start()
        redis_pair.start()
        procs: list[harness.Sockdash] = []
        try:
            setups = {
                "no bus": harness.start(tmp / "plain"),
                "bus, alone": harness.start(tmp / "alone", "--bus", redis_alone.url, "--instance-name", "alone"),
                "bus + ingesting": harness.start(tmp / "a", "--bus", redis_pair.url, "--instance-name", "A"),
            }
            procs += setups.values()
            ingester = harness.start(tmp / "b", "--bus", redis_pair.url, "--instance-name", "B")
            procs.append(ingester)
            for proc in setups.values():
                (proc.root / FILE).write_bytes(payload)
            rates: dict[str, list[float]] = {name: [] for name in setups}
            taken: list[int] = []
            cpu: list[float] = []
            names = list(setups)
            for round_number in range(args.rounds):
                shift = round_number % len(names)  # each setup goes first in turn: no order effect
                for name in names[shift:] + names[:shift]:
                    proc = setups[name]
                    before, ingested_before = recorded(proc), recorded(ingester)
                    cpu_before = cpu_seconds(ingester.proc.pid)
                    seconds = download(proc, tmp / "out.bin")
                    rates[name].append((recorded(proc) - before) / seconds)
                    if name == "bus + ingesting":
                        time.sleep(0.5)  # the last batch (0.15 s) reaches B
                        taken.append(recorded(ingester) - ingested_before)
                        cpu.append((cpu_seconds(ingester.proc.pid) - cpu_before) / (seconds + 0.5))
            base = statistics.median(rates["no bus"])
            print(f"{args.mib} MiB TFTP download, blksize 1468, {args.rounds} rounds alternating (median)")
            print("| setup | events/s of the download instance | vs no bus |")
            print("|---|---|---|")
            for name, values in rates.items():
                median = statistics.median(values)
                print(f"| {name} | {median:,.0f} | {median / base:.2f}x |")
            print(f"second instance: took in {statistics.median(taken):,.0f} events a download, "
                  f"CPU {statistics.median(cpu):.0%} of a core meanwhile")
        finally:
            for proc in procs:
                proc.stop()
            redis_alone.close()
            redis_pair.close()


if __name__ == "__main__":
    main()
