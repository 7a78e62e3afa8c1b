"""The TFTP limits' pure parts: error replies cut to fit, the upload writer's cleanup and
numbering, the bounded request-limit table, the rules (access lists, map, upload folder).
The server on loopback sockets is tests/integration/test_tftp_limits_inprocess.py."""

import logging
from pathlib import Path

import pytest

from sockets_core.files import AtomicWriter, FileStore
from sockets_core.servers.tftp_admission import TftpAdmission
from sockets_core.servers.tftp_policy import TftpPolicy
from sockets_core.settings import SettingsError, parse_settings
from sockets_core.tftp import error_reply
from sockets_core.tftp.access import AccessList
from sockets_core.tftp.packets import (
    RRQ,
    WRQ,
    Request,
    decode,
    encode_data,
    encode_error,
    encode_request,
)
from sockets_core.tftp.remap import RemapFile


def test_error_replies_are_cut_at_a_character_boundary() -> None:
    assert error_reply.within(1, "Not found", 14) == encode_error(1, "Not found")
    assert error_reply.within(0, "ab\u00e9", 8) == encode_error(0, "ab")  # é is 2 bytes: not half of it
    assert error_reply.within(0, "x", 4) is None  # no valid ERROR is that short: say nothing
    assert error_reply.fit(encode_error(5, "Unknown transfer ID"), 4) == encode_error(5, "")
    assert error_reply.fit(encode_data(1, b"z" * 512), 4) == encode_data(1, b"z" * 512)


def test_abort_keeps_folders_that_existed_or_got_other_files(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    writer = AtomicWriter(tmp_path / "old" / "a" / "b" / "f", overwrite=False, limit=100)
    (tmp_path / "old" / "a" / "other.txt").write_text("someone else's")
    writer.abort()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "old", "old/a", "old/a/other.txt"]


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
