"""The load the chat benchmarks put on a server, and where each missing delivery went.

Receivers (native TCP clients, web chat browsers) sit in #lobby; one TCP sender posts
``BENCH|seq|x`` lines at a fixed rate; every receiver notes when each message arrived
(send and arrival on one monotonic clock). Used by bench/chat_fanout.py (one server)
and bench/chat_cluster.py (receivers split over several instances).

A delivery that did not arrive is put in one of these stages:

- closed: the server closed the receiver's connection before the end (a slow-reader cut);
- gap: a message missing although a later one arrived (dropped by a queue bound; the
  server's "you missed N" notices to that receiver are counted beside: ``told``);
- unarrived: after the last message the receiver got (still in flight at the deadline:
  late, not dropped).

The bench itself may be what is slow: its one receiving thread reads every socket. What
it had not read yet at the deadline (``unread_bytes``, the kernel's receive queues) and
the share of a core its loop used (``bench_cpu``) say whether it kept up.
"""

from __future__ import annotations

import fcntl
import json
import re
import selectors
import socket
import statistics
import struct
import sys
import termios
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests import wsclient  # noqa: E402
from tests.wsclient import WsClient  # noqa: E402

HOST = "127.0.0.1"
MARK = b"BENCH|"
SEQ = re.compile(rb"BENCH\|(\d+)\|")
SYNC = b"BENCH-SYNC"
SYNC_TIMEOUT = 120.0
TCP_MISSED = re.compile(rb"\* you missed (\d+) line")  # the TCP chat's notice to a receiver that fell behind
DRAIN_TIMEOUT = 10.0


@dataclass
class Receiver:
    sock: socket.socket
    ws: WsClient | None  # a web chat browser: its frames are decoded by wsclient
    buffer: bytearray = field(default_factory=bytearray)
    seen: dict[int, int] = field(default_factory=dict)  # seq -> arrival (ns)
    closed: bool = False  # the server closed it before the end
    synced: bool = False  # it got the SYNC line: the setup's backlog (2,000 join notices...) is behind it
    told: int = 0  # deliveries the server said this receiver missed


def ws_connect(port: int, nick: str) -> WsClient:
    """A browser of the web chat, past its hello."""
    ws = wsclient.connect(HOST, port, "/ws/chat", timeout=60)  # the joins before it may take a while
    if not ws.accepted:
        ws.close()
        raise RuntimeError(f"/ws/chat refused the upgrade: {ws.status} {ws.rejection[:200]!r}")
    ws.send_text(json.dumps({"type": "hello", "nick": nick, "rooms": ["lobby"], "client": nick}))
    return ws


def connect_receivers(tcp_port: int, ws_port: int | None, n: int, m: int, prefix: str = "web") -> list[Receiver]:
    """``n`` TCP receivers and ``m`` browsers (TCP ones again where there is no web side)."""
    receivers = [Receiver(socket.create_connection((HOST, tcp_port), timeout=10), None) for _ in range(n)]
    for i in range(m):
        if ws_port:
            ws = ws_connect(ws_port, f"{prefix}{i}")
            receivers.append(Receiver(ws.sock, ws))
        else:
            receivers.append(Receiver(socket.create_connection((HOST, tcp_port), timeout=10), None))
    return receivers


def _read(r: Receiver, data: bytes, now: int) -> int:
    """Note the messages in ``data``; returns how many were new."""
    if r.ws is not None:
        chunks = []
        for text in r.ws.feed(data):
            if text.startswith('{"type":"lost"'):
                r.told += int(json.loads(text)["count"])
            else:
                chunks.append(text.encode())
    else:
        r.buffer += data
        chunks = []
        cut = r.buffer.rfind(b"\n")
        if cut >= 0:
            chunks, r.buffer[:] = [bytes(r.buffer[:cut])], r.buffer[cut + 1:]
        for chunk in chunks:
            r.told += sum(int(m.group(1)) for m in TCP_MISSED.finditer(chunk))
    new = 0
    for chunk in chunks:
        if not r.synced and SYNC in chunk:
            r.synced = True
        for match in SEQ.finditer(chunk):
            seq = int(match.group(1))
            if seq not in r.seen:
                r.seen[seq] = now
                new += 1
    return new


def unread_bytes(sock: socket.socket) -> int:
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def _pump(selector: selectors.BaseSelector, timeout: float) -> int:
    """Read what is ready; returns how many new messages arrived."""
    got = 0
    for key, _ in selector.select(timeout=timeout):
        r: Receiver = key.data
        try:
            data = r.sock.recv(1 << 18)
        except BlockingIOError:
            continue
        except ConnectionError:
            data = b""
        if not data:
            selector.unregister(r.sock)
            r.closed = True
            continue
        got += _read(r, data, time.monotonic_ns())
    return got


