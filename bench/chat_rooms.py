"""Chat rooms benchmark: what a client joining rooms in a loop costs everyone else.

1. J TCP clients (default 1) send N ``/join roomI`` lines in all (default 20,000) and
   read the replies. Reported: how many rooms are listed afterwards and what the
   clients were told. With J >= 50 the rooms reach the total cap (1,000).
2. Then, with B browsers (WebSocket clients) in #lobby, C TCP clients connect to the
   lobby and leave again, one after another — ordinary join/leave traffic. Reported:
   the server's CPU time and the bytes and ``rooms`` frames each browser received.
   Before the limits, phase 1 left N rooms for ever and every join/leave in phase 2
   sent every browser the whole list of them.

    .venv/bin/python bench/chat_rooms.py [--joins 20000] [--browsers 5] [--churn 200]
    .venv/bin/python bench/chat_rooms.py --tree /tmp/old   # an older checkout, same load

Traffic stays on 127.0.0.1; every loop is bounded by its count plus a timeout.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chat_fanout import ws_connect
from udp_fanout import HOST, ROOT, start_sockdash

sys.path.insert(0, str(ROOT))
from tests.wsclient import WsClient

READ_TIMEOUT = 60.0


@dataclass
class Browser:
    ws: WsClient
    bytes: int = 0
    rooms_frames: int = 0
    rooms_bytes: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        self.ws.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                chunk = self.ws.sock.recv(1 << 18)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            self.bytes += len(chunk)
            for frame in self.ws.feed(chunk):
                if frame.startswith(('{"type":"rooms"', '{"type": "rooms"')):
                    self.rooms_frames += 1
                    self.rooms_bytes += len(frame.encode())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 1/100 s


def read_until(sock: socket.socket, needle: bytes, timeout: float = READ_TIMEOUT) -> bytes:
    data = bytearray()
    deadline = time.monotonic() + timeout
    sock.settimeout(1.0)
    while needle not in data and time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 16)
        except TimeoutError:
            continue
        if not chunk:
            break
        data += chunk
    return bytes(data)


def join_loop(tcp_port: int, joins: int, first: int = 0) -> tuple[float, str]:
    """Phase 1, one client: returns the seconds it took and the first refusal (if any)."""
    client = socket.create_connection((HOST, tcp_port), timeout=10)
    read_until(client, b"/help")
    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(read_until(client, b"* rooms: ")))
    started = time.monotonic()
    reader.start()
    client.sendall(b"".join(b"/join room%d\n" % i for i in range(first, first + joins)) + b"/rooms\n")
    reader.join(READ_TIMEOUT + 5)
    took = time.monotonic() - started
    client.close()
    refusals = [line for line in bytes(received).decode(errors="replace").splitlines() if line.startswith("* error")]
    return took, refusals[0] if refusals else "(none)"


def churn(tcp_port: int, count: int) -> None:
    """Phase 2: clients come into the lobby and go, one after another."""
    for _ in range(count):
        s = socket.create_connection((HOST, tcp_port), timeout=10)
        read_until(s, b"/help")
        s.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=20_000)
    parser.add_argument("--joiners", type=int, default=1, help="TCP clients sharing the joins")
    parser.add_argument("--browsers", type=int, default=5)
    parser.add_argument("--churn", type=int, default=200)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the sockdash checkout to run")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        proc, ports = start_sockdash(args.tree.resolve(), Path(tmpdir))
        tcp, http = ports["tcp_chat"], ports["http"]
        try:
            share = args.joins // args.joiners
            results = [join_loop(tcp, share, i * share) for i in range(args.joiners)]
            join_seconds = sum(r[0] for r in results)
            refusal = next((r[1] for r in results if r[1] != "(none)"), "(none)")
            with urllib.request.urlopen(f"http://{HOST}:{http}/api/chat/rooms", timeout=30) as response:
                rooms = len(json.load(response)["rooms"])
            browsers = [Browser(ws_connect(http, f"web{i}")) for i in range(args.browsers)]
            threads = [threading.Thread(target=b.read) for b in browsers]
            for t in threads:
                t.start()
            time.sleep(2.0)  # the browsers' welcome and first snapshots, not counted
            for b in browsers:
                b.bytes = b.rooms_frames = b.rooms_bytes = 0
            cpu_before, wall_before = cpu_seconds(proc.pid), time.monotonic()
            churn(tcp, args.churn)
            time.sleep(1.5)  # the last snapshots
            cpu, wall = cpu_seconds(proc.pid) - cpu_before, time.monotonic() - wall_before
            for b in browsers:
                b.stop.set()
            for t in threads:
                t.join(5)
            for b in browsers:
                b.ws.close()
        finally:
            proc.terminate()
            proc.wait(15)
    label = args.label or str(args.tree)
    per_browser = sum(b.bytes for b in browsers) / len(browsers) / 1024
    frames = sum(b.rooms_frames for b in browsers) / len(browsers)
    largest = max((b.rooms_bytes / b.rooms_frames for b in browsers if b.rooms_frames), default=0) / 1024
    print(f"\n{args.joins} /join from {args.joiners} TCP client(s), then {args.churn} TCP clients through #lobby "
          f"with {args.browsers} browsers there")
    print("| server | /join loop s | rooms listed after | first refusal | churn: server CPU s | wall s | "
          "KiB to each browser | rooms frames each | KiB per rooms frame |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {label} | {join_seconds:.1f} | {rooms} | {refusal[:60]} | {cpu:.2f} | {wall:.1f} | "
          f"{per_browser:.0f} | {frames:.0f} | {largest:.1f} |")


if __name__ == "__main__":
    main()
