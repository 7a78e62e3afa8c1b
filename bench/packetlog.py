"""Packet-log benchmark: what watching the log costs a transfer, and memory under a flood.

1. A 10 MiB TFTP download (curl, blksize 512: ~41,000 packets, all logged) with three
   browsers (headless Chromium) watching the Packet log page, against the same download
   with none. The two conditions alternate, ROUNDS times each, in one run; medians.
   Target: watching costs at most 10%.
2. A 60 s flood of UDP chat datagrams, as fast as one client sends them, while one
   WebSocket client subscribes to the live log and never reads (the worst browser).
   The server's resident memory is sampled every second. Target: bounded (flat after
   the rings fill).

    .venv/bin/python bench/packetlog.py [--rounds 5] [--flood 60]

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import harness, wsclient  # noqa: E402
from tests.browser import LAUNCH_ARGS, find_chromium  # noqa: E402

HOST = "127.0.0.1"
SIZE = 10 << 20


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def download(proc: harness.Sockdash, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["curl", "-s", "--tftp-blksize", "512", "-o", str(out),
                    f"tftp://{HOST}:{proc.ports['tftp']}/bench.bin"], check=True, timeout=300)
    elapsed = time.perf_counter() - started
    if out.stat().st_size != SIZE:
        raise RuntimeError("short download")
    return elapsed


def watching_cost(proc: harness.Sockdash, rounds: int, tmp: Path) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    alone, watched = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=LAUNCH_ARGS)
        pages = [browser.new_context().new_page() for _ in range(3)]
        for _ in range(rounds):
            for page in pages:
                page.goto("about:blank")
            time.sleep(1)
            alone.append(download(proc, tmp / "a.bin"))
            for page in pages:
                page.goto(f"{proc.base_url}/packets")
                page.wait_for_selector("#live-state[data-state=live]")
            time.sleep(1)
            watched.append(download(proc, tmp / "b.bin"))
        browser.close()
    return alone, watched


def stuck_websocket(proc: harness.Sockdash) -> socket.socket:
    """A browser that subscribes to the live log and then never reads a byte."""
    return wsclient.connect(proc.host, proc.ports["http"], "/ws/packets").sock


def flood(proc: harness.Sockdash, seconds: float) -> list[tuple[float, float, int]]:
    stuck = stuck_websocket(proc)
    target = (HOST, proc.ports["udp_chat"])
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
    samples: list[tuple[float, float, int]] = []
    started = time.monotonic()
    next_sample = started
    sent = 0
    payload = b"flood " + b"x" * 200
    while time.monotonic() - started < seconds:
        for s in senders:
            s.sendto(payload, target)
        sent += len(senders)
        if time.monotonic() >= next_sample:
            samples.append((round(time.monotonic() - started), rss_mib(proc.proc.pid), sent))
            next_sample += 1.0
            time.sleep(0.0005)
    samples.append((round(time.monotonic() - started), rss_mib(proc.proc.pid), sent))
    stuck.close()
    for s in senders:
        s.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--flood", type=float, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        proc = harness.start(tmp / "server", "--log-level", "WARNING")
        try:
            (proc.root / "bench.bin").write_bytes(os.urandom(SIZE))
            alone, watched = watching_cost(proc, args.rounds, tmp)
            m_alone, m_watched = statistics.median(alone), statistics.median(watched)
            print(f"\n10 MiB TFTP download (curl, blksize 512), {args.rounds} alternating rounds")
            print("| condition | median s | runs (s) |")
            print("|---|---|---|")
            print(f"| nobody watching | {m_alone:.2f} | {', '.join(f'{x:.2f}' for x in alone)} |")
            print(f"| three browsers on the Packet log | {m_watched:.2f} | {', '.join(f'{x:.2f}' for x in watched)} |")
            print(f"\nwatched / alone = {m_watched / m_alone:.3f} (target <= 1.10)")
            before = proc.status()["services"]["udp_chat"]["packets_in"]
            samples = flood(proc, args.flood)
            handled = proc.status()["services"]["udp_chat"]["packets_in"] - before
            print(f"\n{args.flood:g} s UDP chat flood with a WebSocket log subscriber that never reads")
            print("| second | RSS MiB | datagrams sent |")
            print("|---|---|---|")
            shown = {0, 5, 10, 20, 30, 40, 50, int(args.flood)}
            for second, rss, sent in samples:
                if second in shown:
                    print(f"| {second} | {rss:.1f} | {sent} |")
                    shown.discard(second)
            peak = max(rss for _, rss, _ in samples)
            settled = min(10, int(args.flood) // 2)  # once the rings have filled
            later = [rss for second, rss, _ in samples if second >= settled]
            print(f"\npeak RSS {peak:.1f} MiB; from {settled} s on: min {min(later):.1f}, max {max(later):.1f} MiB")
            print(f"datagrams the server handled: {handled} ({handled / args.flood:.0f}/s; "
                  "the kernel dropped the rest of what was sent)")
        finally:
            proc.stop(timeout=15)


if __name__ == "__main__":
    main()
