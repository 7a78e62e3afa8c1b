"""Chat over a cluster: two sockdash instances on one Redis (--bus), receivers split across
them, one sender on the first; the same load on one instance for comparison.

    .venv/bin/python bench/chat_cluster.py --n 1000 --m 100 --rate 200 --seconds 10

redis-server (Debian's) is started on a free loopback port with no persistence and
stopped at the end. Losses are put in stages as in bench/chat_fanout.py (chat_load.py);
what each instance counted as dropped (/api/status) is printed beside.
Target (issue 12): 0 lost, p99 under 100 ms.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chat_fanout import chat_delivery_status, free_port, start_sockdash
from chat_load import HOST, ROOT, TABLE_HEAD, connect_receivers, run_load, table_row


def start_redis(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install -y redis-server)")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
                             "--dir", str(tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not answer PING")


def run(tmp: Path, args: argparse.Namespace, instances: int, tree: Path) -> tuple[dict[str, Any], list[Any]]:
    """The load over ``instances`` sockdash processes (one: no bus)."""
    procs: list[subprocess.Popen[Any]] = []
    counted = []
    try:
        extra: tuple[str, ...] = ()
        if instances > 1:
            redis, port = start_redis(tmp)
            procs.append(redis)
            extra = ("--bus", f"redis://{HOST}:{port}/0")
        ports = []
        for i in range(instances):
            folder = tmp / f"instance-{instances}-{i}"
            folder.mkdir()
            proc, p = start_sockdash(folder, args.n + args.m + 1, tree,
                                     (*extra, "--instance-name", f"bench{i}") if extra else ())
            procs.append(proc)
            ports.append(p)
        receivers = []
        for i, p in enumerate(ports):  # an even share on each instance
            n = args.n // instances + (1 if i < args.n % instances else 0)
            m = args.m // instances + (1 if i < args.m % instances else 0)
            receivers += connect_receivers(p["tcp_chat"], p["http"], n, m, prefix=f"web{i}-")
        result = run_load(receivers, ports[0]["tcp_chat"], args.rate, args.seconds)
        counted = [chat_delivery_status(p["http"]) for p in ports]
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(10)
    return result, counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--m", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--tree", type=Path, default=ROOT, help="run sockdash from this checkout")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for instances in (2, 1):
            result, counted = run(Path(tmpdir), args, instances, args.tree)
            name = f"{instances} instances on one Redis" if instances > 1 else "1 instance, no bus"
            print(f"{name}: counted by sockdash {json.dumps(counted)}")
            rows.append((name, result))
    print(f"\nN={args.n} TCP + M={args.m} WebSocket receivers, {args.rate:g} msg/s for {args.seconds:g} s")
    print(TABLE_HEAD)
    for name, r in rows:
        print(table_row(name, r))
    for name, r in rows:
        print(f"{name}: p99 ms by receiver kind {r['p99_by_kind']}")


if __name__ == "__main__":
    main()
