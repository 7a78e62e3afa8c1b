"""Redis bus benchmark: what a cluster item costs, side by side with the in-memory bus.

In one gevent process (no monkey-patching needed: RedisBus uses gevent sockets), against a
private redis-server on a free loopback port (tests/redis_server.py):

1. Throughput: --items dict items (a chat-line-sized payload) published on a cluster topic by
   instance A at once, read by a subscriber on A and one on B: time until both have them all,
   items/s, and CPU of this process per item (publish + write + read on two instances + JSON).
2. Latency: --probes items one at a time, A publishes, B's subscriber wakes: p50/p99 of the
   publish -> delivery time. The in-memory bus delivers during publish (~µs).
3. The packet log's rate, for scale: how many packet events/s this costs if every event went
   through Redis as one item (the reason the packet log stays per instance; docs/cluster.md).

    .venv/bin/python bench/redis_bus.py [--items 50000] [--probes 500]

Traffic stays on 127.0.0.1; every loop is bounded by its count.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import gevent

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sockets_core.bus import Bus
from sockets_core.redis_bus import RedisBus
from tests.redis_server import RedisServer

ITEM = {"kind": "message", "room": "lobby", "nick": "alice", "transport": "tcp",
        "text": "a line of about sixty characters, as students type them in class", "id": 0}


def cpu() -> float:
    return time.process_time()


def throughput_memory(items: int) -> tuple[float, float]:
    bus = Bus("A")
    sub_a, sub_b = bus.subscribe(["chat"], limit=items), bus.subscribe(["chat"], limit=items)
    wall, used = time.perf_counter(), cpu()
    for n in range(items):
        bus.publish("chat", {**ITEM, "id": n, "instance": "A"})
    assert sub_a.pending() == sub_b.pending() == items
    return time.perf_counter() - wall, cpu() - used


def throughput_redis(url: str, items: int) -> tuple[float, float, int]:
    a = RedisBus(url, ["chat"], instance="A", stream_max=items, out_queue=items)
    b = RedisBus(url, ["chat"], instance="B", stream_max=items, out_queue=items)
    a.start()
    b.start()
    try:
        sub_a, sub_b = a.subscribe(["chat"], limit=items), b.subscribe(["chat"], limit=items)
        wall, used = time.perf_counter(), cpu()
        for n in range(items):
            a.publish("chat", {**ITEM, "id": n})
            if n % 500 == 499:
                gevent.sleep(0)  # a real publisher (a chat connection) yields between lines
        deadline = time.monotonic() + 120
        while (sub_a.pending() < items or sub_b.pending() < items) and time.monotonic() < deadline:
            gevent.sleep(0.005)
        return time.perf_counter() - wall, cpu() - used, min(sub_a.pending(), sub_b.pending())
    finally:
        a.close()
        b.close()


def latency_redis(url: str, probes: int) -> list[float]:
    a = RedisBus(url, ["chat"], instance="A")
    b = RedisBus(url, ["chat"], instance="B")
    a.start()
    b.start()
    try:
        sub = b.subscribe(["chat"])
        times = []
        for n in range(probes):
            sent = time.perf_counter()
            a.publish("chat", {**ITEM, "id": n})
            sub.wait(5)
            times.append(time.perf_counter() - sent)
            sub.get_batch(0)
        return times
    finally:
        a.close()
        b.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--probes", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            mem_wall, mem_cpu = throughput_memory(args.items)
            red_wall, red_cpu, got = throughput_redis(server.url, args.items)
            lat = sorted(latency_redis(server.url, args.probes))
        finally:
            server.close()
    per_mem, per_red = mem_cpu / args.items * 1e6, red_cpu / args.items * 1e6
    print(f"throughput, {args.items} items, 2 subscribers (A's and B's):")
    print(f"  in-memory bus: {args.items / mem_wall:12,.0f} items/s  {per_mem:6.1f} us CPU/item")
    print(f"  Redis bus:     {args.items / red_wall:12,.0f} items/s  {per_red:6.1f} us CPU/item "
          f"(both instances in this process; {got} of {args.items} on each)  ratio {per_red / per_mem:.0f}x CPU")
    print(f"latency A publish -> B delivery, {args.probes} probes: p50 {statistics.median(lat) * 1e3:.2f} ms, "
          f"p99 {lat[int(len(lat) * 0.99) - 1] * 1e3:.2f} ms, max {lat[-1] * 1e3:.2f} ms")
    share = per_red * 10_000 / 1e6 * 100  # us per item x 10,000 items/s, as a share of one core
    print(f"packet events: at {per_red:.1f} us each, 10,000 packets/s would take {share:.0f}% "
          "of a core in the cluster items alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
