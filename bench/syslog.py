"""Syslog receiver benchmark: a device flooding syslog while the dashboard is used.

1. Load: a sender (its own process) sends RFC 3164 lines, Cisco style (~110 bytes), at
   --rate datagrams/s for --seconds, paced every millisecond, to the real sockdash process;
   meanwhile the main process times ``GET /api/status`` in a loop and one WebSocket client
   follows ``/ws/syslog`` as the Syslog page does (counting frames and the messages they
   carry or count as "more"). Reported: /api/status p50/p99/max during the load, messages
   sent vs received (sockdash's count) vs dropped by the kernel, frames the browser got,
   and sockdash's CPU use.
2. A full ring queried: ``/api/syslog?severity=err`` over --syslog-max messages, the first
   time (every entry is parsed then) and the second (parsed entries are kept).
3. Per-datagram cost in-process (no sockets): the packet-log record (ServiceTap.received),
   SyslogStore.add, and a full parse, so that the bottleneck is named, not guessed.

    .venv/bin/python bench/syslog.py [--rate 20000] [--seconds 10] [--nice -10] [--no-follower]
    mkdir /tmp/before && git archive COMMIT | tar -x -C /tmp/before
    cd /tmp && /work/main/.venv/bin/python /work/main/bench/syslog.py --tree /tmp/before

(run an older tree from outside the checkout: the current folder comes first on the import
path). --nice raises the priority of sockdash and of the thread timing /api/status (root
only) so that on a machine shared with other work the figures show sockdash rather than the
scheduler; the run prints the load average. The WebSocket follower is a process of its own:
in the prober's, its frame parsing held the GIL and put 150-250 ms into the prober's p99.

Traffic stays on 127.0.0.1; every loop is bounded by its count or its time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import harness, wsclient  # noqa: E402

HOST = "127.0.0.1"
LINE = b"<187>%d: *Nov 25 10:%02d:%02d.%03d: %%LINK-3-UPDOWN: Interface GigabitEthernet1/0/%d, changed state to down"


def line(i: int) -> bytes:
    return LINE % (i, i // 60000 % 60, i // 1000 % 60, i % 1000, i % 48 + 1)


def sender(port: int, rate: int, seconds: float, result: Connection) -> None:
    """``rate`` datagrams a second, in 1 ms slices, for ``seconds``; reports how many went."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    target = (HOST, port)
    sent = 0
    started = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            break
        due = min(int(elapsed * rate) + 1, int(seconds * rate))
        while sent < due:
            try:
                sock.sendto(line(sent), target)
            except OSError:  # ENOBUFS: the sender's own queue is full; count it as not sent
                break
            sent += 1
        time.sleep(0.001)
    sock.close()
    result.send({"sent": sent, "seconds": time.perf_counter() - started})


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * (len(ordered) - 1) + 0.5))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def udp_drops() -> int:
    """The kernel's UDP receive-buffer errors (all sockets; the bench is the only big sender)."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
    header, values = lines[0], lines[1]
    return int(values[header.index("RcvbufErrors")])


def follow_feed(http_port: int, stop: Any, result: Connection) -> None:
    """One browser's worth of /ws/syslog, in its own process (in the prober's, its frame
    parsing held the GIL and the prober's timings with it): frames, and the messages in
    them or counted as "more"."""
    client = wsclient.connect(HOST, http_port, "/ws/syslog")
    frames = shown = more = 0
    while not stop.is_set():
        try:
            text = client.receive(timeout=0.5)
        except (TimeoutError, wsclient.WebSocketClosed):
            continue
        if text is None:
            continue
        frame = json.loads(text)
        if frame.get("type") == "messages" and not frame.get("reset"):
            frames += 1
            shown += len(frame["messages"])
            more += frame["more"]
    client.close()
    result.send({"frames": frames, "shown": shown, "more": more})


def load(proc: harness.Sockdash, rate: int, seconds: float, follow: bool = True, nice: int = 0) -> dict[str, float]:
    url = f"{proc.base_url}/api/status"
    stop = multiprocessing.Event()
    followed, follower_end = multiprocessing.Pipe(duplex=False)
    follower = multiprocessing.Process(target=follow_feed, args=(proc.ports["http"], stop, follower_end))
    if follow:
        follower.start()
    before_received = proc.status()["services"]["syslog"]["messages"]["received"]
    drops_before, cpu_before = udp_drops(), cpu_seconds(proc.proc.pid)
    ours, theirs = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.Process(target=sender, args=(proc.ports["syslog"], rate, seconds, theirs))
    child.start()
    if nice:  # this thread times /api/status: as sockdash, ahead of other work (the sender stays at 0)
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.05)
    child.join(seconds + 30)
    sent = ours.recv()
    # drain: wait until the count stops moving (bounded)
    last, settled = -1, time.monotonic() + 10
    while time.monotonic() < settled:
        received = proc.status()["services"]["syslog"]["messages"]["received"] - before_received
        if received == last:
            break
        last = received
        time.sleep(0.3)
    cpu = cpu_seconds(proc.proc.pid) - cpu_before
    stop.set()
    seen = {"frames": 0, "shown": 0, "more": 0}
    if follow:
        seen = followed.recv() if followed.poll(5) else seen
        follower.join(5)
    return {"rate_sent": sent["sent"] / sent["seconds"], "sent": sent["sent"], "received": last,
            "kernel_drops": udp_drops() - drops_before, "status_n": len(latencies),
            "status_p50_ms": statistics.median(latencies), "status_p99_ms": percentile(latencies, 0.99),
            "status_max_ms": max(latencies), "cpu_s": cpu, "ws_frames": seen["frames"],
            "ws_shown": seen["shown"], "ws_more": seen["more"]}


def query_full_ring(proc: harness.Sockdash) -> tuple[float, float]:
    times = []
    for _ in range(2):
        started = time.perf_counter()
        with urllib.request.urlopen(f"{proc.base_url}/api/syslog?severity=err&limit=10000", timeout=60) as r:
            r.read()
        times.append((time.perf_counter() - started) * 1000)
    return times[0], times[1]


def per_datagram_costs(count: int = 100_000) -> dict[str, float]:
    from sockets_core.bus import Bus
    from sockets_core.packetlog import PacketLog
    from sockets_core.syslog.parse import parse
    from sockets_core.syslog.store import SyslogStore
    from sockets_core.traffic import ServiceTap

    bus = Bus()
    tap = ServiceTap("syslog", "udp", PacketLog(bus))
    store = SyslogStore(10_000, bus)
    data = [line(i) for i in range(1000)]
    local, peer = (HOST, 514), (HOST, 40000)
    results = {}
    for name, work in (("packet log record", lambda d: tap.received(local, peer, d)),
                       ("ring add", lambda d: store.add(d, HOST)),
                       ("parse", lambda d: parse(d, HOST))):
        started = time.perf_counter()
        for i in range(count):
            work(data[i % 1000])
        results[name] = (time.perf_counter() - started) / count * 1e6
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-follower", action="store_true", help="no WebSocket client on /ws/syslog")
    parser.add_argument("--nice", type=int, default=0, help="sockdash's nice value (negative: root only)")
    parser.add_argument("--tree", type=Path, default=None, help="run sockdash from this checkout (run from /tmp)")
    args = parser.parse_args()
    env = {"PYTHONPATH": str(args.tree.resolve())} if args.tree else None
    with tempfile.TemporaryDirectory(prefix="bench-syslog-") as tmp:
        proc = harness.start(Path(tmp), "--log-level", "WARNING", env=env)
        try:
            if args.nice:
                os.setpriority(os.PRIO_PROCESS, proc.proc.pid, args.nice)
            result = load(proc, args.rate, args.seconds, follow=not args.no_follower, nice=args.nice)
            first, second = query_full_ring(proc)
        finally:
            proc.stop()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end (other work competes)")
    print(f"load: {result['sent']} sent in {args.seconds:g} s ({result['rate_sent']:.0f}/s), "
          f"{result['received']} received ({result['received'] / max(result['sent'], 1):.1%}), "
          f"kernel receive-buffer drops {result['kernel_drops']}")
    print(f"  /api/status during the load: p50 {result['status_p50_ms']:.1f} ms, "
          f"p99 {result['status_p99_ms']:.1f} ms, max {result['status_max_ms']:.1f} ms "
          f"({result['status_n']} requests)")
    per_message = result["cpu_s"] / max(result["received"], 1) * 1e6
    print(f"  sockdash CPU {result['cpu_s']:.1f} s over the run ({per_message:.1f} us per message received); "
          f"/ws/syslog: {result['ws_frames']} frames, {result['ws_shown']} messages shown, "
          f"{result['ws_more']} counted as more")
    print(f"full ring, /api/syslog?severity=err&limit=10000: first {first:.0f} ms (parses every entry), "
          f"second {second:.0f} ms")
    costs = per_datagram_costs()
    print("per datagram, in-process: " + ", ".join(f"{k} {v:.2f} us" for k, v in costs.items()))


if __name__ == "__main__":
    main()
