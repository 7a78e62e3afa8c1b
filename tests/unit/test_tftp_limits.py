"""One host cannot lock the TFTP server or eat its memory; replies never outgrow requests;
a failed upload keeps nothing, not even its folders. The server runs in-process on free
loopback ports (gevent sockets); peers that never acknowledge are plain sockets."""

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import gevent
import pytest
from gevent import socket

from sockets_core.bus import Bus
from sockets_core.files import AtomicWriter, FileStore
from sockets_core.packetlog import PacketLog
from sockets_core.servers.tftp_admission import TftpAdmission
from sockets_core.servers.tftp_policy import TftpPolicy
from sockets_core.services import Services
from sockets_core.settings import Settings, SettingsError, parse_settings
from sockets_core.tftp import error_reply
from sockets_core.tftp.access import AccessList
from sockets_core.tftp.packets import (
    RRQ,
    WRQ,
    Error,
    OptionAck,
    Request,
    decode,
    encode_ack,
    encode_data,
    encode_error,
    encode_request,
)
from sockets_core.tftp.remap import RemapFile


@pytest.fixture
def tftp(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Services, tuple[str, int]]]:
    overrides = getattr(request, "param", {})
    values: dict[str, object] = {"host": "127.0.0.1", "root": tmp_path, "tftp_port": 0,
                                 "disabled": frozenset({"tcp_chat", "udp_chat", "file", "syslog"}), **overrides}
    settings = Settings(**values)  # type: ignore[arg-type]
    bus = Bus()
    svc = Services(settings, bus, PacketLog(bus), FileStore(tmp_path, settings.max_upload))
    svc.start_all()
    try:
        yield svc, ("127.0.0.1", svc.endpoints["tftp"].port)
    finally:
        svc.stop_all()


