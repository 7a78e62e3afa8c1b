"""TFTP rules (issue 14) against the real process, with real clients (tftp-hpa, curl, atftp)
and raw UDP sockets bound to 127.0.0.2 and 127.0.0.3 (other hosts of the loopback network):
the file-name map (--tftp-map: PXE's DOS paths, per-client folders, refusing rules, SIGHUP),
who may read and write (--tftp-allow, --tftp-write-allow), the transfer ports
(--tftp-port-range), options never granted (--tftp-refuse), the upload folder
(--tftp-write-dir) and uploads to a taken name (--tftp-rename)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sockets_core.tftp.packets import RRQ, WRQ, Error, OptionAck, decode, encode_ack, encode_data, encode_request
from tests import harness
from tests.harness import transfers

HOST = "127.0.0.1"
OTHER, STRANGER = "127.0.0.2", "127.0.0.3"

PXE_MAP = r"""# PXE firmware sends DOS paths: \boot\pxelinux.0
rg  \\          /
# names are relative to the file root
r   ^/+
a   \.key$      keys\ stay\ here
# each client its own folder: mine/x is <client address>/x
r   ^mine/      \i/
"""


def udp(source: str = HOST) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.settimeout(5)
    return sock


def fetch(port: int, name: str, source: str = HOST,
          options: dict[str, str] | None = None) -> tuple[bytes | Error, tuple[str, int], dict[str, str]]:
    """Download ``name`` in lock-step from ``source``: (the file or the ERROR, where the
    first answer came from, the OACK's options)."""
    with udp(source) as sock:
        sock.sendto(encode_request(RRQ, name, "octet", options), (HOST, port))
        content, granted, blksize, first = b"", {}, 512, None
        while True:
            data, address = sock.recvfrom(65536)
            first = first or address
            packet = decode(data)
            if isinstance(packet, Error):
                return packet, first, granted
            if isinstance(packet, OptionAck):
                granted = packet.options
                blksize = int(granted.get("blksize", 512))
                sock.sendto(encode_ack(0), address)
                continue
            content += packet.payload  # type: ignore[union-attr]
            sock.sendto(encode_ack(packet.block), address)  # type: ignore[union-attr]
            if len(packet.payload) < blksize:  # type: ignore[union-attr]
                return content, first, granted


def ask(port: int, packet: bytes, source: str = HOST) -> tuple[bytes, tuple[str, int]]:
    """One request, its first answer (raw) and where it came from."""
    with udp(source) as sock:
        sock.sendto(packet, (HOST, port))
        return sock.recvfrom(65536)


def hpa(port: int, *command: str, cwd: Path) -> str:
    result = subprocess.run(["tftp", HOST, str(port), "-m", "binary", "-c", *command], cwd=cwd,
                            capture_output=True, text=True, timeout=30)
    return (result.stdout + result.stderr).lower()


def lines(proc: harness.Sockdash, pattern: str) -> list[str]:
    return [line for line in list(proc.output) if re.search(pattern, line)]


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Sockdash]:
    tmp = tmp_path_factory.mktemp("mapped")
    (tmp / "pxe.map").write_text(PXE_MAP)
    proc = harness.start(tmp, "--tftp-write", "--tftp-map", str(tmp / "pxe.map"))
    (proc.root / "boot").mkdir()
    (proc.root / "boot" / "pxelinux.0").write_bytes(os.urandom(3000))
    for host in (OTHER, STRANGER):
        (proc.root / host).mkdir()
        (proc.root / host / "boot.cfg").write_text(f"config of {host}\n")
    (proc.root / "server.key").write_text("secret\n")
    yield proc
    assert proc.stop() == 0  # SIGTERM still stops it cleanly with the SIGHUP handler in place


