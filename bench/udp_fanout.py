"""UDP chat fan-out benchmark: does relaying to many UDP peers stall the process?

P distinct UDP peers (one socket, one port each) sit in #lobby; one of them sends
``BENCH|seq|t`` datagrams at a fixed rate, so each message is relayed to P-1 peers.
Meanwhile a prober fetches ``GET /api/status`` in a loop and times each answer: the
dashboard must stay responsive whatever the chat does. Reported: /api/status latency
(median, p99, max) during the load, and the messages delivered and lost — as counted by
the server (datagrams it sent) and by the peers (datagrams that arrived) — with the
delivery latency (send to arrival, one monotonic clock).

    .venv/bin/python bench/udp_fanout.py --peers 1500 --rate 200 --seconds 10
    .venv/bin/python bench/udp_fanout.py --tree /tmp/old   # an older checkout, same load

The peers live in a child process (their reading competes with the server for the CPU,
as real peers on the same machine would); traffic stays on 127.0.0.1; every loop is
bounded by --seconds plus a drain timeout.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from chat_fanout import start_sockdash  # bench/ is on the path: these run as scripts

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
SEQ = re.compile(rb"BENCH\|(\d+)\|(\d+)")
SETTLE_TIMEOUT = 120.0
REGISTER_TIMEOUT = 180.0
DRAIN_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0
PROBE_INTERVAL = 0.05


# -- the peers (child process) -------------------------------------------------------------
def peers_main(server: tuple[str, int], count: int, control: Connection) -> None:
    """Open ``count`` peers, register each with the server, then read until told to stop;
    send back how many distinct messages each peer got and a sample of delivery latencies."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count + 256)), hard))
    selector = selectors.DefaultSelector()
    socks = []
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((HOST, 0))
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ, i)
        socks.append(s)
    seen: list[set[int]] = [set() for _ in range(count)]
    registered = [False] * count
    latencies: list[float] = []
    other = 0

    def read_ready(timeout: float) -> None:
        nonlocal other
        for key, _ in selector.select(timeout):
            sock, index = key.fileobj, key.data
            while True:
                try:
                    data = sock.recv(65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    break
                match = SEQ.search(data)
                if match is None:
                    other += 1
                    registered[index] = registered[index] or data.startswith(b"* rooms:")
                    continue
                seq = int(match.group(1))
                if seq not in seen[index]:
                    seen[index].add(seq)
                    if index % 50 == 0:  # a sample is enough for the latency
                        latencies.append((time.monotonic_ns() - int(match.group(2))) / 1e6)

    # "/rooms" registers a peer without a message to the room; the server's answer says it
    # was heard (a busy server's socket buffer drops some: those ask again)
    deadline = time.monotonic() + REGISTER_TIMEOUT
    while not all(registered) and time.monotonic() < deadline:
        missing = [i for i, done in enumerate(registered) if not done]
        for n, i in enumerate(missing):
            socks[i].sendto(b"/rooms", server)
            if n % 20 == 19:
                read_ready(0.02)
        read_ready(0.5)
    control.send(sum(registered))
    while not control.poll():
        read_ready(0.05)
    control.recv()
    control.send({"delivered": [len(s) for s in seen], "latencies": latencies, "other": other})
    for s in socks:
        s.close()


# -- the load --------------------------------------------------------------------------------
@dataclass
class Probe:
    started: float
    seconds: float | None  # None: the request failed


@dataclass
class Load:
    status_url: str
    probes: list[Probe] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def probe_loop(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.status_url, timeout=10) as response:
                    response.read()
                self.probes.append(Probe(started, time.monotonic() - started))
            except OSError:
                self.probes.append(Probe(started, None))
            self.stop.wait(PROBE_INTERVAL)


def status(url: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)  # type: ignore[no-any-return]


def udp_counters(url: str) -> dict[str, int]:
    return status(url)["services"]["udp_chat"]  # type: ignore[no-any-return]


def wait_quiet(url: str, timeout: float) -> None:
    """Wait until the server stops sending (join notices of the registration done)."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        sent = udp_counters(url)["packets_out"]
        if sent == last:
            return
        last = sent
        time.sleep(1.0)
    print(f"warning: the server was still sending after {timeout:g} s", file=sys.stderr)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * (len(ordered) - 1) + 0.5))]


def run_load(udp_port: int, http_port: int, peers: int, rate: float, seconds: float) -> dict[str, float]:
    url = f"http://{HOST}:{http_port}/api/status"
    server = (HOST, udp_port)
    parent, child = multiprocessing.Pipe()
    reader = multiprocessing.get_context("fork").Process(target=peers_main, args=(server, peers - 1, child))
    reader.start()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind((HOST, 0))
    try:
        if not parent.poll(REGISTER_TIMEOUT + 30):
            raise RuntimeError("the peers did not register")
        if parent.recv() != peers - 1:
            print("warning: not every peer could register", file=sys.stderr)
        sender.settimeout(1.0)
        for _ in range(30):  # a busy server may drop it: ask until answered
            sender.sendto(b"/rooms", server)
            try:
                if sender.recv(65536).startswith(b"* rooms:"):
                    break
            except TimeoutError:
                continue
        wait_quiet(url, SETTLE_TIMEOUT)
        clients = udp_counters(url)["clients"]
        before = udp_counters(url)
        load = Load(url)
        prober = threading.Thread(target=load.probe_loop)
        total = int(rate * seconds)
        load_start = time.monotonic()
        prober.start()
        for seq in range(total):
            delay = load_start + seq / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sender.sendto(b"BENCH|%d|%d" % (seq, time.monotonic_ns()), server)
        load_end = time.monotonic()
        load.stop.set()
        prober.join()
        wait_quiet(url, DRAIN_TIMEOUT)
        after = udp_counters(url)
        parent.send("stop")
        if not parent.poll(60):
            raise RuntimeError("the peers did not report")
        report = parent.recv()
    finally:
        sender.close()
        reader.join(10)
        if reader.is_alive():
            reader.kill()
    during = [p.seconds * 1000 for p in load.probes if p.seconds is not None and p.started <= load_end]
    failed = sum(1 for p in load.probes if p.seconds is None)
    expected = total * (peers - 1)
    received = sum(report["delivered"])
    return {
        "peers": clients, "messages": total, "expected": expected,
        "server_sent": after["packets_out"] - before["packets_out"],
        "server_received": after["packets_in"] - before["packets_in"],
        "received": received, "lost": expected - received,
        "status_n": len(during), "status_failed": failed,
        "status_p50": statistics.median(during) if during else float("nan"),
        "status_p99": percentile(during, 0.99), "status_max": max(during, default=float("nan")),
        "deliver_p50": percentile(report["latencies"], 0.5), "deliver_p99": percentile(report["latencies"], 0.99),
        "load_seconds": load_end - load_start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=1500, help="UDP peers, the sender included")
    parser.add_argument("--rate", type=float, default=200, help="messages per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the sockdash checkout to run")
    parser.add_argument("--label", default="")
    parser.add_argument("--attach", metavar="UDP_PORT,HTTP_PORT",
                        help="load a sockdash already running (e.g. under a profiler) instead of starting one")
    args = parser.parse_args()
    label = args.label or ("attached" if args.attach else str(args.tree))
    with tempfile.TemporaryDirectory() as tmpdir:
        if args.attach:
            udp, http = (int(p) for p in args.attach.split(","))
            result = run_load(udp, http, args.peers, args.rate, args.seconds)
        else:
            proc, ports = start_sockdash(Path(tmpdir), args.tree.resolve())
            udp, http = ports["udp_chat"], ports["http"]
            try:
                result = run_load(udp, http, args.peers, args.rate, args.seconds)
            finally:
                stopping = time.monotonic()
                proc.terminate()
                try:
                    proc.wait(STOP_TIMEOUT)
                    print(f"sockdash stopped in {time.monotonic() - stopping:.1f} s")
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
                    print(f"sockdash did not stop within {STOP_TIMEOUT:g} s of SIGTERM: killed")
    r = result
    print(f"\n{r['peers']} UDP peers, {args.rate:g} msg/s for {args.seconds:g} s (load took {r['load_seconds']:.1f} s)")
    print("| server | /api/status p50 ms | p99 ms | max ms | probes | failed | deliveries expected | "
          "sent by server | received | lost | delivery p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {label} | {r['status_p50']:.1f} | {r['status_p99']:.1f} | {r['status_max']:.1f} | {r['status_n']} | "
          f"{r['status_failed']} | {r['expected']} | {r['server_sent']} | {r['received']} | {r['lost']} | "
          f"{r['deliver_p50']:.1f} | {r['deliver_p99']:.1f} |")


if __name__ == "__main__":
    main()