def udp(source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.settimeout(5)
    return sock


def ask(server: tuple[str, int], packet: bytes, source: str = "127.0.0.1") -> tuple[bytes, socket.socket]:
    """Send one request from a new port; the first answer (the caller closes the socket)."""
    sock = udp(source)
    sock.sendto(packet, server)
    return sock.recvfrom(65536)[0], sock


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        gevent.sleep(0.01)


@pytest.mark.parametrize("tftp", [{"tftp_max_per_peer": 3}], indirect=True)
def test_one_host_gets_at_most_its_share_and_another_host_is_still_served(
        tftp: tuple[Services, tuple[str, int]], caplog: pytest.LogCaptureFixture) -> None:
    svc, server = tftp
    (svc.store.root / "pxelinux.0").write_bytes(b"x" * 100_000)  # a PXE request with its options
    rrq = encode_request(RRQ, "pxelinux.0", "octet", {"timeout": "20", "tsize": "0", "blksize": "1456"})
    socks = []
    try:
        with caplog.at_level(logging.WARNING, "sockets_core.servers.tftp"):
            for _ in range(3):  # never acknowledged: they hold their slots
                first, sock = ask(server, rrq)
                socks.append(sock)
                assert isinstance(decode(first), OptionAck)
            for _ in range(5):
                refused, sock = ask(server, rrq)
                socks.append(sock)
                assert decode(refused) == Error(0, "too many transfers from your address")
            served, sock = ask(server, rrq, source="127.0.0.2")
            socks.append(sock)
            assert isinstance(decode(served), OptionAck)
        warnings = [r.getMessage() for r in caplog.records if "--tftp-max-per-peer" in r.getMessage()]
        assert len(warnings) == 1 and "127.0.0.1 has 3 transfers" in warnings[0]  # rate-limited
        assert svc.status()["services"]["tftp"]["clients"] == 4
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("tftp", [{"tftp_window_bytes_total": 24 * 65464}], indirect=True)
def test_the_windows_of_all_downloads_together_are_capped(
        tftp: tuple[Services, tuple[str, int]], caplog: pytest.LogCaptureFixture) -> None:
    svc, server = tftp
    (svc.store.root / "big.bin").write_bytes(b"y" * (4 << 20))
    greedy = encode_request(RRQ, "big.bin", "octet", {"blksize": "65464", "windowsize": "65535"})
    socks = []
    try:
        with caplog.at_level(logging.WARNING, "sockets_core.servers.tftp"):
            granted = []
            for _ in range(3):
                oack, sock = ask(server, greedy)
                socks.append(sock)
                granted.append(decode(oack).options["windowsize"])  # type: ignore[union-attr]
        assert granted == ["16", "8", "1"]  # 1 MiB each by --tftp-window-bytes, then what is left
        assert any("--tftp-window-bytes-total" in r.getMessage() for r in caplog.records)
        assert any("--tftp-window-bytes 1048576" in r.getMessage() for r in caplog.records)
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("tftp", [{"tftp_write": True}], indirect=True)
@pytest.mark.parametrize("request_bytes", [
    encode_request(RRQ, "f.bin", "octet")[:-6] + b"x" * 300 + b"\0",  # a long unknown mode was echoed 4x
    encode_request(RRQ, "f.bin", "octet")[:-6] + b"\xff" * 300 + b"\0",
    b"\x00\x01" + b"\x01" * 40,  # no NUL
    encode_request(RRQ, "no", "octet"),  # not found
    encode_request(RRQ, "../x", "octet"),  # access violation
    encode_request(WRQ, "f.bin", "octet", {"tsize": str(1 << 40)}),  # over the upload limit
])
def test_an_error_reply_is_never_larger_than_the_request(tftp: tuple[Services, tuple[str, int]],
                                                         request_bytes: bytes) -> None:
    reply, sock = ask(tftp[1], request_bytes)
    sock.close()
    assert isinstance(decode(reply), Error) and len(reply) <= len(request_bytes)


def test_error_replies_are_cut_at_a_character_boundary() -> None:
    assert error_reply.within(1, "Not found", 14) == encode_error(1, "Not found")
    assert error_reply.within(0, "ab\u00e9", 8) == encode_error(0, "ab")  # é is 2 bytes: not half of it
    assert error_reply.within(0, "x", 4) is None  # no valid ERROR is that short: say nothing
    assert error_reply.fit(encode_error(5, "Unknown transfer ID"), 4) == encode_error(5, "")
    assert error_reply.fit(encode_data(1, b"z" * 512), 4) == encode_data(1, b"z" * 512)


@pytest.mark.parametrize("tftp", [{"tftp_write": True, "max_upload": 1000}], indirect=True)
def test_a_failed_or_abandoned_upload_removes_the_folders_it_created(tftp: tuple[Services, tuple[str, int]]) -> None:
    svc, server = tftp
    root = svc.store.root
    (root / "kept").mkdir()
    refused, sock = ask(server, encode_request(WRQ, "new/deeper/f.bin", "octet", {"tsize": "5000"}))
    sock.close()
    assert decode(refused).code == 3  # type: ignore[union-attr]
    sock = udp()
    try:  # an upload that starts, then the client gives up
        sock.sendto(encode_request(WRQ, "kept/made/f.bin", "octet"), server)
        _, transfer_port = sock.recvfrom(100)  # ACK 0 from the transfer's own port
        sock.sendto(encode_data(1, b"a" * 512), transfer_port)
        sock.recvfrom(100)
        assert (root / "kept" / "made").is_dir()  # the upload is under way in its new folder
        sock.sendto(encode_error(0, "user cancelled"), transfer_port)
        wait_until(lambda: any(r["result"] and "cancelled" in r["result"] for r in svc.transfers.snapshot()))
    finally:
        sock.close()
    wait_until(lambda: not (root / "kept" / "made").exists())
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == ["kept"]


def test_abort_keeps_folders_that_existed_or_got_other_files(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    writer = AtomicWriter(tmp_path / "old" / "a" / "b" / "f", overwrite=False, limit=100)
    (tmp_path / "old" / "a" / "other.txt").write_text("someone else's")
    writer.abort()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "old", "old/a", "old/a/other.txt"]


@pytest.mark.parametrize("tftp", [{"tftp_write": True, "tftp_max_per_peer": 1}], indirect=True)
def test_a_finished_upload_lingers_for_a_late_repeat_without_holding_a_slot(
        tftp: tuple[Services, tuple[str, int]]) -> None:
    """tftp-hpa repeats its last DATA after 5 s when our final ACK was lost: the old 1 s of
    lingering had closed the port by then and the client failed an upload we had kept."""
    svc, server = tftp
    sock = udp()
    try:
        sock.sendto(encode_request(WRQ, "cfg.txt", "octet"), server)
        _, transfer_port = sock.recvfrom(100)
        sock.sendto(encode_data(1, b"hostname sw1\n"), transfer_port)
        final = sock.recvfrom(100)[0]  # ... which the client does not get, say
        wait_until(lambda: (svc.store.root / "cfg.txt").exists())
        again, other = ask(server, encode_request(RRQ, "cfg.txt", "octet", {"tsize": "0"}))
        other.close()
        assert isinstance(decode(again), OptionAck)  # the slot (1 per IP here) is free again
        gevent.sleep(1.5)  # past the old lingering second (the client waits its 5 s timer)
        sock.sendto(encode_data(1, b"hostname sw1\n"), transfer_port)
        assert sock.recvfrom(100)[0] == final
    finally:
        sock.close()


def test_the_request_limit_table_stays_bounded_under_a_flood_of_new_addresses() -> None:
    """Spoofed sources: 20,000 new addresses in one second keep the table at its bound (the
    old table kept them all and rebuilt itself on every datagram past 4,096)."""
    from sockets_core.ratelimit import PerSecondLimit

    limit = PerSecondLimit(50, max_keys=1000)
    for n in range(20_000):
        assert limit.check(f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}", 100.0 + n / 100_000) == 0
    assert len(limit._windows) == 1000
    # a host seen recently keeps its count: its 51st request in the second is over the limit
    for _ in range(50):
        limit.check("192.0.2.9", 100.5)
    assert limit.check("192.0.2.9", 100.5) == 1


@pytest.mark.parametrize("tftp", [{"tftp_requests_per_peer": 5}], indirect=True)
def test_repeated_requests_count_against_the_per_peer_limit(tftp: tuple[Services, tuple[str, int]]) -> None:
    """Each repeat of a request resends the first answer (a 516-byte DATA for a 14-byte RRQ):
    unlimited, a spoofed source would make the server an amplifier."""
    svc, server = tftp
    (svc.store.root / "big.bin").write_bytes(b"x" * 100_000)
    request = encode_request(RRQ, "big.bin", "octet", {})
    answer, sock = ask(server, request)
    try:
        assert decode(answer).__class__.__name__ == "Data"
        for _ in range(100):
            sock.sendto(request, server)
        answers = 0
        sock.settimeout(0.5)
        while True:
            try:
                sock.recvfrom(65536)
            except TimeoutError:
                break
            answers += 1
        assert answers <= 5, f"{answers} answers to 100 repeats with a limit of 5 requests a second"
    finally:
        sock.close()


# -- TFTP rules (issue 14): the pure parts; tests/integration/test_tftp_rules_live.py has the process --------

def test_commit_first_free_takes_the_first_free_number_and_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "sw1.cfg"
    target.write_text("original\n")
    (tmp_path / "sw1.cfg.2").write_text("someone else's\n")
    first, second = (AtomicWriter(target, overwrite=True, limit=100) for _ in range(2))  # both under way at once
    first.write(b"first\n")
    second.write(b"second\n")
    assert first.commit_first_free(1000) == tmp_path / "sw1.cfg.1"
    assert second.commit_first_free(1000) == tmp_path / "sw1.cfg.3"  # .2 was taken meanwhile
    assert second.target == tmp_path / "sw1.cfg.3"
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {
        "sw1.cfg": "original\n", "sw1.cfg.1": "first\n", "sw1.cfg.2": "someone else's\n", "sw1.cfg.3": "second\n"}


def test_commit_first_free_gives_up_after_its_tries_and_keeps_nothing(tmp_path: Path) -> None:
    for name in ("f", "f.1", "f.2"):
        (tmp_path / name).write_text("taken")
    writer = AtomicWriter(tmp_path / "f", overwrite=True, limit=100)
    writer.write(b"new")
    with pytest.raises(FileExistsError):
        writer.commit_first_free(2)
    writer.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "f.1", "f.2"]


