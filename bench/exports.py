"""Export benchmark: does downloading the packet log stall the rest of the process?

A log of about 40,000 events is made by real traffic: a TFTP download (curl, blksize 512:
one event per DATA and per ACK) and TCP chat lines between two netcat-like clients. Then,
ROUNDS times, PARALLEL clients download ``/api/packets.pcap`` at once while one more client
asks ``/api/status`` back to back; its latency (median, p99, max) is what a dashboard or
a chat sees meanwhile. The same with nothing exported gives the idle baseline; one round
each of ``/api/packets.jsonl`` and ``/api/packets?limit=10000`` (what the Packet log page
loads when it opens) follows.

    .venv/bin/python bench/exports.py [--rounds 3] [--parallel 8] [--checkout /tmp/old]

A second measure takes the machine's other load out of the figure: the same exports run
in one process through Flask's test client (no sockets, so nothing else can make them
wait) next to a greenlet that wakes every millisecond; the most CPU time the process
spent between two of its turns is the longest the hub was held, i.e. how long a chat
line or a status request would wait on an otherwise idle machine (CPU time, so that the
other programs of a busy machine do not count).

``--checkout`` runs the sockdash of another tree (``git worktree add /tmp/old COMMIT``),
so the code before and after a change is measured by the same client.
Traffic stays on 127.0.0.1; every loop is bounded by its count or its time.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import harness  # noqa: E402

HOST = "127.0.0.1"
TFTP_SIZE = 19 << 19  # 9.5 MiB: 19,456 DATA + 19,456 ACK events
CHAT_LINES = 1_500  # each its own segment: ~3,000 TCP events (recv, and the other's send)


def fill(proc: harness.Sockdash, tmp: Path) -> int:
    """Real traffic into the log; returns how many events it keeps."""
    (proc.root / "bench.bin").write_bytes(os.urandom(TFTP_SIZE))
    subprocess.run(["curl", "-s", "--tftp-blksize", "512", "-o", str(tmp / "bench.bin"),
                    f"tftp://{HOST}:{proc.ports['tftp']}/bench.bin"], check=True, timeout=600)
    talkers = [socket.create_connection((HOST, proc.ports["tcp_chat"]), timeout=10) for _ in range(2)]
    try:
        for s in talkers:
            s.recv(4096)  # the welcome
        for i in range(CHAT_LINES):
            talkers[i % 2].sendall(b"line %d of the export benchmark\n" % i)
            time.sleep(0.002)  # separate segments, as people type
        time.sleep(0.5)
    finally:
        for s in talkers:
            s.close()
    return int(proc.status()["packet_log"]["events"])


def timed_status(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
    return time.perf_counter() - started


def export_round(proc: harness.Sockdash, parallel: int, path: str) -> tuple[list[float], list[float], list[int]]:
    """PARALLEL downloads of ``path`` at once (curl processes, as browsers would be: a client
    of our own would share its GIL with the status probe and blur it); /api/status asked
    back to back meanwhile."""
    downloads = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
                                   proc.base_url + path], stdout=subprocess.PIPE, text=True)
                 for _ in range(parallel)]
    latencies = []
    deadline = time.monotonic() + 600
    while any(d.poll() is None for d in downloads) and time.monotonic() < deadline:
        latencies.append(timed_status(f"{proc.base_url}/api/status"))
        time.sleep(0.01)
    results = [d.communicate(timeout=600)[0].split() for d in downloads]
    if any(d.returncode for d in downloads):
        raise RuntimeError(f"a download failed: {[d.returncode for d in downloads]}")
    return latencies, [float(t) for _, t in results], [int(n) for n, _ in results]


HUB_HELD_SCRIPT = """
import gevent, os, sys, tempfile, time
from pathlib import Path
from sockets_core.bus import Bus
from sockets_core.files import FileStore
from sockets_core.packetlog import PacketLog
from sockets_core.services import Endpoint, Services
from sockets_core.settings import Settings
from webapp import create_app

