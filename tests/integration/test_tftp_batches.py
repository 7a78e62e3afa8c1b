"""A TFTP window leaves sockdash as one batch (UDP GSO here: servers/mmsg.py), and the
clients still get every block as a datagram of its own, byte-exact; the packet log still
records every DATA packet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import harness

HOST = "127.0.0.1"
BLOCKS = 16 * 5 + 1  # five full windows of 16 and a short last block
SIZE = (BLOCKS - 1) * 1468 + 777


def test_windowed_downloads_are_byte_exact_and_every_data_packet_is_logged(tmp_path: Path) -> None:
    proc = harness.start(tmp_path / "s")
    try:
        # found once, at start, before any transfer: one line says which path sends windows
        proc.wait_for(lambda: any("udp batches: sent by UDP GSO" in line for line in proc.output),
                      what="the batch path's INFO line")
        payload = os.urandom(SIZE)
        (proc.root / "image.bin").write_bytes(payload)
        port = str(proc.ports["tftp"])
        atftp = subprocess.run(["atftp", "--option", "windowsize 16", "--option", "blksize 1468", "-g",
                                "-r", "image.bin", "-l", str(tmp_path / "atftp.bin"), HOST, port],
                               capture_output=True, timeout=60)
        assert atftp.returncode == 0, atftp.stderr
        assert (tmp_path / "atftp.bin").read_bytes() == payload
        ours = subprocess.run([sys.executable, "-m", "webapp", "tftp", "get", f"{HOST}:{port}", "image.bin",
                               str(tmp_path / "ours.bin"), "--windowsize", "16", "--blksize", "1468"],
                              capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
        assert ours.returncode == 0, ours.stderr
        assert (tmp_path / "ours.bin").read_bytes() == payload

        def data_out() -> list[int]:
            events = proc.get_json("/api/packets?service=tftp&limit=10000")["events"]
            return [e["length"] for e in events if e["direction"] == "out" and "DATA" in e.get("summary", "")]

        # two downloads: every block of each logged with its own size, none glued into one
        expected = sorted([4 + 1468] * (BLOCKS - 1) * 2 + [4 + 777] * 2)
        proc.wait_for(lambda: sorted(data_out()) == expected, what="every DATA packet in the packet log")
        assert sum(1 for line in proc.output if "udp batches: sent by" in line) == 1
    finally:
        proc.stop()