def test_a_dos_path_is_served_under_its_mapped_name_and_both_names_are_shown(
        mapped: harness.Sockdash, tmp_path: Path) -> None:
    output = hpa(mapped.ports["tftp"], "get", "\\boot\\pxelinux.0", "got", cwd=tmp_path)
    assert (tmp_path / "got").read_bytes() == (mapped.root / "boot" / "pxelinux.0").read_bytes(), output
    record = mapped.wait_for(lambda: transfers(mapped, file="boot/pxelinux.0", status="ok"))[0]
    assert record["asked"] == "\\boot\\pxelinux.0" and record["direction"] == "download"
    events = mapped.get_json("/api/packets?service=tftp&limit=10000")["events"]
    summaries = [e["summary"] for e in events if e["summary"].startswith("RRQ")]
    assert any(s.startswith("RRQ \\boot\\pxelinux.0 octet") and s.endswith(", served boot/pxelinux.0")
               for s in summaries), summaries


def test_each_client_gets_the_file_of_its_own_folder(mapped: harness.Sockdash) -> None:
    for host in (OTHER, STRANGER):
        content, _, _ = fetch(mapped.ports["tftp"], "mine/boot.cfg", source=host)
        assert content == f"config of {host}\n".encode()


def test_a_refusing_rule_answers_access_violation_with_its_text(mapped: harness.Sockdash, tmp_path: Path) -> None:
    answer, _, _ = fetch(mapped.ports["tftp"], "server.key")
    assert answer == Error(2, "keys stay here")
    record = mapped.wait_for(lambda: transfers(mapped, file="server.key", status="refused"))[0]
    assert record["result"].startswith("ERROR 2: keys stay here (--tftp-map, line 5)")
    (tmp_path / "new.key").write_text("not stored\n")
    assert "error code 2" in hpa(mapped.ports["tftp"], "put", "new.key", "new.key", cwd=tmp_path)
    assert not (mapped.root / "new.key").exists()


def test_an_upload_is_stored_under_its_mapped_name(mapped: harness.Sockdash, tmp_path: Path) -> None:
    (tmp_path / "sw1.cfg").write_text("hostname sw1\n")
    output = hpa(mapped.ports["tftp"], "put", "sw1.cfg", "\\configs\\sw1.cfg", cwd=tmp_path)
    record = mapped.wait_for(lambda: transfers(mapped, file="configs/sw1.cfg", status="ok"), timeout=10)[0]
    assert (mapped.root / "configs" / "sw1.cfg").read_text() == "hostname sw1\n", output
    assert record["asked"] == "\\configs\\sw1.cfg" and record["direction"] == "upload"


def test_sighup_reloads_the_map_and_the_process_keeps_serving(mapped: harness.Sockdash, tmp_path: Path) -> None:
    """Last in the module: the map changes. No request between the change and the signal,
    so only SIGHUP can have read it (the check on change runs with a request)."""
    map_file = mapped.root.parent / "pxe.map"
    before = len(lines(mapped, r"tftp map .* reloaded"))
    map_file.write_text(PXE_MAP + "r ^latest$ boot/pxelinux.0\n")
    mapped.proc.send_signal(signal.SIGHUP)
    mapped.wait_for(lambda: len(lines(mapped, r"tftp map .* reloaded: 5 rules")) > before)
    content, _, _ = fetch(mapped.ports["tftp"], "latest")
    assert content == (mapped.root / "boot" / "pxelinux.0").read_bytes()
    assert mapped.proc.poll() is None


def test_a_bad_map_stops_sockdash_with_one_line_naming_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad.map").write_text("r ^a b\nq ^x y\n")
    result = harness.run_to_exit(tmp_path, "--tftp-map", str(tmp_path / "bad.map"), *harness.ALL_PORTS_ZERO)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "bad.map line 2: unknown flag 'q'" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Sockdash]:
    tmp = tmp_path_factory.mktemp("guarded")
    (tmp / "deny.map").write_text("a ^forbidden\n")
    proc = harness.start(tmp, "--tftp-write", "--tftp-write-allow", f"{OTHER}/32", "--tftp-map", str(tmp / "deny.map"),
                         env={"SOCKDASH_TFTP_ALLOW": f"{HOST}/32, {OTHER}/32"})
    yield proc
    proc.stop()