def policy_with(tmp_path: Path, map_text: str = "", **kwargs: object) -> TftpPolicy:
    remap = None
    if map_text:
        (tmp_path / "rules.map").write_text(map_text)
        remap = RemapFile(str(tmp_path / "rules.map"))
    return TftpPolicy(FileStore(tmp_path), remap=remap, **kwargs)  # type: ignore[arg-type]


def test_the_access_lists_come_before_the_map(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, "a . the\\ map\\ refuses\\ everything\n",
                         read_allow=AccessList.from_cidrs(["10.0.0.0/8"]))
    ruling = policy.rule(Request(RRQ, "x", "octet"), "192.0.2.1", "192.0.2.1:1000")
    assert (ruling.refusal, ruling.message) == ("Access violation (192.0.2.1 is not in --tftp-allow)",
                                                "Access violation")
    ruling = policy.rule(Request(RRQ, "x", "octet"), "10.1.2.3", "10.1.2.3:1000")
    assert ruling.message == "the map refuses everything" and ruling.refusal.endswith("(--tftp-map, line 1)")  # type: ignore[union-attr]


def test_writes_follow_the_write_list_else_the_read_list(tmp_path: Path) -> None:
    reads = AccessList.from_cidrs(["10.0.0.0/8"])
    only_reads = policy_with(tmp_path, read_allow=reads)
    assert only_reads.rule(Request(WRQ, "x", "octet"), "192.0.2.1", "p").refusal is not None
    both = policy_with(tmp_path, read_allow=reads, write_allow=AccessList.from_cidrs(["10.9.0.0/16"]))
    assert both.rule(Request(WRQ, "x", "octet"), "10.1.0.1", "p").refusal == \
        "Access violation (10.1.0.1 is not in --tftp-write-allow)"
    assert both.rule(Request(WRQ, "x", "octet"), "10.9.0.1", "p").refusal is None
    assert both.rule(Request(RRQ, "x", "octet"), "10.1.0.1", "p").refusal is None


