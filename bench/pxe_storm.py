"""PXE boot storm: N machines at once fetch one boot image by TFTP, lock-step, from sockdash
and from tftpd-hpa, side by side in one run.

Each client is a curl (`--tftp-blksize 1468`, lock-step: curl has no windowsize) bound to
an address of its own (127.0.0.10, 127.0.0.11, ...: a classroom's machines each have one,
and sockdash's default per-address limit, 8 transfers, stays as it is). The servers take
turns within each round; per server and round: the total time from the first start to the
last exit, and the failures (a non-zero exit or a file of the wrong size).

    .venv/bin/python bench/pxe_storm.py [--clients 50] [--runs 3] [--workers 2]
    cd /tmp && /work/main/.venv/bin/python /work/main/bench/pxe_storm.py --tree /tmp/before

``--tree`` runs sockdash from another checkout (e.g. `git worktree add /tmp/before HEAD~1`)
as a third server, for a before/after in the same run; ``--workers N`` passes
`--workers N` to sockdash, the ``--tree`` one too (and needs what that needs). Traffic stays on 127.0.0.0/8;
every loop is bounded by --runs and --clients.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import harness  # noqa: E402

HOST = "127.0.0.1"
NAME = "boot.img"
CLIENT_TIMEOUT = 600


def start_tftpd_hpa(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = harness.free_udp_port(HOST)
    binary = shutil.which("in.tftpd") or "/usr/sbin/in.tftpd"
    proc = subprocess.Popen([binary, "-L", "-s", "-a", f"{HOST}:{port}", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    harness.wait_for(lambda: proc.poll() is not None or harness.tftp_answers(HOST, port), 10, "tftpd-hpa")
    if proc.poll() is not None:
        raise RuntimeError(f"tftpd-hpa exited with {proc.returncode}")
    return proc, port


def cpu_by_process(pid: int) -> dict[int, float]:
    """CPU time (user + system, children reaped included) of ``pid`` and each process under
    it (sockdash's workers and redis-server, tftpd-hpa's forks), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        times[int(entry.name)] = sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
    found, todo = {}, [pid]
    while todo:
        current = todo.pop()
        found[current] = times.get(current, 0.0)
        todo.extend(children.get(current, []))
    return found


class CpuWatch:
    """The CPU a server tree spends while it runs: tftpd-hpa's forks are reaped unrecorded
    (SIGCHLD ignored), so each process is read every 50 ms while alive and its last reading kept."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = cpu_by_process(pid)
        self.seen = dict(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.seen.update(cpu_by_process(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.seen.update(cpu_by_process(self.pid))
        return sum(self.seen.values()) - sum(self.start.values())

    def busiest(self, count: int = 3) -> list[float]:
        """The CPU seconds of the ``count`` busiest processes of the tree (after ``stop``): with
        --workers, whether both workers shared the storm (SO_REUSEPORT hashes each client's
        request to one of them)."""
        used = sorted((cpu - self.start.get(pid, 0.0) for pid, cpu in self.seen.items()), reverse=True)
        return used[:count]


def storm(port: int, out: Path, clients: int, size: int) -> tuple[float, int]:
    """(seconds from the first start to the last exit, failed downloads)."""
    out.mkdir(exist_ok=True)
    files = [out / f"m{i}.img" for i in range(clients)]
    for f in files:
        f.unlink(missing_ok=True)
    started = time.perf_counter()
    procs = [subprocess.Popen(["curl", "-s", "--interface", f"127.0.0.{10 + i}", "--tftp-blksize", "1468",
                               "-o", str(f), f"tftp://{HOST}:{port}/{NAME}"])
             for i, f in enumerate(files)]
    codes = [p.wait(timeout=CLIENT_TIMEOUT) for p in procs]
    elapsed = time.perf_counter() - started
    failed = sum(1 for code, f in zip(codes, files, strict=True)
                 if code != 0 or not f.exists() or f.stat().st_size != size)
    return elapsed, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, choices=range(1, 241), metavar="1-240")
    parser.add_argument("--size-mib", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="pass --workers N to sockdash")
    parser.add_argument("--tree", type=Path, default=None,
                        help="also run sockdash from this checkout (run the bench from /tmp then)")
    args = parser.parse_args()
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        image = os.urandom(size)
        extra = ["--workers", str(args.workers)] if args.workers else []
        sockdashes = {"sockdash" + (f" --workers {args.workers}" if args.workers else ""):
                      harness.start(tmp / "sockdash", "--log-level", "WARNING", *extra,
                                    env={"PYTHONPATH": str(ROOT)})}  # this checkout's, from anywhere
        if args.tree is not None:
            sockdashes["sockdash (--tree)"] = harness.start(tmp / "before", "--log-level", "WARNING", *extra,
                                                           env={"PYTHONPATH": str(args.tree.resolve())})
        for proc in sockdashes.values():
            (proc.root / NAME).write_bytes(image)
        (tmp / "hpa").mkdir()
        (tmp / "hpa" / NAME).write_bytes(image)
        hpa, hpa_port = start_tftpd_hpa(tmp / "hpa")
        servers = {name: proc.ports["tftp"] for name, proc in sockdashes.items()} | {"tftpd-hpa": hpa_port}
        pids = {name: proc.proc.pid for name, proc in sockdashes.items()} | {"tftpd-hpa": hpa.pid}
        times: dict[str, list[float]] = {name: [] for name in servers}
        cpu: dict[str, list[float]] = {name: [] for name in servers}
        failures: dict[str, int] = dict.fromkeys(servers, 0)
        splits: dict[str, list[str]] = {name: [] for name in servers}
        try:
            for _ in range(args.runs):  # rounds interleave the servers, so drift hits all alike
                for name, port in servers.items():
                    watch = CpuWatch(pids[name])
                    elapsed, failed = storm(port, tmp / "out", args.clients, size)
                    cpu[name].append(watch.stop())
                    splits[name].append("/".join(f"{used:.1f}" for used in watch.busiest()))
                    times[name].append(elapsed)
                    failures[name] += failed
        finally:
            for proc in sockdashes.values():
                proc.stop(timeout=15)
            hpa.terminate()
            hpa.wait(10)
    hpa_median = statistics.median(times["tftpd-hpa"])
    print(f"\n{args.clients} clients x {args.size_mib} MiB, curl --tftp-blksize 1468 (lock-step), "
          f"{args.runs} rounds; load average {os.getloadavg()[0]:.1f}")
    # server CPU: what the server itself spent, whatever else ran on the machine meanwhile; busy:
    # that CPU over the wall time (one process cannot pass 100 %; with other programs running
    # it gets its share of the cores, tftpd-hpa's 50 forks get 50 shares)
    blocks = args.clients * (size // 1468 + 1)
    print("| server | median s | runs (s) | failures | / tftpd-hpa | server CPU s | CPU µs a block | busy |")
    print("|---|---|---|---|---|---|---|---|")
    for name in servers:
        median = statistics.median(times[name])
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        used = statistics.median(cpu[name])
        print(f"| {name} | {median:.2f} | {runs} | {failures[name]} | {median / hpa_median:.2f} | {used:.1f} | "
              f"{1e6 * used / blocks:.1f} | {100 * used / median:.0f} % |")
    print("\nCPU s of the three busiest processes of each server, per round (--workers: is the storm shared?)")
    for name in servers:
        if not name.startswith("tftpd-hpa"):
            print(f"- {name}: {'; '.join(splits[name])}")


if __name__ == "__main__":
    main()