def test_a_host_outside_the_allow_list_gets_access_violation_before_the_map_and_any_file(
        guarded: harness.Sockdash) -> None:
    port = guarded.ports["tftp"]
    for name in ["hello.txt", "missing.bin", "forbidden.txt"] * 7:
        request = encode_request(RRQ, name, "octet")
        answer, source = ask(port, request, source=STRANGER)
        error = decode(answer)  # cut to the request's size: never an amplifier
        assert isinstance(error, Error) and error.code == 2 and "Access violation".startswith(error.message)
        assert len(answer) <= len(request) and len(error.message) >= 8
        assert source == (HOST, port)  # from the well-known port: no transfer began
    refused = guarded.wait_for(lambda: len(r := transfers(guarded, file="forbidden.txt", status="refused")) == 7 and r)
    assert all(r["result"] == f"ERROR 2: Access violation ({STRANGER} is not in --tftp-allow)" for r in refused)
    assert len(transfers(guarded, file="missing.bin", status="refused")) == 7
    # one WARNING for the 21 refusals: a refused host cannot flood the log
    guarded.wait_for(lambda: lines(guarded, f"WARNING .*{STRANGER}.* is not in --tftp-allow"))
    assert len(lines(guarded, f"WARNING .*{STRANGER}.* is not in --tftp-allow")) == 1
    content, _, _ = fetch(port, "hello.txt", source=OTHER)
    assert content == (guarded.root / "hello.txt").read_bytes()


def test_uploads_follow_the_write_allow_list(guarded: harness.Sockdash, tmp_path: Path) -> None:
    port = guarded.ports["tftp"]
    (tmp_path / "a.cfg").write_text("from 127.0.0.1\n")
    assert "error code 2" in hpa(port, "put", "a.cfg", "a.cfg", cwd=tmp_path)  # may read, not write
    assert not (guarded.root / "a.cfg").exists()
    answer, _ = ask(port, encode_request(WRQ, "config-of-c.cfg", "octet"), source=STRANGER)
    assert decode(answer) == Error(2, "Access violation")
    with udp(OTHER) as sock:
        sock.sendto(encode_request(WRQ, "b.cfg", "octet"), (HOST, port))
        answer, address = sock.recvfrom(100)
        assert answer == encode_ack(0)
        sock.sendto(encode_data(1, b"from .2\n"), address)
        assert sock.recvfrom(100)[0] == encode_ack(1)
    guarded.wait_for(lambda: (guarded.root / "b.cfg").exists())
    assert (guarded.root / "b.cfg").read_bytes() == b"from .2\n"
    assert transfers(guarded, file="a.cfg", status="refused")[0]["result"] == \
        f"ERROR 2: Access violation ({HOST} is not in --tftp-write-allow)"


def free_port_range(count: int) -> tuple[int, int]:
    """``count`` consecutive UDP ports free on HOST, above the kernel's ephemeral range (no
    other program is handed one of them meanwhile)."""
    for low in range(61000 + os.getpid() % 3000, 65535 - count, count):
        probes = []
        try:
            for port in range(low, low + count):
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probes.append(probe)
                probe.bind((HOST, port))
            return low, low + count - 1
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise AssertionError("no free port range")


@pytest.fixture(scope="module")
def ranged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[harness.Sockdash, tuple[int, int]]]:
    low, high = free_port_range(3)
    proc = harness.start(tmp_path_factory.mktemp("ranged"), "--tftp-port-range", f"{low}:{high}",
                         "--tftp-refuse", "blksize", "--tftp-refuse", "tsize")
    (proc.root / "1000.bin").write_bytes(os.urandom(1000))
    yield proc, (low, high)
    proc.stop()


