"""Chat fan-out benchmark: sockdash vs the course's thread-per-client group chat (seed 001, 群聊).

N native TCP clients and M WebSocket (browser) clients sit in one room; one TCP sender
posts messages at a fixed rate; every receiver records when each message arrived.
Reported: delivery latency p50/p99 (send to arrival, one monotonic clock) and messages
lost. The peer has no WebSocket side, so it gets N+M TCP clients: the same fan-out.

    .venv/bin/python bench/chat_fanout.py --n 500 --m 50 --rate 200 --seconds 10

Traffic stays on 127.0.0.1; every loop is bounded by --seconds plus a drain timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
MARK = b"BENCH|"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests import wsclient  # noqa: E402
from tests.wsclient import WsClient  # noqa: E402

SEED = ROOT.parent / "shared" / "seeds" / "001_becb604940806c94.txt"
DRAIN_TIMEOUT = 10.0


@dataclass
class Receiver:
    sock: socket.socket
    ws: WsClient | None  # a web chat browser: its frames are decoded by wsclient
    buffer: bytearray = field(default_factory=bytearray)
    seen: dict[int, int] = field(default_factory=dict)  # seq -> arrival (ns)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# -- the web chat's browsers: tests/wsclient.py (wsproto) does the WebSocket framing -----------
def ws_connect(port: int, nick: str) -> WsClient:
    """A browser of the web chat, past its hello."""
    ws = wsclient.connect(HOST, port, "/ws/chat", timeout=10)
    if not ws.accepted:
        ws.close()
        raise RuntimeError(f"/ws/chat refused the upgrade: {ws.status} {ws.rejection[:200]!r}")
    ws.send_text(json.dumps({"type": "hello", "nick": nick, "rooms": ["lobby"], "client": nick}))
    return ws


# -- the load ------------------------------------------------------------------------------
SEQ = re.compile(rb"BENCH\|(\d+)\|")


def run_load(tcp_port: int, ws_port: int | None, n: int, m: int, rate: float, seconds: float) -> dict[str, float]:
    selector = selectors.DefaultSelector()
    receivers: list[Receiver] = []
    for _ in range(n):
        s = socket.create_connection((HOST, tcp_port), timeout=10)
        receivers.append(Receiver(s, None))
    for i in range(m):
        if ws_port:
            ws = ws_connect(ws_port, f"web{i}")
            receivers.append(Receiver(ws.sock, ws))
        else:
            receivers.append(Receiver(socket.create_connection((HOST, tcp_port), timeout=10), None))
    for r in receivers:
        r.sock.setblocking(False)
        selector.register(r.sock, selectors.EVENT_READ, r)
    sender = socket.create_connection((HOST, tcp_port), timeout=10)
    time.sleep(1.0)  # let greetings and join notices settle
    sent: dict[int, int] = {}
    total = int(rate * seconds)
    stop_reading = threading.Event()

    def send_loop() -> None:
        start = time.monotonic()
        for seq in range(total):
            target = start + seq / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent[seq] = time.monotonic_ns()
            sender.sendall(MARK + str(seq).encode() + b"|x\n")

    def drain() -> None:
        # the sender reads what the server sends back to it, so it never blocks
        sender.setblocking(False)
        while not stop_reading.is_set():
            try:
                if not sender.recv(1 << 16):
                    return
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                return

    threads = [threading.Thread(target=send_loop), threading.Thread(target=drain, daemon=True)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds + DRAIN_TIMEOUT
    expected = total * len(receivers)
    got = 0
    while time.monotonic() < deadline and (threads[0].is_alive() or got < expected):
        for key, _ in selector.select(timeout=0.1):
            r: Receiver = key.data
            try:
                data = r.sock.recv(1 << 18)
            except (BlockingIOError, ConnectionError):
                continue
            if not data:
                selector.unregister(r.sock)
                continue
            now = time.monotonic_ns()
            if r.ws is not None:
                chunks = [text.encode() for text in r.ws.feed(data)]
            else:
                r.buffer += data
                chunks = []
                cut = r.buffer.rfind(b"\n")
                if cut >= 0:
                    chunks, r.buffer[:] = [bytes(r.buffer[:cut])], r.buffer[cut + 1:]
            for chunk in chunks:
                for match in SEQ.finditer(chunk):
                    seq = int(match.group(1))
                    if seq not in r.seen:
                        r.seen[seq] = now
                        got += 1
    threads[0].join()
    stop_reading.set()
    latencies = [(arrival - sent[seq]) / 1e6 for r in receivers for seq, arrival in r.seen.items() if seq in sent]
    for r in receivers:
        r.sock.close()
    sender.close()
    latencies.sort()
    return {
        "receivers": len(receivers), "messages": total, "expected": expected, "delivered": got,
        "lost": expected - got,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "max_ms": latencies[-1] if latencies else float("nan"),
    }


# -- the two servers -----------------------------------------------------------------------
def start_sockdash(tmp: Path, tree: Path = ROOT) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """sockdash from ``tree`` (this checkout, or an old worktree to compare) on free ports;
    returns the process and the ports by service."""
    # PYTHONPATH and cwd make `-m webapp` import the tree under test, not the installed one
    proc = subprocess.Popen([sys.executable, "-m", "webapp", "--host", HOST, "--root", str(tmp / "root"),
                             "--data", str(tmp / "data"), "--admin-token", "bench-token-123",
                             "--http-port", "0", "--tcp-chat-port", "0", "--udp-chat-port", "0",
                             "--file-port", "0", "--tftp-port", "0", "--log-level", "WARNING"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tree,
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
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--m", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--only", choices=["sockdash", "seed"])
    parser.add_argument("--attach", metavar="TCP_PORT,HTTP_PORT",
                        help="load a sockdash already running (e.g. under a profiler) instead of starting one")
    args = parser.parse_args()
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.attach:
            tcp, http = (int(p) for p in args.attach.split(","))
            rows.append(("sockdash (attached)", run_load(tcp, http, args.n, args.m, args.rate, args.seconds)))
        elif args.only in (None, "sockdash"):
            proc, ports = start_sockdash(tmp)
            tcp, http = ports["tcp_chat"], ports["http"]
            try:
                rows.append(("sockdash", run_load(tcp, http, args.n, args.m, args.rate, args.seconds)))
            finally:
                proc.terminate()
                proc.wait(10)
        if args.only in (None, "seed") and not args.attach:
            seed, port = start_seed(tmp)
            try:
                rows.append(("seed 001 group chat", run_load(port, None, args.n, args.m, args.rate, args.seconds)))
            finally:
                seed.kill()
                seed.wait(10)
    print(f"\nN={args.n} TCP + M={args.m} WebSocket receivers, {args.rate:g} msg/s for {args.seconds:g} s")
    print("| server | receivers | messages | delivered | lost | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['receivers']} | {r['messages']} | {r['delivered']} | {r['lost']} | "
              f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} |")


if __name__ == "__main__":
    main()
