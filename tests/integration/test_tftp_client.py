"""`sockdash tftp get|put` against tftpd-hpa and against sockdash itself."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests import harness

HOST = "127.0.0.1"


def sockdash_tftp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webapp", "tftp", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_our_client_against_tftpd_hpa(tftpd_hpa: tuple[int, Path], tmp_path: Path) -> None:
    port, root = tftpd_hpa
    payload = os.urandom(3 << 20)
    (root / "firmware.bin").write_bytes(payload)
    result = sockdash_tftp("get", f"{HOST}:{port}", "firmware.bin", "fw.bin", "--blksize", "1468", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fw.bin").read_bytes() == payload and "blksize=1468" in result.stderr
    (tmp_path / "config.txt").write_bytes(b"hostname sw1\r\n" * 1000)
    result = sockdash_tftp("put", f"{HOST}:{port}", "config.txt", "--windowsize", "8", cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # tftpd-hpa ignores windowsize: lock-step
    assert (root / "config.txt").read_bytes() == (tmp_path / "config.txt").read_bytes()
    missing = sockdash_tftp("get", f"{HOST}:{port}", "nope.bin", cwd=tmp_path)
    assert missing.returncode == 1 and "server error 1: File not found" in missing.stderr
    assert not (tmp_path / "nope.bin").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".sockdash-part")]


def test_our_client_against_sockdash_windowed_and_over_ipv6(tmp_path: Path) -> None:
    proc = harness.start(tmp_path / "server", "--tftp-write", host="::")
    try:
        payload = os.urandom(2 << 20)
        (tmp_path / "image.bin").write_bytes(payload)
        port = proc.ports["tftp"]
        put = sockdash_tftp("put", f"{HOST}:{port}", "image.bin", "--windowsize", "16", "--blksize", "1468",
                            cwd=tmp_path)
        assert put.returncode == 0, put.stderr
        assert (proc.root / "image.bin").read_bytes() == payload and "windowsize=16" in put.stderr
        get = sockdash_tftp("get", f"[::1]:{port}", "image.bin", "back.bin", "--windowsize", "32", cwd=tmp_path)
        assert get.returncode == 0, get.stderr
        assert (tmp_path / "back.bin").read_bytes() == payload
        refused = sockdash_tftp("get", f"{HOST}:{port}", "../../etc/passwd", cwd=tmp_path)
        assert refused.returncode == 1 and "server error 2" in refused.stderr
        # a closed port answers with ICMP "port unreachable": said at once, no retries waited out
        closed = sockdash_tftp("get", f"{HOST}:1", "x", "--timeout", "5", "--retries", "5", cwd=tmp_path)
        assert closed.returncode == 1 and "port unreachable" in closed.stderr
        assert not (tmp_path / "x").exists()
        # a port that is open but silent: no answer, after the retries
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
            silent.bind((HOST, 0))
            nobody = sockdash_tftp("get", f"{HOST}:{silent.getsockname()[1]}", "x", "--timeout", "1",
                                   "--retries", "1", cwd=tmp_path)
        assert nobody.returncode == 1 and "no answer" in nobody.stderr
        bad = sockdash_tftp("get", "host:notaport", "x", cwd=tmp_path)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    finally:
        proc.stop()


def test_requests_per_peer_are_limited_and_logged(tmp_path: Path) -> None:
    proc = harness.start(tmp_path)
    try:
        # 80 requests from 80 source ports (from one port they would be retransmits of one)
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(80)]
        for i, s in enumerate(clients):
            s.sendto(b"\x00\x01missing-%d\x00octet\x00" % i, (HOST, proc.ports["tftp"]))
        answers = 0
        for s in clients:
            s.settimeout(0.1 if answers else 2)
            try:
                s.recvfrom(100)
                answers += 1
            except TimeoutError:
                pass
            s.close()
        assert answers == 50
        proc.wait_for(lambda: any("requests in a second (limit)" in line for line in proc.output))
    finally:
        proc.stop()
