"""TFTP through a lossy network: every client gets an exact copy, both ways.

sockdash and the clients run in a network namespace whose loopback drops one UDP
datagram in 20 at random (tests/netfaults.py); root only, as CI runs. Sizes stay small
(each lost packet costs a client that only resends on its own timer up to 5 s) and every
client run is bounded; bench/faults.py measures the times against tftpd-hpa.

curl and atftp run without TFTP options here. With options, a lost ACK of the OACK
fails them against any server: atftp and curl abort on a repeated OACK ("unexpected
OACK"), which is what tftpd-hpa sends, and curl resends that ACK only after 72 s
(3600 s / 50 tries), long after a server gave up waiting. sockdash resends its OACK only
when the request comes again (the OACK was lost); our own client (`sockdash tftp`)
covers options and windowsize through loss.
"""

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import harness
from tests.netfaults import LossyNamespace, missing_tools

HOST = "127.0.0.1"
DOWNLOAD = 256 << 10
UPLOAD = 64 << 10
CLIENT_TIMEOUT = 120


@pytest.fixture(scope="module")
def lossy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LossyNamespace, harness.Sockdash, Path]]:
    assert not missing_tools(), f"the lossy-network tests need {missing_tools()} (tests/tools/ensure_peers.sh)"
    tmp = tmp_path_factory.mktemp("faults")
    with LossyNamespace(drop_one_in=20) as ns:
        proc = harness.start(tmp / "sockdash", "--tftp-write", prefix=ns.command([]))
        try:
            (proc.root / "image.bin").write_bytes(os.urandom(DOWNLOAD))
            yield ns, proc, tmp
        finally:
            proc.stop(timeout=15)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


def ours(*args: str) -> list[str]:
    return [sys.executable, "-m", "webapp", "tftp", *args]


@pytest.mark.parametrize("client", ["tftp-hpa", "atftp", "curl", "sockdash windowsize 8 blksize 1468"])
def test_downloads_through_loss_are_exact(lossy: tuple[LossyNamespace, harness.Sockdash, Path], client: str) -> None:
    ns, proc, tmp = lossy
    port, out = str(proc.ports["tftp"]), tmp / f"get-{client.split()[0]}.bin"
    argv = {
        "tftp-hpa": ["tftp", HOST, port, "-m", "binary", "-c", "get", "image.bin", str(out)],
        "atftp": ["atftp", "-g", "-r", "image.bin", "-l", str(out), HOST, port],
        "curl": ["curl", "-sS", "--tftp-no-options", "-o", str(out), f"tftp://{HOST}:{port}/image.bin"],
        "sockdash windowsize 8 blksize 1468": ours("get", f"{HOST}:{port}", "image.bin", str(out),
                                                   "--windowsize", "8", "--blksize", "1468"),
    }[client]
    dropped_before = ns.dropped()
    result = ns.run(argv, timeout=CLIENT_TIMEOUT, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, (client, result.stdout, result.stderr)
    assert digest(out) == digest(proc.root / "image.bin")
    assert ns.dropped() > dropped_before  # the network did lose packets on the way


@pytest.mark.parametrize("client", ["tftp-hpa", "atftp", "curl", "sockdash windowsize 8"])
def test_uploads_through_loss_are_exact(lossy: tuple[LossyNamespace, harness.Sockdash, Path], client: str) -> None:
    ns, proc, tmp = lossy
    port, remote = str(proc.ports["tftp"]), f"up-{client.split()[0]}.bin"
    local = tmp / remote
    local.write_bytes(os.urandom(UPLOAD))
    argv = {
        # tftp-hpa resends only on its own timer (5 s by default, rexmt): 1 s keeps this short
        "tftp-hpa": ["tftp", HOST, port],
        "atftp": ["atftp", "-p", "-l", str(local), "-r", remote, HOST, port],
        "curl": ["curl", "-sS", "--tftp-no-options", "-T", str(local), f"tftp://{HOST}:{port}/{remote}"],
        "sockdash windowsize 8": ours("put", f"{HOST}:{port}", str(local), remote, "--windowsize", "8"),
    }[client]
    commands = f"binary\nrexmt 1\nput {local} {remote}\nquit\n" if client == "tftp-hpa" else None
    result = ns.run(argv, timeout=CLIENT_TIMEOUT, input=commands, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0 and "timed out" not in result.stdout, (client, result.stdout, result.stderr)
    uploaded = proc.root / remote
    proc.wait_for(lambda: uploaded.exists())  # renamed into place once the server has it all
    assert digest(uploaded) == digest(local)
    assert not [p.name for p in proc.root.iterdir() if p.name.endswith(".sockdash-part")]


def test_a_failed_transfer_is_reported_not_corrupted(lossy: tuple[LossyNamespace, harness.Sockdash, Path]) -> None:
    """A request for a missing file through the same loss still gets its error, not a hang."""
    ns, proc, tmp = lossy
    result = ns.run(["atftp", "-g", "-r", "nope.bin", "-l", str(tmp / "nope"), HOST, str(proc.ports["tftp"])],
                    timeout=CLIENT_TIMEOUT)
    assert result.returncode != 0 and "not found" in (result.stdout + result.stderr).lower()


def test_the_namespace_is_gone_afterwards() -> None:
    with LossyNamespace() as ns:
        name = ns.name
        assert name in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert name not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
