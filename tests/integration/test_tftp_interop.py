"""TFTP against the clients network people use: tftp-hpa, atftp and curl."""

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import harness

HOST = "127.0.0.1"
SIZES = {"empty.bin": 0, "511.bin": 511, "512.bin": 512, "513.bin": 513, "1mib.bin": 1 << 20}


@pytest.fixture(scope="module")
def tftpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Sockdash]:
    proc = harness.start(tmp_path_factory.mktemp("tftp"), "--tftp-write")
    for name, size in SIZES.items():
        (proc.root / name).write_bytes(os.urandom(size))
    yield proc
    proc.stop()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def clients(port: int, remote: str, local: Path) -> dict[str, list[str]]:
    return {
        "tftp-hpa": ["tftp", HOST, str(port), "-m", "binary", "-c", "get", remote, str(local)],
        "atftp": ["atftp", "-g", "-r", remote, "-l", str(local), HOST, str(port)],
        "atftp windowsize 16": ["atftp", "--option", "windowsize 16", "--option", "blksize 1468",
                                "-g", "-r", remote, "-l", str(local), HOST, str(port)],
        "curl blksize 1468": ["curl", "-sS", "--tftp-blksize", "1468", "-o", str(local),
                              f"tftp://{HOST}:{port}/{remote}"],
    }


@pytest.mark.parametrize("name", list(SIZES))
def test_downloads_are_byte_identical_with_every_client(tftpd: harness.Sockdash, tmp_path: Path, name: str) -> None:
    for client, argv in clients(tftpd.ports["tftp"], name, tmp_path / f"out-{name}").items():
        if SIZES[name] == 0 and client.startswith("curl"):
            # curl 7.88.1 fails any TFTP transfer that ends with its first packet ("getpeername()
            # failed", exit 71), from tftpd-hpa just the same: the other three clients cover it
            continue
        out = tmp_path / f"out-{name}"
        out.unlink(missing_ok=True)
        result = subprocess.run(argv, capture_output=True, timeout=60)
        assert result.returncode == 0, (client, result.stderr)
        assert digest(out) == digest(tftpd.root / name), client


def test_forty_mebibytes_roll_block_numbers_over(tftpd: harness.Sockdash, tmp_path: Path) -> None:
    big = tftpd.root / "40mib.bin"
    if not big.exists():
        big.write_bytes(os.urandom(40 << 20))
    port = tftpd.ports["tftp"]
    runs = {
        "tftp-hpa": ["tftp", HOST, str(port), "-m", "binary", "-c", "get", "40mib.bin", str(tmp_path / "a")],
        "curl 512": ["curl", "-sS", "--tftp-blksize", "512", "-o", str(tmp_path / "b"), f"tftp://{HOST}:{port}/40mib.bin"],
        "atftp windowsize 16": ["atftp", "--option", "windowsize 16", "-g", "-r", "40mib.bin", "-l",
                                str(tmp_path / "c"), HOST, str(port)],
    }
    for client, argv in runs.items():
        result = subprocess.run(argv, capture_output=True, timeout=300)
        assert result.returncode == 0, (client, result.stderr)
    expected = digest(big)
    assert [digest(tmp_path / n) for n in "abc"] == [expected] * 3