root = Path(tempfile.mkdtemp())
bus = Bus()
services = Services(Settings(root=root, disabled=frozenset({"tftp"})), bus, PacketLog(bus, 50_000), FileStore(root))
services.http = Endpoint("127.0.0.1", 8000)
app = create_app(services, "bench-token-0123", [], {"TESTING": True})
log, client = services.packetlog, ("127.0.0.1", 50000)
for i in range(18_000):
    log.record("tftp", "udp", "data", "out", ("127.0.0.1", 40000), client, b"\\0\\3" + os.urandom(514))
    log.record("tftp", "udp", "data", "in", ("127.0.0.1", 40000), client, b"\\0\\4\\0\\1")
log.record("tcp_chat", "tcp", "open", "in", ("127.0.0.1", 8888), client)
for i in range(4_000):
    log.record("tcp_chat", "tcp", "data", "in", ("127.0.0.1", 8888), client, b"line %d of the bench\\n" % i)
for path in sys.argv[1:]:
    held, done = [0.0], [False]
    def ticker():
        last = time.process_time()
        while not done[0]:
            gevent.sleep(0.001)
            now = time.process_time()
            held[0] = max(held[0], now - last)
            last = now
    def export():
        response = app.test_client().get(path)
        size = len(response.get_data())
        response.close()
        return size
    watcher = gevent.spawn(ticker)
    started = time.perf_counter()
    sizes = [g.get() for g in [gevent.spawn(export) for _ in range(8)]]
    elapsed = time.perf_counter() - started
    done[0] = True
    watcher.join()
    print(f"{path}\\t{len(log)}\\t{held[0] * 1000:.1f}\\t{elapsed:.2f}\\t{sizes[0]}")
"""


def hub_held(paths: list[str]) -> list[list[str]]:
    """Run HUB_HELD_SCRIPT with the sockdash of the current folder."""
    result = subprocess.run([sys.executable, "-c", HUB_HELD_SCRIPT, *paths], capture_output=True, text=True,
                            timeout=900, env={**os.environ, "PYTHONPATH": str(Path.cwd())}, check=False)
    if result.returncode:
        raise RuntimeError(result.stderr)
    return [line.split("\t") for line in result.stdout.splitlines()]


def describe(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"{statistics.median(ordered) * 1000:.1f} | {p99 * 1000:.1f} | {ordered[-1] * 1000:.1f} "
            f"| {len(ordered)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--checkout", type=Path, help="run the sockdash of this tree instead")
    args = parser.parse_args()
    if args.checkout is not None:
        os.chdir(args.checkout)  # `python -m webapp` imports from the current folder first
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        proc = harness.start(tmp / "server", "--log-level", "WARNING", "--packet-log-size", "50000")
        try:
            events = fill(proc, tmp)
            idle = [timed_status(f"{proc.base_url}/api/status") for _ in range(100)]
            print(f"\n{Path.cwd()}: {events} events in the log; {args.parallel} parallel downloads")
            print("| condition | status median ms | p99 ms | max ms | answers | downloads s (slowest) | MiB each |")
            print("|---|---|---|---|---|---|---|")
            print(f"| idle | {describe(idle)} | — | — |")
            paths = [("/api/packets.pcap", f"pcap, round {n + 1}") for n in range(args.rounds)]
            paths += [("/api/packets.jsonl", "jsonl"), ("/api/packets?limit=10000", "packets?limit=10000")]
            for path, label in paths:
                latencies, durations, sizes = export_round(proc, args.parallel, path)
                if len(set(sizes)) != 1:
                    raise RuntimeError(f"downloads of different sizes: {sizes}")
                print(f"| {args.parallel} × {label} | {describe(latencies)} "
                      f"| {max(durations):.2f} | {sizes[0] / (1 << 20):.1f} |")
        finally:
            proc.stop()
    print("\nIn one process, no sockets: 8 exports at once, the longest the hub was held")
    print("| export | events | hub held, longest ms | 8 exports s | bytes each |")
    print("|---|---|---|---|---|")
    for path, events, held, elapsed, size in hub_held(["/api/packets.pcap", "/api/packets.jsonl",
                                                       "/api/packets?limit=10000"]):
        print(f"| {path} | {events} | {held} | {elapsed} | {size} |")


if __name__ == "__main__":
    main()
