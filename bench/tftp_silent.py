"""TFTP against greedy, silent peers: what one host costs the server, and whether others get in.

Phase 1: --peers clients (127.0.1.1, 127.0.1.2, ...) ask for a 64 MiB file with blksize 65464 windowsize 65535
timeout 20, acknowledge the OACK and then never answer again. Measured for --seconds:
the bytes the server sends them, and its peak RSS over the idle one.
Phase 2: 64 requests (all the slots) from 127.0.0.1 that are never acknowledged, then one from
127.0.0.2: is it served (OACK) or refused ("Server busy")?

    .venv/bin/python bench/tftp_silent.py                     # this checkout
    .venv/bin/python bench/tftp_silent.py --tree /tmp/old     # another checkout, e.g. the
                                                              # commit before the limits
Traffic stays on loopback; every loop is bounded by --seconds.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sockets_core.tftp.packets import RRQ, decode, encode_ack, encode_request  # noqa: E402
from tests import harness  # noqa: E402

HOST = "127.0.0.1"
GREEDY = {"blksize": "65464", "windowsize": "65535", "timeout": "20"}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def silent_peers(server: tuple[str, int], pid: int, peers: int, seconds: float) -> tuple[int, int, int]:
    """Bytes sent to the peers, idle RSS and peak RSS (KiB)."""
    idle = rss_kib(pid)
    selector = selectors.DefaultSelector()
    socks = []
    for i in range(peers):  # each from its own address: what --tftp-max-per-peer allows
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((f"127.0.1.{i + 1}", 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.sendto(encode_request(RRQ, "big.bin", "octet", GREEDY), server)
        sock.settimeout(5)
        oack, source = sock.recvfrom(65536)
        assert decode(oack).__class__.__name__ == "OptionAck", oack[:40]
        sock.sendto(encode_ack(0), source)  # ... and never another word
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        socks.append(sock)
    received, peak = 0, idle
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        for key, _ in selector.select(min(left, 0.2)):
            try:
                while True:
                    received += len(key.fileobj.recv(65536))  # type: ignore[union-attr]
            except BlockingIOError:
                pass
        peak = max(peak, rss_kib(pid))
    for sock in socks:
        sock.close()
    selector.close()
    return received, idle, peak


def lockout(server: tuple[str, int], hogs: int = 64) -> str:
    socks = []
    try:
        for _ in range(hogs):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((HOST, 0))
            sock.sendto(encode_request(RRQ, "small.bin", "octet", {"timeout": "20", "tsize": "0"}), server)
            socks.append(sock)
            time.sleep(1 / 40)  # under --tftp-requests-per-peer (50 a second)
        time.sleep(0.5)  # let the server answer them all (the answers stay unread)
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.2", 0))
        socks.append(other)
        other.settimeout(5)
        other.sendto(encode_request(RRQ, "small.bin", "octet", {"timeout": "20", "tsize": "0"}), server)
        answer = decode(other.recvfrom(65536)[0])
        return type(answer).__name__ + ("" if type(answer).__name__ == "OptionAck" else f" {answer}")
    finally:
        for sock in socks:
            sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--peers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose sockdash runs")
    args = parser.parse_args()
    os.chdir(args.tree)  # `python -m webapp` runs the code of the current folder
    with tempfile.TemporaryDirectory() as tmpdir:
        proc = harness.start(Path(tmpdir), "--log-level", "ERROR")
        try:
            (proc.root / "big.bin").write_bytes(os.urandom(64 << 20))
            (proc.root / "small.bin").write_bytes(os.urandom(100_000))
            server = (HOST, proc.ports["tftp"])
            sent, idle, peak = silent_peers(server, proc.proc.pid, args.peers, args.seconds)
            print(f"tree {args.tree}")
            print(f"{args.peers} silent greedy peers, {args.seconds:g} s: {sent / (1 << 20):.1f} MiB sent to them, "
                  f"RSS {idle / 1024:.0f} MiB idle, {peak / 1024:.0f} MiB peak (+{(peak - idle) / 1024:.0f} MiB)")
            print(f"64 unacknowledged requests from 127.0.0.1, then one from 127.0.0.2: {lockout(server)}")
        finally:
            proc.stop(timeout=15)


if __name__ == "__main__":
    main()
