"""Connection limits benchmark (issue #10 item 1): one greedy host against a 1024-descriptor process.

sockdash runs under ``prlimit --nofile=1024:1024``. From 127.0.0.1 the attacker opens
ATTACK half-open HTTP requests (``GET / HTTP/1.1``, ``Host:``, never the blank line) and
ATTACK idle TCP chat connections. Then, while they are held:

- ``GET /api/status`` from the attacking address, PROBES times (1 s timeout each): latency;
- a TCP chat client from 127.0.0.2, PROBES times: time to its welcome line;
- the server's descriptors, sampled every 2 ms from the start of the attack: the peak;
- how often accept() failed with "Too many open files" (log lines).

Run against this tree and, for the side-by-side figures, against an older source tree
(``git archive COMMIT | tar -x -C DIR``)::

    .venv/bin/python bench/limits.py [--attack 1100] [--probes 20] [--source DIR]

Traffic stays on loopback; every loop is bounded by its count or its time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import harness  # noqa: E402
from tests.harness import HALF_OPEN_HEAD, open_many  # noqa: E402

PROBE_TIMEOUT = 1.0


def probe_status(url: str) -> float | None:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as response:
            response.read()
    except OSError:
        return None
    return time.monotonic() - started


def probe_chat(port: int) -> float | None:
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT,
                                      source_address=("127.0.0.2", 0)) as sock:
            data = b""
            while b"/help" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                data += chunk
    except OSError:
        return None
    return time.monotonic() - started


def summary(times: list[float | None]) -> str:
    answered = [t * 1000 for t in times if t is not None]
    if not answered:
        return f"0/{len(times)} answered"
    return (f"{len(answered)}/{len(times)} answered, median {statistics.median(answered):.1f} ms, "
            f"max {max(answered):.1f} ms")


def run(attack: int, probes: int, source: Path | None) -> None:
    env = None
    if source:  # `python -m webapp` imports from the working directory first
        os.chdir(source)
        env = {"PYTHONPATH": str(source)}
    with tempfile.TemporaryDirectory() as tmp:
        proc = harness.start(Path(tmp), prefix=["prlimit", "--nofile=1024:1024", "--"], env=env)
        samples: list[int] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                with contextlib.suppress(OSError):
                    samples.append(len(os.listdir(f"/proc/{proc.proc.pid}/fd")))
                time.sleep(0.002)

        sampler = threading.Thread(target=sample)
        sampler.start()
        held: list[socket.socket] = []
        try:
            held += open_many(proc.ports["http"], attack, HALF_OPEN_HEAD, within=10, require_all=False)
            held += open_many(proc.ports["tcp_chat"], attack, within=10, require_all=False)
            status = [probe_status(proc.base_url + "/api/status") for _ in range(probes)]
            chat = [probe_chat(proc.ports["tcp_chat"]) for _ in range(probes)]
        finally:
            sampling.set()
            sampler.join()
            for sock in held:
                sock.close()
            proc.stop()
        emfile = sum("Too many open files" in line for line in proc.output)
        print(f"source: {source or ROOT}")
        print(f"  GET /api/status from the attacker: {summary(status)}")
        print(f"  chat welcome from 127.0.0.2:       {summary(chat)}")
        print(f"  peak descriptors: {max(samples)} of 1024; log lines with EMFILE: {emfile}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attack", type=int, default=1100)
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--source", type=Path, default=None, help="run sockdash from this source tree")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4 * args.attack + 100), max(hard, 4 * args.attack + 100)))
    run(args.attack, args.probes, args.source)


if __name__ == "__main__":
    main()
