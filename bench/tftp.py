"""TFTP benchmark: sockdash vs tftpd-hpa vs tftpy, same clients, same file, one run.

Scenarios (10 MiB file, medians of --runs, wall time of the client):
  curl-512       curl --tftp-blksize 512   (lock-step)
  curl-1468      curl --tftp-blksize 1468  (lock-step)
  atftp-w16      atftp --option "windowsize 16" --option "blksize 1468"
  ours-w16       sockdash tftp get --windowsize 16 --blksize 1468 (wall time: start-up and the
                 1 s the client stays after its last ACK to answer a repeated last DATA included)
  ours-w16-xfer  the same command, timed inside it from the request to the last ACK (the
                 transfer itself: no start-up, no linger)
  parallel-20    20 curl --tftp-blksize 1468 downloads at once (total time)

    .venv/bin/pip install -e '.[bench]'      # tftpy
    .venv/bin/python bench/tftp.py [--runs 5]

Needs tftpd-hpa (in.tftpd), curl and atftp (`make test` installs them).
Traffic stays on 127.0.0.1; every loop is bounded by --runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import harness  # noqa: E402

HOST = "127.0.0.1"
SCENARIOS = ["curl-512", "curl-1468", "atftp-w16", "ours-w16", "ours-w16-xfer", "parallel-20"]
# `sockdash tftp get` with the drive loop timed: from the request to the last ACK, printed on stderr
TIMED_CLIENT = ("import runpy, sys, time\n"
                "from sockets_core.servers import tftp_drive\n"
                "run = tftp_drive.TftpDrive.run\n"
                "def timed(self, *args, **kwargs):\n"
                "    started = time.perf_counter()\n"
                "    run(self, *args, **kwargs)\n"
                "    print(f'TRANSFER {time.perf_counter() - started:.6f}', file=sys.stderr)\n"
                "tftp_drive.TftpDrive.run = timed\n"
                "sys.argv = ['sockdash', *sys.argv[1:]]\n"
                "runpy.run_module('webapp', run_name='__main__')\n")
SIZE = 10 << 20
NAME = "bench.bin"


def answering(proc: subprocess.Popen[bytes], port: int, name: str) -> tuple[subprocess.Popen[bytes], int]:
    """Once the server just started answers a TFTP request (not after a guessed sleep)."""
    harness.wait_for(lambda: proc.poll() is not None or harness.tftp_answers(HOST, port), 10, f"{name} on {port}")
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited with {proc.returncode}")
    return proc, port


def start_tftpd_hpa(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = harness.free_udp_port(HOST)
    binary = shutil.which("in.tftpd") or "/usr/sbin/in.tftpd"
    proc = subprocess.Popen([binary, "-L", "-s", "-a", f"{HOST}:{port}", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return answering(proc, port, "tftpd-hpa")


def start_tftpy(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = harness.free_udp_port(HOST)
    code = ("import logging, sys, tftpy; logging.disable(logging.CRITICAL); "
            f"tftpy.TftpServer({str(root)!r}).listen({HOST!r}, {port})")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return answering(proc, port, "tftpy")


def commands(port: int, out: Path) -> dict[str, list[str]]:
    url = f"tftp://{HOST}:{port}/{NAME}"
    return {
        "curl-512": ["curl", "-s", "--tftp-blksize", "512", "-o", str(out), url],
        "curl-1468": ["curl", "-s", "--tftp-blksize", "1468", "-o", str(out), url],
        "atftp-w16": ["atftp", "--option", "windowsize 16", "--option", "blksize 1468", "-g", "-r", NAME,
                      "-l", str(out), HOST, str(port)],
        "ours-w16": [sys.executable, "-m", "webapp", "tftp", "get", f"{HOST}:{port}", NAME, str(out),
                     "--windowsize", "16", "--blksize", "1468"],
        "ours-w16-xfer": [sys.executable, "-c", TIMED_CLIENT, "tftp", "get", f"{HOST}:{port}", NAME, str(out),
                          "--windowsize", "16", "--blksize", "1468"],
    }


def timed(argv: list[str], out: Path) -> float:
    """The command's wall time, or the transfer's time it prints (TIMED_CLIENT)."""
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    done = subprocess.run(argv, check=True, timeout=600, capture_output=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if out.stat().st_size != SIZE:
        raise RuntimeError(f"short file from {argv[0]}")
    for line in done.stderr.decode(errors="replace").splitlines():
        if line.startswith("TRANSFER "):
            return float(line.split()[1])
    return elapsed


def parallel(port: int, tmp: Path, n: int = 20) -> float:
    outs = [tmp / f"p{i}.bin" for i in range(n)]
    started = time.perf_counter()
    procs = [subprocess.Popen(["curl", "-s", "--tftp-blksize", "1468", "-o", str(o), f"tftp://{HOST}:{port}/{NAME}"])
             for o in outs]
    for p in procs:
        if p.wait(timeout=600) != 0:
            raise RuntimeError("a parallel download failed")
    elapsed = time.perf_counter() - started
    if any(o.stat().st_size != SIZE for o in outs):
        raise RuntimeError("short parallel download")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=SCENARIOS, metavar="SCENARIO",
                        help=f"run only these scenarios ({', '.join(SCENARIOS)}); curl-1468 always runs "
                             "(the windowed ones are compared with tftpd-hpa's)")
    parser.add_argument("--no-tftpy", action="store_true", help="sockdash and tftpd-hpa only")
    parser.add_argument("--tree", type=Path, default=None,
                        help="also run sockdash from this checkout, e.g. a `git worktree` of the commit before "
                             "(run the bench from /tmp then)")
    args = parser.parse_args()
    scenarios = [s for s in SCENARIOS if s in args.only or s == "curl-1468"]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        files = tmp / "files"
        files.mkdir()
        (files / NAME).write_bytes(os.urandom(SIZE))
        sockdashes = {"sockdash": harness.start(tmp / "sockdash", "--log-level", "WARNING",
                                                env={"PYTHONPATH": str(ROOT)})}  # this checkout's
        if args.tree is not None:
            sockdashes["sockdash (--tree)"] = harness.start(tmp / "tree", "--log-level", "WARNING",
                                                            env={"PYTHONPATH": str(args.tree.resolve())})
        for started in sockdashes.values():
            (started.root / NAME).write_bytes((files / NAME).read_bytes())
        hpa, hpa_port = start_tftpd_hpa(files)
        others = [hpa]
        servers = {name: started.ports["tftp"] for name, started in sockdashes.items()} | {"tftpd-hpa": hpa_port}
        if not args.no_tftpy:
            tftpy, servers["tftpy"] = start_tftpy(files)
            others.append(tftpy)
        results: dict[str, dict[str, list[float]]] = {s: {} for s in servers}
        try:
            for _ in range(args.runs):  # rounds interleave the servers, so drift hits all alike
                for server, port in servers.items():
                    out = tmp / f"{server}.out"
                    for scenario, argv in commands(port, out).items():
                        if scenario in scenarios:
                            results[server].setdefault(scenario, []).append(timed(argv, out))
                    if "parallel-20" in scenarios:
                        results[server].setdefault("parallel-20", []).append(parallel(port, tmp))
        finally:
            for started in sockdashes.values():
                started.stop(timeout=15)
            for proc in others:
                proc.terminate()
                proc.wait(10)
    print(f"\n10 MiB, medians of {args.runs} (seconds; ratio = sockdash / tftpd-hpa)")
    print("| scenario | " + " | ".join(servers) + " | sockdash / tftpd-hpa |")
    print("|---" * (len(servers) + 2) + "|")
    for scenario in scenarios:
        m = {server: statistics.median(results[server][scenario]) for server in servers}
        print(f"| {scenario} | " + " | ".join(f"{m[s]:.3f}" for s in servers)
              + f" | {m['sockdash'] / m['tftpd-hpa']:.2f} |")
    hpa_lockstep = statistics.median(results["tftpd-hpa"]["curl-1468"])
    for scenario in ("atftp-w16", "ours-w16", "ours-w16-xfer"):
        for name in sockdashes if scenario in scenarios else ():
            runs = results[name][scenario]
            speedup = hpa_lockstep / statistics.median(runs)
            print(f"\n{name} {scenario} is {speedup:.1f}x faster than tftpd-hpa lock-step at 1468 (target >= 8; "
                  f"runs: {', '.join(f'{hpa_lockstep / r:.1f}' for r in runs)})")


if __name__ == "__main__":
    main()