def test_the_map_then_the_upload_folder_then_the_refused_options(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, "r ^ \\i/\n", write_dir="incoming", refuse=frozenset({"blksize"}))
    asked = Request(WRQ, "sw1.cfg", "octet", {"blksize": "1468", "tsize": "20"})
    ruling = policy.rule(asked, "10.0.0.7", "p")
    assert ruling.request == Request(WRQ, "incoming/10.0.0.7/sw1.cfg", "octet", {"tsize": "20"})
    assert ruling.asked == "sw1.cfg" and ruling.refusal is None
    assert policy.rule(Request(RRQ, "boot.cfg", "octet"), "10.0.0.7", "p").request.filename == "10.0.0.7/boot.cfg"
    # the client's own name is checked before it goes into the folder: no escape through it
    plain = policy_with(tmp_path, write_dir="incoming")
    for name in ("../x", "/../x", "a/../../x"):
        assert plain.rule(Request(WRQ, name, "octet"), "10.0.0.7", "p").refusal is not None, name
    # a leading "/" names the file root (tftpd-hpa -s): the upload still lands in the folder
    assert plain.rule(Request(WRQ, "/etc/x", "octet"), "10.0.0.7", "p").request.filename == "incoming/etc/x"


def test_a_leading_slash_names_the_file_root_as_with_tftpd_hpa(tmp_path: Path) -> None:
    policy = policy_with(tmp_path)
    for asked in ("/boot/pxelinux.0", "//boot/pxelinux.0", "\\boot\\pxelinux.0"):
        assert policy.rule(Request(RRQ, asked, "octet"), "10.0.0.7", "p").request.filename.replace("\\", "/") \
            == "boot/pxelinux.0", asked


def test_the_packet_log_line_names_both_files_only_when_they_differ(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, "rg \\\\ /\n")
    data = encode_request(RRQ, "boot\\pxelinux.0", "octet")
    ruling = policy.rule(decode(data), "10.0.0.7", "p")  # type: ignore[arg-type]
    assert ruling.summary(data) == "RRQ boot\\pxelinux.0 octet, served boot/pxelinux.0"
    same = encode_request(RRQ, "boot/pxelinux.0", "octet")
    assert policy.rule(decode(same), "10.0.0.7", "p").summary(same) == ""  # type: ignore[arg-type]


