"""The syslog parser: RFC 5424, RFC 3164 and the deviations real devices send."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sockets_core.syslog.parse import SEVERITIES, parse, parse_severity
from sockets_core.textcodec import decode

SENDER = "10.0.0.5"


def test_rfc3164_with_host_and_tag() -> None:
    m = parse(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", SENDER)
    assert (m.format, m.facility, m.facility_name, m.severity, m.severity_name) == ("rfc3164", 4, "auth", 2, "crit")
    assert (m.timestamp, m.host, m.app, m.procid) == ("Oct 11 22:14:15", "mymachine", "su", None)
    assert m.message == "'su root' failed for lonvick on /dev/pts/8"


def test_juniper_linux_tag_with_pid() -> None:
    m = parse(b"<28>Mar 17 10:49:15 router mgd[1234]: UI_COMMIT: User 'root' requested 'commit'", SENDER)
    assert (m.host, m.app, m.procid, m.severity_name) == ("router", "mgd", "1234", "warning")
    assert m.message == "UI_COMMIT: User 'root' requested 'commit'"


def test_cisco_ios_sequence_unsynced_time_and_mnemonic() -> None:
    m = parse(b"<189>123: *Mar  1 00:00:00.000: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.1)",
              SENDER)
    assert (m.facility_name, m.severity_name, m.timestamp) == ("local7", "notice", "*Mar  1 00:00:00.000")
    assert (m.host, m.app, m.msgid) == (SENDER, "SYS", "CONFIG_I")  # no host in the message: the sender's IP
    assert m.message.startswith("%SYS-5-CONFIG_I: Configured from console")


def test_no_host_after_the_timestamp_and_no_timestamp_at_all() -> None:
    m = parse(b"<13>Nov 25 13:20:00 root: hello there", SENDER)
    assert (m.host, m.app, m.message) == (SENDER, "root", "hello there")
    m = parse(b"<13>sshd[22]: Accepted publickey", SENDER)
    assert (m.timestamp, m.host, m.app, m.procid, m.message) == (None, SENDER, "sshd", "22", "Accepted publickey")
    m = parse(b"<11>plain words only", SENDER)
    assert (m.severity_name, m.app, m.message) == ("err", None, "plain words only")


def test_rfc5424_with_structured_data_escapes_and_bom() -> None:
    data = (b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
            b'[exampleSDID@32473 iut="3" eventSource="Application"][x@1 a="b\\]c\\"d\\\\e"] '
            b'\xef\xbb\xbfAn application event log entry')
    m = parse(data, SENDER)
    assert (m.format, m.facility_name, m.severity_name) == ("rfc5424", "local4", "notice")
    assert (m.timestamp, m.host, m.app, m.procid, m.msgid) == (
        "2003-10-11T22:14:15.003Z", "mymachine.example.com", "evntslog", None, "ID47")
    assert m.structured_data == [{"id": "exampleSDID@32473", "params": {"iut": "3", "eventSource": "Application"}},
                                 {"id": "x@1", "params": {"a": 'b]c"d\\e'}}]
    assert m.message == "An application event log entry"


def test_rfc5424_nil_values_take_the_sender_as_host() -> None:
    m = parse(b"<14>1 - - - - - - just text", SENDER)
    assert (m.format, m.timestamp, m.host, m.app, m.structured_data, m.message) == (
        "rfc5424", None, SENDER, None, [], "just text")


def test_malformed_5424_falls_back_to_3164_and_no_pri_is_raw() -> None:
    m = parse(b'<14>1 2003-10-11T22:14:15Z h a p m [unclosed x="y" text', SENDER)
    assert m.format == "rfc3164" and m.severity_name == "info"
    raw = parse(b"no pri at all", SENDER)
    assert (raw.format, raw.severity, raw.severity_name, raw.message, raw.host) == (
        "raw", None, "unknown", "no pri at all", SENDER)
    assert parse(b"<192>too big", SENDER).format == "raw"


def test_gbk_and_undecodable_bytes_are_kept() -> None:
    m = parse("<13>交换机 升级完成".encode("gbk"), SENDER)
    assert m.encoding == "gbk" and m.message == "交换机 升级完成"
    m = parse(b"<13>bad \xff\xfe bytes", SENDER)
    assert m.encoding == "escaped" and "\\xff\\xfe" in m.raw


@pytest.mark.parametrize(("text", "value"), [("err", 3), ("ERROR", 3), ("3", 3), ("warning", 4), ("0", 0),
                                             ("debug", 7), ("crit", 2)])
def test_severity_by_name_or_number(text: str, value: int) -> None:
    assert parse_severity(text) == value


@pytest.mark.parametrize("text", ["8", "-1", "loud", ""])
def test_bad_severity_names_the_choices(text: str) -> None:
    with pytest.raises(ValueError, match="emerg"):
        parse_severity(text)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_parse_and_keep_the_raw_text(data: bytes) -> None:
    m = parse(data, SENDER)
    assert (m.raw, m.encoding) == decode(data)  # the whole datagram, as text, whatever it held
    if m.encoding != "escaped":
        assert m.raw.encode(m.encoding) == data  # and from it the very bytes
    assert m.severity is None or 0 <= m.severity < len(SEVERITIES)
    assert m.message in m.raw or m.format == "rfc5424"  # 5424 unescapes nothing in MSG but drops a BOM
    json.dumps(m.to_dict(), ensure_ascii=False)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 191), st.text(max_size=200))
def test_any_text_after_a_pri_keeps_its_severity(pri: int, text: str) -> None:
    m = parse(f"<{pri}>{text}".encode("utf-8", "surrogatepass"), SENDER)
    assert m.raw.startswith(f"<{pri}>") or m.encoding != "utf-8"
    if m.format != "raw":
        assert (m.facility, m.severity) == (pri >> 3, pri & 7)