@pytest.mark.parametrize("client", ["tftp-hpa", "atftp", "atftp windowsize 8", "curl"])
def test_uploads_with_tftp_write(tftpd: harness.Sockdash, tmp_path: Path, client: str) -> None:
    local = tmp_path / "upload.bin"
    local.write_bytes(os.urandom(300_000))
    remote = f"up-{client.replace(' ', '-')}.bin"
    port = str(tftpd.ports["tftp"])
    argv = {
        "tftp-hpa": ["tftp", HOST, port, "-m", "binary", "-c", "put", str(local), remote],
        "atftp": ["atftp", "-p", "-l", str(local), "-r", remote, HOST, port],
        "atftp windowsize 8": ["atftp", "--option", "windowsize 8", "-p", "-l", str(local), "-r", remote, HOST, port],
        "curl": ["curl", "-sS", "-T", str(local), f"tftp://{HOST}:{port}/{remote}"],
    }[client]
    result = subprocess.run(argv, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # the client is done at the final ACK; the server stores the upload right after sending it
    tftpd.wait_for(lambda: harness.transfers(tftpd, file=remote, status="ok"), what=f"{remote} stored")
    assert digest(tftpd.root / remote) == digest(local)


def test_missing_file_is_reported_as_not_found(tftpd: harness.Sockdash, tmp_path: Path) -> None:
    port = str(tftpd.ports["tftp"])
    hpa = subprocess.run(["tftp", HOST, port, "-c", "get", "nope.bin", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=30)
    assert "not found" in (hpa.stdout + hpa.stderr).lower()
    curl = subprocess.run(["curl", "-sS", "-o", str(tmp_path / "y"), f"tftp://{HOST}:{port}/nope.bin"],
                          capture_output=True, text=True, timeout=30)
    # exit 68 is curl's "TFTP: file not found"; curl 7.88.1 garbles the message (see above)
    assert curl.returncode == 68
    atftp = subprocess.run(["atftp", "-g", "-r", "nope.bin", "-l", str(tmp_path / "z"), HOST, port],
                           capture_output=True, text=True, timeout=30)
    assert atftp.returncode != 0 and "not found" in (atftp.stdout + atftp.stderr).lower()


def test_names_the_file_system_refuses_get_an_error_at_once(tftpd: harness.Sockdash, tmp_path: Path) -> None:
    """A file used as a folder (NotADirectoryError) and an upload name too long for its part
    file (ENAMETOOLONG) used to end the transfer greenlet with a traceback: no answer at all."""
    port = str(tftpd.ports["tftp"])
    inside_a_file = f"{next(iter(SIZES))}/x"
    started = time.monotonic()
    got = subprocess.run(["tftp", HOST, port, "-m", "binary", "-c", "get", inside_a_file, str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=30)
    assert "error code 1" in (got.stdout + got.stderr).lower()
    (tmp_path / "long").write_bytes(b"config\n")
    put = subprocess.run(["tftp", HOST, port, "-m", "binary", "-c", "put", str(tmp_path / "long"), "n" * 240],
                         capture_output=True, text=True, timeout=30)
    assert "error code 2" in (put.stdout + put.stderr).lower(), put.stdout + put.stderr
    assert time.monotonic() - started < 10  # answered, not the client's retries running out
    assert "Traceback" not in "\n".join(tftpd.output)


@pytest.mark.parametrize("name", ["../../../etc/passwd", "..\\..\\etc\\passwd", "/../etc/passwd",
                                  "sub\\..\\..\\x", "sub/../../x"])  # (tftp-hpa reads "C:\\x" as host C)
def test_traversal_names_are_refused(tftpd: harness.Sockdash, tmp_path: Path, name: str) -> None:
    result = subprocess.run(["tftp", HOST, str(tftpd.ports["tftp"]), "-m", "binary", "-c", "get", name,
                             str(tmp_path / "stolen")], capture_output=True, text=True, timeout=30)
    output = (result.stdout + result.stderr).lower()
    assert "error code 2" in output or "access violation" in output or "outside" in output, output
    assert not (tmp_path / "stolen").exists() or (tmp_path / "stolen").stat().st_size == 0


@pytest.mark.parametrize("name", ["/etc/passwd", "//etc/passwd"])
def test_a_leading_slash_is_the_file_root_as_with_tftpd_hpa(tftpd: harness.Sockdash, tmp_path: Path,
                                                            name: str) -> None:
    """in.tftpd -s: "/x" is x under the root, never the machine's /x."""
    result = subprocess.run(["tftp", HOST, str(tftpd.ports["tftp"]), "-m", "binary", "-c", "get", name,
                             str(tmp_path / "stolen")], capture_output=True, text=True, timeout=30)
    assert "error code 1" in (result.stdout + result.stderr).lower()  # not found under the root
    assert not (tmp_path / "stolen").exists() or (tmp_path / "stolen").stat().st_size == 0
    (tftpd.root / "etc").mkdir()
    (tftpd.root / "etc" / "passwd").write_bytes(b"the root's own etc/passwd\n")
    try:
        served = subprocess.run(["tftp", HOST, str(tftpd.ports["tftp"]), "-m", "binary", "-c", "get", name,
                                 str(tmp_path / "served")], capture_output=True, text=True, timeout=30)
        assert (tmp_path / "served").read_bytes() == b"the root's own etc/passwd\n", served.stderr
    finally:
        (tftpd.root / "etc" / "passwd").unlink()
        (tftpd.root / "etc").rmdir()


def test_a_greedy_window_is_lowered_and_the_download_still_completes(tftpd: harness.Sockdash, tmp_path: Path) -> None:
    """blksize 65464 windowsize 65535 used to be granted windowsize 256 (16 MiB held per
    transfer); the OACK now grants what fits in --tftp-window-bytes (1 MiB: 16 blocks)."""
    result = subprocess.run(["atftp", "--verbose", "--option", "blksize 65464", "--option", "windowsize 65535",
                             "-g", "-r", "1mib.bin", "-l", str(tmp_path / "greedy"), HOST, str(tftpd.ports["tftp"])],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert digest(tmp_path / "greedy") == digest(tftpd.root / "1mib.bin")
    listing = tftpd.get_json("/api/transfers")
    records = listing if isinstance(listing, list) else listing["transfers"]
    assert any("blksize=65464 windowsize=16" in r["options"] for r in records), records
