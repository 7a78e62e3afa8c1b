"""What --tftp-allow and --tftp-map cost one TFTP request, and the same map in tftpd-hpa.

1. In process: ``AccessList.allows`` (12 networks) + ``RemapRules.apply`` for one request,
   with no map, and with a realistic 100-rule map (per-host ``ri``/``r`` rules, most not
   matching the name) over a mix of names: one rule matches, none matches, a backslash
   name that a ``rg`` rule rewrites. Median of --rounds, each timing --calls requests.
   Issue 14's target: under 50 µs a request.
2. tftpd-hpa: one-block RRQs in a row (each a fork in in.tftpd) against in.tftpd without a
   map and with the same 100-rule map: requests per second, ratio.

    .venv/bin/python bench/tftp_rules.py [--rounds 5] [--calls 20000] [--requests 500]

Needs tftpd-hpa (in.tftpd). Traffic stays on 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sockets_core.tftp.access import AccessList  # noqa: E402
from sockets_core.tftp.remap import RemapRules  # noqa: E402
from tests import harness  # noqa: E402
from tests.tftp_requests import rrq  # noqa: E402

CIDRS = [f"10.{n}.0.0/16" for n in range(10)] + ["192.0.2.0/24", "2001:db8::/32"]
CLIENT = "10.9.1.2"
NAMES = {
    "one rule matches": "PXELINUX.cfg/01-52-54-00-12-34-2A",  # ri: host 42
    "no rule matches": "boot/vmlinuz-6.1",
    "backslashes (rg)": "\\boot\\x86_64\\initrd.img",
}


def hundred_rules() -> str:
    """48 MAC files (ri), 48 per-host folders (r), a backslash rule, a drive letter, a refusal,
    a catch-all prefix: what a lab with fifty PXE hosts writes."""
    lines = ["rg \\\\ /", "ri ^[a-z]: "]
    for n in range(48):
        lines.append(f"ri ^pxelinux\\.cfg/01-52-54-00-12-34-{n:02x}$ hosts/pc{n:02d}/pxelinux.cfg")
        lines.append(f"r ^boot/pc{n:02d}/(.*)$ hosts/pc{n:02d}/boot/\\1")
    lines += ["a \\.pvt$", "r ^([^/]*)$ images/\\1"]
    assert len(lines) == 100
    return "\n".join(lines) + "\n"


def per_request(rules: RemapRules, allowed: AccessList, name: str, calls: int, rounds: int) -> float:
    """Median µs for allows + apply of one request."""
    apply, allows = rules.apply, allowed.allows
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            if allows(CLIENT):
                apply(name, CLIENT, False)
        times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times)


def tftpd_rate(root: Path, map_file: Path | None, requests: int) -> float:
    """One-block RRQs per second against in.tftpd, one after the other."""
    port = harness.free_udp_port()
    args = ["/usr/sbin/in.tftpd", "-L", "-s", "-a", f"127.0.0.1:{port}"]
    args += ["-m", str(map_file)] if map_file else []
    proc = subprocess.Popen([*args, str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        harness.wait_for(lambda: harness.tftp_answers("127.0.0.1", port), 5.0, "in.tftpd")
        start = time.perf_counter()
        for _ in range(requests):
            assert rrq("127.0.0.1", port, "boot/vmlinuz-6.1")[0] == "data"
        return requests / (time.perf_counter() - start)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()

    allowed, everyone = AccessList.from_cidrs(CIDRS), AccessList.from_cidrs([])
    mapped, plain = RemapRules.parse(hundred_rules()), RemapRules.parse("")
    print(f"in process, median of {args.rounds} x {args.calls} requests (µs a request):")
    print(f"| name | no map, no allow list | {len(CIDRS)} networks + {len(mapped)} rules | target |")
    print("|---|---|---|---|")
    for label, name in NAMES.items():
        base = per_request(plain, everyone, name, args.calls, args.rounds)
        full = per_request(mapped, allowed, name, args.calls, args.rounds)
        print(f"| {label} | {base:.2f} | {full:.1f} | < 50 |")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        (root / "boot").mkdir(parents=True)
        (root / "boot" / "vmlinuz-6.1").write_bytes(b"k" * 100)
        (root / "images" / "boot").mkdir(parents=True)
        root.chmod(0o755)
        map_file = Path(tmp) / "map"
        map_file.write_text(hundred_rules().replace("r ^([^/]*)$ images/\\1", "r ^(x[^/]*)$ images/\\1"))
        without = tftpd_rate(root, None, args.requests)
        with_map = tftpd_rate(root, map_file, args.requests)
    print(f"\ntftpd-hpa, {args.requests} one-block RRQs in a row (requests/s):")
    print("| in.tftpd | no map | 100-rule map | with / without |")
    print("|---|---|---|---|")
    print(f"| requests/s | {without:.0f} | {with_map:.0f} | {with_map / without:.2f} |")


if __name__ == "__main__":
    main()
