"""TFTP on every core: sockdash --workers 2 vs --workers 1 vs tftpd-hpa, one run, side by side.

Scenario (issue 12's target: --workers 2 at most tftpd-hpa's total time):
  parallel-20   20 curl --tftp-blksize 1468 downloads of a 10 MiB file at once (total wall time)

Rounds interleave the three servers so that load from elsewhere on the machine hits all alike;
the table gives medians of --runs and how many of the 20 downloads each worker served (from
/api/status's per-worker counters, X-Sockdash-Worker naming the worker that answered).

    .venv/bin/python bench/tftp_workers.py [--runs 5]

Needs tftpd-hpa (in.tftpd), curl and redis-server (`make test` installs them). Traffic stays on
127.0.0.1; every loop is bounded by --runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import tftp as tftp_bench  # noqa: E402  (bench/tftp.py: the same file, clients and tftpd-hpa)

from tests import harness  # noqa: E402

DOWNLOADS = 20


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        files = tmp / "files"
        files.mkdir()
        payload = os.urandom(tftp_bench.SIZE)
        (files / tftp_bench.NAME).write_bytes(payload)
        ours = {n: start_sockdash(tmp, n) for n in (1, 2)}
        for sd in ours.values():
            (sd.root / tftp_bench.NAME).write_bytes(payload)
        hpa, hpa_port = tftp_bench.start_tftpd_hpa(files)
        ports = {"sockdash --workers 2": ours[2].ports["tftp"], "sockdash --workers 1": ours[1].ports["tftp"],
                 "tftpd-hpa": hpa_port}
        times: dict[str, list[float]] = {name: [] for name in ports}
        shares: list[list[int]] = []
        try:
            for _ in range(args.runs):
                for name, port in ports.items():
                    before = bytes_per_worker(ours[2], 2) if name.endswith("2") else {}
                    times[name].append(tftp_bench.parallel(port, tmp, DOWNLOADS))
                    if before:
                        after = bytes_per_worker(ours[2], 2)
                        shares.append(sorted(round((after[n] - before.get(n, 0)) / tftp_bench.SIZE)
                                             for n in after))
        finally:
            for sd in ours.values():
                sd.stop(timeout=15)
            hpa.terminate()
            hpa.wait(10)
    hpa_median = statistics.median(times["tftpd-hpa"])
    print(f"\n{DOWNLOADS} parallel curl downloads, 10 MiB, blksize 1468: medians of {args.runs} "
          f"(seconds; ratio = server / tftpd-hpa; {os.cpu_count()} cores)")
    print("| server | total time | runs | / tftpd-hpa |")
    print("|---|---|---|---|")
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"| {name} | {median:.2f} | {' '.join(f'{t:.2f}' for t in runs)} | {median / hpa_median:.2f}x |")
    print(f"downloads per worker (--workers 2, each run): {shares}")


if __name__ == "__main__":
    main()