def test_rule_flags_from_the_environment_and_the_command_line() -> None:
    settings = parse_settings(["--tftp-refuse", "BLKSIZE", "--tftp-port-range", "50000:50010"],
                              {"SOCKDASH_TFTP_ALLOW": "10.0.0.0/8, 192.168.1.7", "SOCKDASH_TFTP_RENAME": "1",
                               "SOCKDASH_TFTP_WRITE_DIR": "uploads\\switches\\", "SOCKDASH_TFTP_REFUSE": "tsize"})
    assert settings.tftp_allow == ("10.0.0.0/8", "192.168.1.7/32")
    assert settings.tftp_refuse == frozenset({"blksize"})  # the command line wins over the environment
    assert (settings.tftp_port_range, settings.tftp_rename, settings.tftp_write_dir) == ((50000, 50010), True,
                                                                                         "uploads/switches")
    with pytest.raises(SettingsError, match="SOCKDASH_TFTP_WRITE_ALLOW: invalid network 'x'"):
        parse_settings([], {"SOCKDASH_TFTP_WRITE_ALLOW": "x"})


def test_a_range_without_a_free_port_refuses_from_the_well_known_port(
        tftp: tuple[Services, tuple[str, int]], caplog: pytest.LogCaptureFixture) -> None:
    svc, server = tftp
    (svc.store.root / "boot.cfg").write_text("x")  # the file is there: the port is what is missing
    holder = udp()  # the range's one port, taken
    port = holder.getsockname()[1]
    svc._servers["tftp"].admission.port_range = (port, port)  # type: ignore[attr-defined]
    request = encode_request(RRQ, "boot.cfg", "octet", {"timeout": "5", "tsize": "0"})
    try:
        with caplog.at_level(logging.WARNING, "sockets_core.servers.tftp"):
            for _ in range(3):
                with udp() as sock:
                    sock.sendto(request, server)
                    answer, source = sock.recvfrom(100)
                assert decode(answer) == Error(0, "no free transfer port") and source == server
    finally:
        holder.close()
    assert len([r for r in caplog.records if f"--tftp-port-range {port}:{port}" in r.getMessage()]) == 1
    assert [t["result"] for t in svc.transfers.snapshot()] == ["ERROR 0: no free transfer port"] * 3


def test_the_readme_pxe_map_does_what_the_readme_says(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("# /etc/sockdash/pxe.map\n", 1)[1].split("```", 1)[0]
    policy = policy_with(tmp_path, block)

    def served(name: str) -> str:
        return policy.rule(Request(RRQ, name, "octet"), "10.0.0.7", "p").request.filename

    assert served("\\boot\\pxelinux.0") == "boot/pxelinux.0"
    assert served("/pxelinux.cfg/default") == "clients/10.0.0.7/default"
    refused = policy.rule(Request(RRQ, "host.key", "octet"), "10.0.0.7", "p")
    assert refused.message == "no keys"


def test_a_map_that_never_ends_is_refused_and_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    policy = policy_with(tmp_path, "rg a aa\n")
    policy.warn = TftpAdmission().warn  # as the server sets it: throttled
    with caplog.at_level(logging.WARNING, "sockets_core.servers.tftp"):
        for _ in range(5):
            ruling = policy.rule(Request(RRQ, "a.cfg", "octet"), "10.0.0.7", "10.0.0.7:1000")
            assert ruling.message == "Remap table failure"
            assert ruling.refusal == "Remap table failure (--tftp-map, no end)"
    warnings = [r.getMessage() for r in caplog.records if "steps" in r.getMessage()]
    assert len(warnings) == 1 and "took over 4096 steps on 'a.cfg' from 10.0.0.7:1000" in warnings[0]


@pytest.mark.parametrize("tftp", [{"host": "::", "tftp_allow": ("127.0.0.0/8",), "tftp_port_range": (61990, 61999)}],
                         indirect=True)
def test_the_rules_on_a_dual_stack_socket(tftp: tuple[Services, tuple[str, int]]) -> None:
    """With --host :: an IPv4 client is ::ffff:127.0.0.1: the IPv4 allow list still takes it,
    its transfer port is in the range; ::1 is not in the list."""
    svc, (_, port) = tftp
    (svc.store.root / "boot.cfg").write_text("x" * 10)
    with udp() as sock:
        sock.sendto(encode_request(RRQ, "boot.cfg", "octet"), ("127.0.0.1", port))
        answer, source = sock.recvfrom(100)
        sock.sendto(encode_ack(1), source)
    assert answer == encode_data(1, b"x" * 10) and 61990 <= source[1] <= 61999
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as six:
        six.settimeout(5)
        six.sendto(encode_request(RRQ, "boot.cfg", "octet", {"timeout": "5"}), ("::1", port))
        assert decode(six.recvfrom(100)[0]) == Error(2, "Access violation")
