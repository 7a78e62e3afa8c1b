"""TFTP on every core: sockdash --workers 2 vs --workers 1 vs tftpd-hpa, one run, side by side.

Scenario (issue 12's target: --workers 2 at most tftpd-hpa's total time):
  parallel-20   20 curl --tftp-blksize 1468 downloads of a 10 MiB file at once (total wall time)

Rounds interleave the servers so that load from elsewhere on the machine hits all alike; the
table gives medians of --runs of the total time and of the CPU the server used (its processes,
the children tftpd-hpa forks and reaps included: /proc's utime+stime+cutime+cstime), and how
many of the 20 downloads each worker served (from /api/status's per-worker counters,
X-Sockdash-Worker naming the worker that answered).

    .venv/bin/python bench/tftp_workers.py [--runs 5] [--workers 1 2 4]

Needs tftpd-hpa (in.tftpd), curl and redis-server (`make test` installs them). Traffic stays on
127.0.0.1; every loop is bounded by --runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import tftp as tftp_bench  # noqa: E402  (bench/tftp.py: the same file, clients and tftpd-hpa)

from tests import harness  # noqa: E402

DOWNLOADS = 20
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU of ``pid`` and of its live children (the workers, their redis-server)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (FileNotFoundError, ProcessLookupError):  # a child that ended meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK + sum(cpu_seconds(int(c)) for c in children)


class ForkedCpu:
    """tftpd-hpa forks a child per transfer and does not wait for it (no cutime to read): sample
    its children every 20 ms and keep the last CPU seen of each (what a child used in its last
    20 ms is missed)."""

    def __init__(self, pid: int) -> None:
        self.pid, self._stop = pid, threading.Event()
        self.seen: dict[int, float] = {}
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            for child in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split():
                self.seen[int(child)] = cpu_seconds(int(child)) or self.seen.get(int(child), 0.0)

    def __enter__(self) -> ForkedCpu:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def total(self) -> float:
        return cpu_seconds(self.pid) + sum(self.seen.values())


def start_sockdash(tmp: Path, workers: int) -> harness.Sockdash:
    # all 20 clients are 127.0.0.1: the per-address cap (8) would refuse 12 of them
    return harness.start(tmp / f"sockdash-w{workers}", "--workers", str(workers), "--log-level", "WARNING",
                         "--tftp-max-per-peer", str(DOWNLOADS * 2))


def bytes_per_worker(sd: harness.Sockdash, workers: int, tries: int = 200) -> dict[int, int]:
    """Each worker's TFTP bytes sent so far (a new connection per request: the kernel picks one)."""
    seen: dict[int, int] = {}
    for _ in range(tries):
        with urllib.request.urlopen(sd.base_url + "/api/status", timeout=5) as response:
            number = int(response.headers.get("X-Sockdash-Worker") or 1)
            seen[number] = json.load(response)["services"]["tftp"]["bytes_out"]
        if len(seen) == workers:
            break
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 1], help="sockdash --workers values (2 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        files = tmp / "files"
        files.mkdir()
        payload = os.urandom(tftp_bench.SIZE)
        (files / tftp_bench.NAME).write_bytes(payload)
        ours: dict[int, harness.Sockdash] = {}
        hpa: subprocess.Popen[bytes] | None = None
        try:  # a server that fails to start stops those started before it
            for n in args.workers:
                ours[n] = start_sockdash(tmp, n)
                (ours[n].root / tftp_bench.NAME).write_bytes(payload)
            hpa, hpa_port = tftp_bench.start_tftpd_hpa(files)
            servers = {f"sockdash --workers {n}": (sd.ports["tftp"], sd.proc.pid) for n, sd in ours.items()}
            servers["tftpd-hpa"] = (hpa_port, hpa.pid)
            times: dict[str, list[float]] = {name: [] for name in servers}
            cpu: dict[str, list[float]] = {name: [] for name in servers}
            shares: dict[int, list[list[int]]] = {n: [] for n in ours if n > 1}
            for _ in range(args.runs):
                for name, (port, pid) in servers.items():
                    workers = int(name.split()[-1]) if name.startswith("sockdash") else 0
                    before = bytes_per_worker(ours[workers], workers) if workers > 1 else {}
                    cpu_before = cpu_seconds(pid)
                    if workers:  # long-lived processes: the difference is exact
                        times[name].append(tftp_bench.parallel(port, tmp, DOWNLOADS))
                        cpu[name].append(cpu_seconds(pid) - cpu_before)
                    else:
                        with ForkedCpu(pid) as meter:  # no transfer child of tftpd-hpa exists before
                            times[name].append(tftp_bench.parallel(port, tmp, DOWNLOADS))
                        cpu[name].append(meter.total() - cpu_before)
                    if before:
                        after = bytes_per_worker(ours[workers], workers)
                        shares[workers].append(sorted(round((after[n] - before.get(n, 0)) / tftp_bench.SIZE)
                                                      for n in after))
        finally:
            for sd in ours.values():
                sd.stop(timeout=15)
            if hpa is not None:
                hpa.terminate()
                hpa.wait(10)
    hpa_median = statistics.median(times["tftpd-hpa"])
    print(f"\n{DOWNLOADS} parallel curl downloads, 10 MiB, blksize 1468: medians of {args.runs} "
          f"(seconds; ratio = server / tftpd-hpa; {os.cpu_count()} cores)")
    hpa_cpu = statistics.median(cpu["tftpd-hpa"])
    print("| server | total time s | runs | / tftpd-hpa | server CPU s | / tftpd-hpa |")
    print("|---|---|---|---|---|---|")
    for name, runs in times.items():
        median, used = statistics.median(runs), statistics.median(cpu[name])
        print(f"| {name} | {median:.2f} | {' '.join(f'{t:.2f}' for t in runs)} | {median / hpa_median:.2f}x "
              f"| {used:.2f} | {used / hpa_cpu:.2f}x |")
    for n, split in shares.items():
        print(f"downloads per worker (--workers {n}, each run): {split}")


if __name__ == "__main__":
    main()