def test_every_transfer_uses_a_port_of_the_range(ranged: tuple[harness.Sockdash, tuple[int, int]],
                                                 tmp_path: Path) -> None:
    proc, (low, high) = ranged
    ports = set()
    for _ in range(12):
        content, (_, port), _ = fetch(proc.ports["tftp"], "1000.bin")
        assert content == (proc.root / "1000.bin").read_bytes()
        ports.add(port)
    assert ports <= set(range(low, high + 1)) and len(ports) > 1  # a random start, not always the first
    curl = subprocess.run(["curl", "-sS", "--tftp-blksize", "1468", "-o", str(tmp_path / "c"),
                           f"tftp://{HOST}:{proc.ports['tftp']}/1000.bin"], capture_output=True, timeout=30)
    assert curl.returncode == 0 and (tmp_path / "c").read_bytes() == (proc.root / "1000.bin").read_bytes()


def test_with_every_port_of_the_range_taken_a_request_gets_error_0(
        ranged: tuple[harness.Sockdash, tuple[int, int]]) -> None:
    proc, (low, high) = ranged
    holders: list[socket.socket] = []
    try:
        for port in range(low, high + 1):  # a finished transfer's port is freed when its greenlet ends
            holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            holders.append(holder)
            proc.wait_for(lambda h=holder, p=port: _bound(h, p))
        request = encode_request(RRQ, "1000.bin", "octet", {"timeout": "5"})  # long enough for the whole text
        answer, source = ask(proc.ports["tftp"], request)
        assert decode(answer) == Error(0, "no free transfer port") and source == (HOST, proc.ports["tftp"])
    finally:
        for holder in holders:
            holder.close()
    assert transfers(proc, file="1000.bin", status="refused")[0]["result"] == "ERROR 0: no free transfer port"
    proc.wait_for(lambda: lines(proc, rf"WARNING .*all 3 ports of --tftp-port-range {low}:{high} are taken"))
    content, _, _ = fetch(proc.ports["tftp"], "1000.bin")  # ports free again: served again
    assert content == (proc.root / "1000.bin").read_bytes()


def _bound(sock: socket.socket, port: int) -> bool:
    try:
        sock.bind((HOST, port))
    except OSError:
        return False
    return True


def test_refused_options_are_never_acknowledged(ranged: tuple[harness.Sockdash, tuple[int, int]]) -> None:
    proc, _ = ranged
    expected = (proc.root / "1000.bin").read_bytes()
    content, _, granted = fetch(proc.ports["tftp"], "1000.bin", options={"blksize": "1468", "tsize": "0",
                                                                          "timeout": "3"})
    assert granted == {"timeout": "3"} and content == expected
    with udp() as sock:  # only refused options: no OACK at all, RFC 1350's 512-byte blocks at once
        sock.sendto(encode_request(RRQ, "1000.bin", "octet", {"blksize": "1468"}), (HOST, proc.ports["tftp"]))
        answer, address = sock.recvfrom(65536)
        assert answer[:4] == b"\x00\x03\x00\x01" and len(answer) == 4 + 512
        sock.sendto(encode_ack(1), address)
        assert len(sock.recvfrom(65536)[0]) == 4 + 1000 - 512
        sock.sendto(encode_ack(2), address)


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Sockdash]:
    proc = harness.start(tmp_path_factory.mktemp("uploads"), "--tftp-write", "--tftp-write-dir", "incoming",
                         "--tftp-rename")
    yield proc
    proc.stop()


def test_uploads_land_in_the_write_dir_and_reads_do_not(uploads: harness.Sockdash, tmp_path: Path) -> None:
    port = uploads.ports["tftp"]
    assert not (uploads.root / "incoming").exists()
    (tmp_path / "switch1.cfg").write_text("hostname switch1\n")
    hpa(port, "put", "switch1.cfg", "switch1.cfg", cwd=tmp_path)
    # the client is done at the final ACK; the upload is stored right after it
    record = uploads.wait_for(lambda: transfers(uploads, file="incoming/switch1.cfg", status="ok"))[0]
    assert record["asked"] == "switch1.cfg"
    assert (uploads.root / "incoming" / "switch1.cfg").read_text() == "hostname switch1\n"
    assert not (uploads.root / "switch1.cfg").exists()
    hpa(port, "get", "hello.txt", "hello.txt", cwd=tmp_path)  # reads: the whole root, as before
    assert (tmp_path / "hello.txt").read_bytes() == (uploads.root / "hello.txt").read_bytes()
    assert "error code 2" in hpa(port, "put", "switch1.cfg", "../escape.cfg", cwd=tmp_path)
    # "/" is the file root (tftpd-hpa -s): "/etc/escape.cfg" is etc/escape.cfg, in the folder too
    hpa(port, "put", "switch1.cfg", "/etc/escape.cfg", cwd=tmp_path)
    uploads.wait_for(lambda: transfers(uploads, file="incoming/etc/escape.cfg", status="ok"))
    assert not (uploads.root / "etc").exists()
    assert sorted(p.name for p in (uploads.root / "incoming").iterdir()) == ["etc", "switch1.cfg"]


