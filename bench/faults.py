"""TFTP through a lossy network: sockdash vs tftpd-hpa, the same clients, interleaved.

Both servers run in a network namespace whose loopback drops one UDP datagram in
--drop-one-in (default 20: 5 %) at random (tests/netfaults.py: ip netns + nftables), and
so do the clients. Every copy is checked byte for byte; the table gives the median wall
time of each client per server and the ratio sockdash / tftpd-hpa.

    sudo .venv/bin/python bench/faults.py [--runs 5] [--size 1M] [--drop-one-in 20]

Root only (a namespace of its own); needs ip, nft, in.tftpd, curl, tftp (tftp-hpa) and
atftp (`make test` installs them). Every loop is bounded by --runs, every client by
--client-timeout.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sockets_core.settings import parse_size  # noqa: E402
from tests import harness  # noqa: E402
from tests.netfaults import LossyNamespace, missing_tools  # noqa: E402

HOST = "127.0.0.1"
HPA_PORT = 6970  # the namespace is empty: any port is free
NAME = "lossy.bin"


def downloads(port: int, out: Path) -> dict[str, list[str]]:
    return {
        "curl get": ["curl", "-sS", "-o", str(out), f"tftp://{HOST}:{port}/{NAME}"],
        "curl get blksize 1468": ["curl", "-sS", "--tftp-blksize", "1468", "-o", str(out),
                                  f"tftp://{HOST}:{port}/{NAME}"],
        "tftp-hpa get": ["tftp", HOST, str(port), "-m", "binary", "-c", "get", NAME, str(out)],
        "atftp get": ["atftp", "-g", "-r", NAME, "-l", str(out), HOST, str(port)],
        "atftp get windowsize 8": ["atftp", "--option", "windowsize 8", "-g", "-r", NAME, "-l", str(out),
                                   HOST, str(port)],
    }


def uploads(port: int, local: Path, remote: str) -> dict[str, list[str]]:
    return {
        "curl put": ["curl", "-sS", "-T", str(local), f"tftp://{HOST}:{port}/{remote}"],
        "tftp-hpa put": ["tftp", HOST, str(port), "-m", "binary", "-c", "put", str(local), remote],
        "atftp put": ["atftp", "-p", "-l", str(local), "-r", remote, HOST, str(port)],
    }


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


def timed(ns: LossyNamespace, argv: list[str], timeout: float) -> tuple[float, bool]:
    """Seconds the client took and whether it said it succeeded."""
    started = time.perf_counter()
    try:
        result = subprocess.run(ns.command(argv), capture_output=True, timeout=timeout)
        ok = result.returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    return time.perf_counter() - started, ok


def settled(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def start_tftpd_hpa(ns: LossyNamespace, root: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("in.tftpd") or "/usr/sbin/in.tftpd"
    # ":port", not "127.0.0.1:port": tftpd-hpa resolves the address with AI_ADDRCONFIG, which
    # finds no IPv4 in a namespace that has only a loopback, and exits (status 66)
    proc = subprocess.Popen(ns.command([binary, "-L", "-s", "-c", "-a", f":{HPA_PORT}", str(root)]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=parse_size, default=parse_size("1M"))
    parser.add_argument("--drop-one-in", type=int, default=20)
    parser.add_argument("--client-timeout", type=float, default=600.0)
    parser.add_argument("--only", default="", help="run only the scenarios whose name contains this")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench/faults.py: stopped"))  # still deletes the namespace
    if missing := missing_tools():
        sys.exit(f"bench/faults.py needs {', '.join(missing)}")
    payload = os.urandom(args.size)
    expected = hashlib.sha256(payload).hexdigest()
    times: dict[tuple[str, str], list[float]] = {}
    wrong: dict[tuple[str, str], int] = {}
    with tempfile.TemporaryDirectory() as tmpdir, LossyNamespace(args.drop_one_in) as ns:
        tmp = Path(tmpdir)
        tmp.chmod(0o755)
        hpa_root = tmp / "hpa"
        hpa_root.mkdir()
        hpa_root.chmod(0o777)  # tftpd-hpa drops to its own user before writing uploads
        (hpa_root / NAME).write_bytes(payload)
        (hpa_root / NAME).chmod(0o644)
        local = tmp / "upload.bin"
        local.write_bytes(payload)
        local.chmod(0o644)
        sockdash = harness.start(tmp / "sockdash", "--tftp-write", "--tftp-overwrite", "--log-level", "WARNING",
                                 prefix=ns.command([]))
        (sockdash.root / NAME).write_bytes(payload)
        hpa = start_tftpd_hpa(ns, hpa_root)
        servers = {"sockdash": (sockdash.ports["tftp"], sockdash.root), "tftpd-hpa": (HPA_PORT, hpa_root)}
        try:
            for run in range(args.runs):  # rounds interleave the servers, so drift hits both alike
                for server, (port, root) in servers.items():
                    out = tmp / f"{server}.out"
                    scenarios = {name: (argv, out) for name, argv in downloads(port, out).items()}
                    for name, argv in uploads(port, local, f"up-{run}.bin").items():
                        scenarios[name] = (argv, root / f"up-{run}.bin")
                    for name, (argv, copy) in scenarios.items():
                        if args.only not in name:
                            continue
                        copy.unlink(missing_ok=True)
                        elapsed, ok = timed(ns, argv, args.client_timeout)
                        times.setdefault((server, name), []).append(elapsed)
                        if ok:  # an upload is in place once the server has it all: give it a moment
                            settled(lambda copy=copy: digest(copy) == expected)  # this run's copy
                        if not ok or digest(copy) != expected:
                            wrong[(server, name)] = wrong.get((server, name), 0) + 1
                        print(f"run {run} {server:9} {name:24} {elapsed:7.2f} s {'ok' if ok else 'FAILED'}",
                              file=sys.stderr)
            dropped = ns.dropped()
        finally:
            sockdash.stop(timeout=15)
            hpa.terminate()
            hpa.wait(10)
    report(args, times, wrong, dropped)


def report(args: argparse.Namespace, times: dict[tuple[str, str], list[float]],
           wrong: dict[tuple[str, str], int], dropped: int) -> None:
    names = list(dict.fromkeys(name for _, name in times))
    print(f"\n{args.size / (1 << 20):g} MiB through {100 / args.drop_one_in:g} % UDP loss, medians of "
          f"{args.runs} (seconds); {dropped} datagrams dropped in all")
    print("| client | sockdash | tftpd-hpa | sockdash / tftpd-hpa | wrong or failed copies (sockdash, tftpd-hpa) |")
    print("|---|---|---|---|---|")
    total = {"sockdash": 0.0, "tftpd-hpa": 0.0}
    for name in names:
        m = {server: statistics.median(times[(server, name)]) for server in total}
        for server in total:
            total[server] += m[server]
        print(f"| {name} | {m['sockdash']:.2f} | {m['tftpd-hpa']:.2f} | {m['sockdash'] / m['tftpd-hpa']:.2f} | "
              f"{wrong.get(('sockdash', name), 0)}, {wrong.get(('tftpd-hpa', name), 0)} |")
    print(f"| **total** | {total['sockdash']:.2f} | {total['tftpd-hpa']:.2f} | "
          f"{total['sockdash'] / total['tftpd-hpa']:.2f} | |")


if __name__ == "__main__":
    main()
