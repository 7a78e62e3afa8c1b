"""Chat fan-out benchmark: sockdash vs the course's thread-per-client group chat (seed 001, 群聊).

N native TCP clients and M WebSocket (browser) clients sit in one room; one TCP sender
posts messages at a fixed rate; every receiver records when each message arrived.
Reported: delivery latency p50/p99 (send to arrival, one monotonic clock), messages lost
and the stage each was lost at (bench/chat_load.py), and sockdash's own drop counters
(/api/status). The peer has no WebSocket side, so it gets N+M TCP clients: the same
fan-out, and the control for the bench itself (its receivers are the same code).

    .venv/bin/python bench/chat_fanout.py --n 1800 --m 200 --rate 200 --seconds 10
    .venv/bin/python bench/chat_fanout.py ... --tree /tmp/old   # an older checkout beside this one

Traffic stays on 127.0.0.1; every loop is bounded by --seconds plus a drain timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chat_load import HOST, ROOT, TABLE_HEAD, connect_receivers, run_load, table_row

SEED = ROOT.parent / "shared" / "seeds" / "001_becb604940806c94.txt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def chat_delivery_status(http_port: int) -> dict[str, Any]:
    """What sockdash itself counted as dropped, by reason (/api/status)."""
    with urllib.request.urlopen(f"http://{HOST}:{http_port}/api/status", timeout=10) as response:
        status = json.load(response)
    return {name: entry.get("delivery") for name, entry in status.get("services", {}).items()
            if entry.get("delivery")}


# -- the two servers -----------------------------------------------------------------------
def start_sockdash(tmp: Path, clients: int, tree: Path = ROOT,
                   extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """sockdash from ``tree`` (this checkout, or an old worktree to compare) on free ports,
    its connection caps raised for ``clients`` from one address (the bench's), ``extra``
    flags after (``--bus ...``); returns the process and the ports by service."""
    caps = str(clients + 16)
    # PYTHONPATH and cwd make `-m webapp` import the tree under test, not the installed one
    proc = subprocess.Popen([sys.executable, "-m", "webapp", "--host", HOST, "--root", str(tmp / "root"),
                             "--data", str(tmp / "data"), "--admin-token", "bench-token-123",
                             "--http-port", "0", "--tcp-chat-port", "0", "--udp-chat-port", "0",
                             "--file-port", "0", "--tftp-port", "0", "--log-level", "WARNING",
                             "--tcp-chat-max-per-ip", caps, "--tcp-chat-max-connections", caps,
                             "--http-max-per-ip", caps, "--http-max-connections", caps, *extra],
                            stdout=subprocess.PIPE, stderr=(tmp / "sockdash.log").open("w"), text=True, cwd=tree,
                            env={**os.environ, "PYTHONPATH": str(tree)})
    ports: dict[str, int] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.match(r"^  (\w+)\s+\w+ \S+:(\d+)", line)
        if match:
            ports[match.group(1)] = int(match.group(2))
        if line.startswith("Admin:"):
            break
    proc.stdout.close()
    if "tcp_chat" not in ports:
        proc.kill()
        raise RuntimeError(f"sockdash did not start; see {tmp / 'sockdash.log'}")
    return proc, ports


def seed_group_chat_source(port: int) -> str:
    """The 群聊 server of seed 001, as printed, with only its address changed."""
    text = SEED.read_text(encoding="utf-8")
    start = text.index("sockets=[]")
    end = text.index("if __name__ == '__main__':", start)
    body = text[start:end] + "if __name__ == '__main__':\n    main()\n"
    body = body.replace("server_socket.bind(('', 8888))", f"server_socket.bind(('{HOST}', {port}))")
    return "from socket import *\nfrom threading import Thread\n\n" + body


def start_seed(tmp: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    script = tmp / "seed001_group_chat_server.py"
    script.write_text(seed_group_chat_source(port), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            text=True)
    # Wait until the port listens. Not by connecting: every connection joins the seed's
    # client list for good, and a closed one kills its broadcaster thread on the next send.
    for _ in range(200):
        if listening(port):
            break
        time.sleep(0.05)
    return proc, port


def listening(port: int) -> bool:
    with open("/proc/net/tcp") as table:
        return any(f":{port:04X} " in line and line.split()[3] == "0A" for line in table)


def load_sockdash(tmp: Path, tree: Path, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """One run against a sockdash started from ``tree``: the load's figures, what sockdash
    counted as dropped, and its WARNING lines (printed)."""
    run_dir = tmp / f"sockdash-{len(list(tmp.iterdir()))}"
    run_dir.mkdir()
    proc, ports = start_sockdash(run_dir, args.n + args.m + 1, tree)
    try:
        receivers = connect_receivers(ports["tcp_chat"], ports["http"], args.n, args.m)
        result = run_load(receivers, ports["tcp_chat"], args.rate, args.seconds)
        counted = chat_delivery_status(ports["http"])
    finally:
        proc.terminate()
        proc.wait(10)
    warnings = [line for line in (run_dir / "sockdash.log").read_text().splitlines() if "WARNING" in line]
    print(f"sockdash from {tree}: {len(warnings)} WARNING lines", *warnings[:12], sep="\n  ")
    print("  counted by sockdash:", json.dumps(counted))
    return result, counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--m", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--only", choices=["sockdash", "seed"])
    parser.add_argument("--tree", type=Path, action="append", default=[],
                        help="run sockdash from this checkout (e.g. an older commit's `git archive`) instead of "
                             "this one; repeatable: side by side in one sitting")
    parser.add_argument("--attach", metavar="TCP_PORT,HTTP_PORT",
                        help="load a sockdash already running (e.g. under a profiler) instead of starting one")
    args = parser.parse_args()
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.attach:
            tcp, http = (int(p) for p in args.attach.split(","))
            receivers = connect_receivers(tcp, http, args.n, args.m)
            rows.append(("sockdash (attached)", run_load(receivers, tcp, args.rate, args.seconds)))
            print("  counted by sockdash:", json.dumps(chat_delivery_status(http)))
        elif args.only in (None, "sockdash"):
            for tree in args.tree or [ROOT]:
                name = "sockdash" if tree == ROOT else f"sockdash {tree.name}"
                rows.append((name, load_sockdash(tmp, tree, args)[0]))
        if args.only in (None, "seed") and not args.attach:
            seed, port = start_seed(tmp)
            try:
                receivers = connect_receivers(port, None, args.n, args.m)
                rows.append(("seed 001 group chat", run_load(receivers, port, args.rate, args.seconds)))
            finally:
                seed.kill()
                seed.wait(10)
    print(f"\nN={args.n} TCP + M={args.m} WebSocket receivers, {args.rate:g} msg/s for {args.seconds:g} s")
    print(TABLE_HEAD)
    for name, r in rows:
        print(table_row(name, r))
    for name, r in rows:
        print(f"{name}: setup (the joins worked off) {r['setup_s']:.1f} s; closed receivers by kind "
              f"{r['closed_kinds']}; p99 ms by receiver kind {r['p99_by_kind']}")
        if r["gap"]:
            print(f"{name}: gaps by receiver kind {r['gap_kinds']}, most missed messages (seq: receivers) "
                  f"{r['gap_seqs']}")


if __name__ == "__main__":
    main()