def test_an_upload_to_a_taken_name_is_stored_under_the_first_free_number(
        uploads: harness.Sockdash, tmp_path: Path) -> None:
    port = str(uploads.ports["tftp"])
    for number in range(3):
        (tmp_path / f"v{number}").write_text(f"version {number}\n")
    incoming = uploads.root / "incoming"
    hpa(int(port), "put", "v0", "sw2.cfg", cwd=tmp_path)
    uploads.wait_for(lambda: (incoming / "sw2.cfg").exists())  # stored right after the client's last ACK
    subprocess.run(["curl", "-sS", "-T", str(tmp_path / "v1"), f"tftp://{HOST}:{port}/sw2.cfg"], timeout=30,
                   check=True)
    uploads.wait_for(lambda: (incoming / "sw2.cfg.1").exists())
    subprocess.run(["atftp", "-p", "-l", str(tmp_path / "v2"), "-r", "sw2.cfg", HOST, port], timeout=30, check=True)
    record = uploads.wait_for(lambda: transfers(uploads, file="incoming/sw2.cfg.2", status="ok"))[0]
    assert record["asked"] == "sw2.cfg"
    stored = {name: (incoming / name).read_text() for name in ("sw2.cfg", "sw2.cfg.1", "sw2.cfg.2")}
    assert stored == {"sw2.cfg": "version 0\n", "sw2.cfg.1": "version 1\n", "sw2.cfg.2": "version 2\n"}
    uploads.wait_for(lambda: lines(uploads, r"upload of 'incoming/sw2.cfg' .* done, 10 bytes, "
                                            r"stored as 'incoming/sw2.cfg.1'"))


def test_with_every_numbered_name_taken_an_upload_gets_error_6(uploads: harness.Sockdash, tmp_path: Path) -> None:
    incoming = uploads.root / "incoming"
    incoming.mkdir(exist_ok=True)
    for number in range(1001):
        (incoming / (f"full.cfg.{number}" if number else "full.cfg")).write_text("taken\n")
    (tmp_path / "full.cfg").write_text("new\n")
    assert "error code 6" in hpa(uploads.ports["tftp"], "put", "full.cfg", "full.cfg", cwd=tmp_path)
    assert not (incoming / "full.cfg.1001").exists()


@pytest.mark.parametrize(("args", "problem"), [
    (["--tftp-port-range", "0:10"], "invalid port range '0:10': ports 1-65535"),
    (["--tftp-port-range", "6000:5000"], "LOW not above HIGH"),
    (["--tftp-port-range", "6000"], "invalid port range '6000': use LOW:HIGH"),
    (["--tftp-port-range", "1:65536"], "ports 1-65535"),
    (["--tftp-refuse", "blocksize"], "unknown TFTP option 'blocksize'"),
    (["--tftp-allow", "10.0.0.0/33"], "invalid network '10.0.0.0/33'"),
    (["--tftp-write-dir", "../up"], "invalid upload folder '../up'"),
    (["--tftp-rename", "--tftp-overwrite"], "--tftp-rename and --tftp-overwrite contradict each other"),
])
def test_bad_rule_flags_stop_sockdash_with_one_clear_line(tmp_path: Path, args: list[str], problem: str) -> None:
    result = harness.run_to_exit(tmp_path, *args, *harness.ALL_PORTS_ZERO)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and problem in result.stderr, result.stderr
