"""RemapRules against tftp-hpa itself: in.tftpd -m MAP serves, for each asked name, the file
RemapRules.apply selects (or both refuse, or neither finds one).

Every file in the tree holds its own path, so the content in.tftpd sends names the file it
chose. Our choice is read the way tftpd -s reads a name: relative to the root, a leading
"/" naming the root.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sockets_core.names import from_bytes, to_bytes
from sockets_core.tftp.remap import RemapRefused, RemapRules
from tests import harness
from tests.tftp_requests import rrq, wrq

GBK = "你好".encode("gbk")
MAP = rb"""
# backslashes (PXE ROMs, Windows clients) to slashes; a drive letter goes
rg  \\                  /
ri  ^[a-z]:
# s: restart (tftp-hpa 5.2 restarts at the second rule, see test_s_restarts_at_the_first_rule)
rs  ^old/               new\\
# any spelling of a MAC file to the lower-case one (i, [[:xdigit:]], \L)
ri  ^pxelinux\.cfg/01-(([[:xdigit:]]{2}-){5}[[:xdigit:]]{2})$   pxelinux.cfg/01-\L\1
r   ^img([[:digit:]]+)\.bin$     images/\1.bin
# per-client names: \i, \x
r   ^mine$              \i/mine
r   ^hex$               \x.cfg
r   ^up/(.*)            UP/\U\1
# G and P: reads of get/ come from got/, writes to got/ go to put/
rG  ^get/               got/
rP  ^got/               put/
# the C locale: . is one byte, so a two-byte character takes two
r   ^caf..$             cafe-2bytes
ri  ^raw/(.*)\.BIN$     raw/\1.img
# ok/ as it is; private files refused; nothing with characters outside a safe set (in a
# bracket, \ is a backslash)
e   ^ok/
e   ^raw/
a   \.pvt$
a~  ^[[:alnum:]/._:@\-]+$
# a map that never ends is refused
rs  ^loop-a             loop-b
rs  ^loop-b             loop-a
"""
FILES = ["boot/pxelinux.0", "pxelinux.0", "x", "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff", "images/42.bin",
         "127.0.0.1/mine", "7F000001.cfg", "::1/mine", "00000000000000000000000000000001.cfg",
         "UP/README.TXT", "ok/keys.pvt", "ok/a b", "keys.pvt", "got/file", "cafe-2bytes", "café",
         from_bytes(b"raw/" + GBK + b".img"), from_bytes(b"raw/" + GBK + b".BIN"), "new/x", "new\\x",
         "a b", "loop-b"]
READS_V4 = ["\\boot\\pxelinux.0", "C:\\boot\\pxelinux.0", "c:/boot/pxelinux.0", "/boot/pxelinux.0",
            "boot/pxelinux.0", "BOOT/pxelinux.0", "pxelinux.0", "//pxelinux.0",
            "pxelinux.cfg/01-AA-BB-CC-DD-EE-FF", "PXELINUX.CFG\\01-aa-BB-cc-DD-ee-FF",
            "pxelinux.cfg/01-aa-bb-cc-dd-ee-zz", "img42.bin", "img42.BIN", "imgx.bin", "mine", "hex",
            "up/readme.txt", "ok/keys.pvt", "keys.pvt", "ok/a b", "a b", "get/file", "got/file",
            "café", "cafe", from_bytes(b"raw/" + GBK + b".BIN"), from_bytes(b"RAW/" + GBK + b".bin"),
            "nothere", "loop-a", "x"]
READS_V6 = ["mine", "hex", "x"]


def _answers(host: str, port: int) -> bool:
    try:
        return rrq(host, port, "sockdash-probe-no-such-file", timeout=0.2)[0] == "error"
    except (TimeoutError, ConnectionRefusedError):
        return False


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("remap_interop")
    root = base / "root"
    for name in FILES:
        path = root / from_bytes(to_bytes(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(to_bytes(name) + b"\n")
    (root / "put").mkdir()
    (root / "put" / "up").write_bytes(b"")
    (root / "put" / "up").chmod(0o666)  # in.tftpd writes as nobody, only to existing files
    (root / "got" / "up").write_bytes(b"")
    (root / "got" / "up").chmod(0o666)
    root.chmod(0o755)
    (base / "map").write_bytes(MAP)
    return root, base / "map"


def _tftpd(root: Path, map_file: Path, host: str) -> Iterator[int]:
    binary = shutil.which("in.tftpd") or "/usr/sbin/in.tftpd"
    port = harness.free_udp_port("127.0.0.1")
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    proc = subprocess.Popen([binary, "-L", "-s", "-a", address, "-m", str(map_file), str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        harness.wait_for(lambda: proc.poll() is not None or _answers(host, port), 5.0, f"in.tftpd on {address}")
        assert proc.poll() is None, f"in.tftpd exited with {proc.returncode}"
        yield port
    finally:  # the daemon and the children it forked for transfers (its own process group)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(5)


@pytest.fixture(scope="module")
def tftpd_v4(tree: tuple[Path, Path]) -> Iterator[int]:
    yield from _tftpd(*tree, "127.0.0.1")


@pytest.fixture(scope="module")
def tftpd_v6(tree: tuple[Path, Path]) -> Iterator[int]:
    yield from _tftpd(*tree, "::1")


def ours(root: Path, name: str, client: str, write: bool = False) -> tuple[str, bytes | int]:
    """What sockdash would send, served the way tftpd -s serves the rewritten name."""
    try:
        chosen = RemapRules.parse(from_bytes(MAP)).apply(name, client, write)
    except RemapRefused:
        return "error", 2
    path = root / chosen.lstrip("/")
    return ("data", path.read_bytes()) if path.is_file() else ("error", 1)


@pytest.mark.parametrize("name", READS_V4)
def test_ipv4_reads_select_the_same_file(tree: tuple[Path, Path], tftpd_v4: int, name: str) -> None:
    assert rrq("127.0.0.1", tftpd_v4, name) == ours(tree[0], name, "127.0.0.1")


@pytest.mark.parametrize("name", READS_V6)
def test_ipv6_reads_select_the_same_file(tree: tuple[Path, Path], tftpd_v6: int, name: str) -> None:
    theirs = rrq("::1", tftpd_v6, name)
    assert theirs == ours(tree[0], name, "::1")
    assert theirs[0] == "data"


def test_every_kind_of_answer_was_compared(tree: tuple[Path, Path]) -> None:
    """The names above reach files through each rule kind, and also not-found and refusals."""
    outcomes = set()
    for name in READS_V4:
        kind, value = ours(tree[0], name, "127.0.0.1")
        outcomes.add(kind if kind == "data" else (kind, value))
    assert outcomes == {"data", ("error", 1), ("error", 2)}


def test_a_write_goes_where_P_rules_send_it(tree: tuple[Path, Path], tftpd_v4: int) -> None:
    root = tree[0]
    assert RemapRules.parse(from_bytes(MAP)).apply("got/up", "127.0.0.1", True) == "put/up"
    assert wrq("127.0.0.1", tftpd_v4, "got/up", b"written") == ("ack", 1)
    harness.wait_for(lambda: (root / "put" / "up").read_bytes() == b"written", 5.0, "in.tftpd wrote put/up")
    assert (root / "got" / "up").read_bytes() == b""


def test_s_restarts_at_the_first_rule(tree: tuple[Path, Path], tftpd_v4: int) -> None:
    """The one place we follow tftpd(8) and current tftp-hpa rather than Debian's 5.2 build:
    after an s rule, 5.2 goes on at the second rule, so its first (backslashes) is skipped."""
    assert rrq("127.0.0.1", tftpd_v4, "old/x") == ("data", b"new\\x\n")
    assert ours(tree[0], "old/x", "127.0.0.1") == ("data", b"new/x\n")