def sync(selector: selectors.BaseSelector, receivers: list[Receiver], sender: socket.socket) -> float:
    """Send SYNC and read until every receiver has it: the load starts once the server has
    worked off the setup (every join is a notice to every member: 2,000 receivers are 2
    million of them). Returns how long that took."""
    began = time.monotonic()
    sender.sendall(SYNC + b"\n")
    while time.monotonic() - began < SYNC_TIMEOUT and not all(r.synced or r.closed for r in receivers):
        _pump(selector, 0.1)
    missing = sum(not (r.synced or r.closed) for r in receivers)
    if missing:
        raise RuntimeError(f"{missing} receivers did not get the SYNC line within {SYNC_TIMEOUT:.0f} s")
    return time.monotonic() - began


def run_load(receivers: list[Receiver], sender_port: int, rate: float, seconds: float) -> dict[str, Any]:
    selector = selectors.DefaultSelector()
    for r in receivers:
        r.sock.setblocking(False)
        selector.register(r.sock, selectors.EVENT_READ, r)
    sender = socket.create_connection((HOST, sender_port), timeout=10)
    sent: dict[int, int] = {}
    total = int(rate * seconds)
    stop_reading = threading.Event()

    def send_loop() -> None:
        start = time.monotonic()
        for seq in range(total):
            delay = start + seq / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent[seq] = time.monotonic_ns()
            sender.sendall(MARK + str(seq).encode() + b"|x\n")

    def drain() -> None:
        # the sender reads what the server sends back to it (the joins too), so it never
        # falls behind; a blocking recv with a timeout, as the socket is shared with sendall
        while not stop_reading.is_set():
            try:
                if not sender.recv(1 << 16):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    sender.settimeout(1.0)
    threads = [threading.Thread(target=send_loop), threading.Thread(target=drain, daemon=True)]
    threads[1].start()
    setup_s = sync(selector, receivers, sender)
    print(f"load starts (setup took {setup_s:.1f} s)", file=sys.stderr, flush=True)  # a profiler may attach now
    threads[0].start()
    began, cpu_began = time.monotonic(), time.thread_time()
    deadline = began + seconds + DRAIN_TIMEOUT
    expected = total * len(receivers)
    got = 0
    while time.monotonic() < deadline and (threads[0].is_alive() or got < expected):
        got += _pump(selector, 0.1)
    bench_cpu = (time.thread_time() - cpu_began) / max(time.monotonic() - began, 1e-9)
    threads[0].join()
    stop_reading.set()
    unread = sum(unread_bytes(r.sock) for r in receivers if not r.closed)
    result = account(receivers, sent, total)
    for r in receivers:
        r.sock.close()
    sender.close()
    return {**result, "delivered": got, "unread_bytes": unread, "bench_cpu": bench_cpu, "setup_s": setup_s}


def account(receivers: list[Receiver], sent: dict[int, int], total: int) -> dict[str, Any]:
    """Latencies, and every missing delivery in its stage (see the module's doc)."""
    closed = gap = unarrived = told = 0
    gap_seqs: Counter[int] = Counter()  # which messages the gaps were (one missing everywhere is not a queue)
    gap_kinds: Counter[str] = Counter()
    closed_kinds: Counter[str] = Counter()
    for r in receivers:
        missing = total - len(r.seen)
        told += r.told
        if r.closed:
            closed += missing
            closed_kinds["ws" if r.ws is not None else "tcp"] += 1
            continue
        last = max(r.seen, default=-1)
        later = total - 1 - last  # every seq after the last one seen is missing
        unarrived += later
        gap += missing - later
        if missing - later:
            gap_seqs.update(seq for seq in range(last) if seq not in r.seen)
            gap_kinds["ws" if r.ws is not None else "tcp"] += missing - later
    latencies = sorted((arrival - sent[seq]) / 1e6 for r in receivers for seq, arrival in r.seen.items()
                       if seq in sent)
    by_kind = {kind: sorted((arrival - sent[seq]) / 1e6 for r in receivers if (r.ws is not None) == (kind == "ws")
                            for seq, arrival in r.seen.items() if seq in sent) for kind in ("tcp", "ws")}
    expected = total * len(receivers)
    return {
        "receivers": len(receivers), "messages": total, "expected": expected,
        "lost": expected - sum(len(r.seen) for r in receivers),
        "closed": closed, "receivers_closed": sum(r.closed for r in receivers),
        "gap": gap, "unarrived": unarrived, "told": told, "gap_kinds": dict(gap_kinds),
        "closed_kinds": dict(closed_kinds),
        "gap_seqs": dict(gap_seqs.most_common(5)),
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "p99_by_kind": {kind: round(values[int(0.99 * (len(values) - 1))], 1) for kind, values in by_kind.items()
                        if values},
    }


TABLE_HEAD = ("| server | receivers | messages | delivered | lost | of which: closed / gap / unarrived | told "
              "| p50 ms | p99 ms | max ms | bench unread | bench CPU |\n" + "|---" * 12 + "|")


def table_row(name: str, r: dict[str, Any]) -> str:
    return (f"| {name} | {r['receivers']} | {r['messages']} | {r['delivered']} | {r['lost']} | "
            f"{r['closed']} ({r['receivers_closed']} rcv) / {r['gap']} / {r['unarrived']} | {r['told']} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['unread_bytes']} B | "
            f"{r['bench_cpu']:.0%} |")
