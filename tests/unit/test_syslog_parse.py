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
    assert (m.host, m.app, m.procid, m.msgid, m.severity_name) == ("router", "mgd", "1234", "UI_COMMIT", "warning")
    assert m.message == "UI_COMMIT: User 'root' requested 'commit'"


def test_cisco_ios_sequence_unsynced_time_and_mnemonic() -> None:
    m = parse(b"<189>123: *Mar  1 00:00:00.000: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.1)",
              SENDER)
    assert (m.facility_name, m.severity_name, m.timestamp) == ("local7", "notice", "*Mar  1 00:00:00.000")
    assert (m.host, m.app, m.msgid) == (SENDER, "SYS", "CONFIG_I")  # no host in the message: the sender's IP
    assert m.message.startswith("%SYS-5-CONFIG_I: Configured from console")


@pytest.mark.parametrize(("data", "timestamp"), [
    (b"<189>44: sw1: *Mar  1 00:01:02.123: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.9)",
     "*Mar  1 00:01:02.123"),
    (b"<189>sw1: *Mar  1 00:01:02.123: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.9)",
     "*Mar  1 00:01:02.123"),  # no sequence number
    (b"<189>44: sw1: .Mar  1 2024 00:01:02.123 UTC: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.9)",
     ".Mar  1 2024 00:01:02.123 UTC"),  # clock not in sync, a year, show-timezone
    (b"<189>44: sw1: 000044: Mar  1 00:01:02 CET: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.9)",
     "Mar  1 00:01:02 CET"),  # service sequence-numbers as well
    (b"<189>44: sw1: 1d02h: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.9)", "1d02h"),  # uptime
    (b"<189>44: sw1: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.9)", None),  # no timestamps
])
def test_cisco_origin_id_puts_the_host_before_the_timestamp(data: bytes, timestamp: str | None) -> None:
    m = parse(data, SENDER)
    assert (m.format, m.facility_name, m.severity_name) == ("rfc3164", "local7", "notice")
    assert (m.host, m.timestamp, m.app, m.msgid) == ("sw1", timestamp, "SYS", "CONFIG_I")
    assert m.message == "%SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.9)"  # searchable as quoted


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[A-Za-z][A-Za-z0-9.-]{0,30}", fullmatch=True), st.sampled_from(["", "7: ", "123456: "]),
       st.sampled_from(["", "*", "."]), st.sampled_from(["Mar  1 00:01:02", "Dec 31 2024 23:59:59.999 UTC"]))
def test_any_cisco_origin_host_and_time_are_found(host: str, sequence: str, mark: str, time: str) -> None:
    m = parse(f"<187>{sequence}{host}: {mark}{time}: %LINK-3-UPDOWN: Interface Gi0/1, changed".encode(), SENDER)
    assert (m.host, m.timestamp, m.app, m.msgid) == (host, mark + time, "LINK", "UPDOWN")


def test_cisco_without_an_origin_keeps_the_sender_and_reads_uptime_nxos_and_asa() -> None:
    m = parse(b"<187>45: 00:01:02: %LINK-3-UPDOWN: Interface Gi0/1, changed state to up", SENDER)
    assert (m.host, m.timestamp, m.app, m.msgid) == (SENDER, "00:01:02", "LINK", "UPDOWN")
    m = parse(b"<187>: 2024 Mar  1 00:01:02 UTC: %ETHPORT-5-IF_DOWN_LINK_FAILURE: Interface Ethernet1/1 is down",
              SENDER)  # NX-OS
    assert (m.host, m.timestamp, m.app, m.msgid) == (SENDER, "2024 Mar  1 00:01:02 UTC", "ETHPORT",
                                                     "IF_DOWN_LINK_FAILURE")
    m = parse(b"<166>Mar 01 2024 00:01:02 asa01 : %ASA-6-302013: Built outbound TCP connection 1", SENDER)
    assert (m.host, m.timestamp, m.app, m.msgid) == ("asa01", "Mar 01 2024 00:01:02", "ASA", "302013")
    assert m.message == "%ASA-6-302013: Built outbound TCP connection 1"


@pytest.mark.parametrize(("data", "host", "app", "message"), [
    (b"<13>sshd: Mar  1 00:01:02 was when it began", SENDER, "sshd", "Mar  1 00:01:02 was when it began"),
    (b"<13>12: foo: bar", SENDER, "foo", "bar"),  # a sequence and a tag, but no Cisco time or mnemonic after
    (b"<13>12: 34: text", SENDER, "34", "text"),
    (b"<13>a,b words here", SENDER, None, "a,b words here"),  # topics without a RouterOS level
    (b"<13>x=1 y=2 z=3", SENDER, None, "x=1 y=2 z=3"),  # key=value without devname or date and time
    (b"<13>12345 words without a colon", SENDER, None, "12345 words without a colon"),
])
def test_what_only_looks_like_a_device_form_parses_as_before(data: bytes, host: str, app: str | None,
                                                             message: str) -> None:
    m = parse(data, SENDER)
    assert (m.host, m.app, m.message) == (host, app, message)


def test_fortigate_key_value_line() -> None:
    m = parse(b'<189>date=2024-03-01 time=00:01:02 devname="FGT60E" devid="FGT60E0000000001" eventtime=1709251262 '
              b'tz="+0800" logid="0100032001" type="event" subtype="system" level="information" vd="root" '
              b'logdesc="Admin login successful" user="admin" msg="Administrator admin logged in from https(10.0.0.9)"',
              SENDER)
    assert (m.format, m.severity_name, m.host, m.timestamp, m.app, m.msgid) == (
        "rfc3164", "notice", "FGT60E", "2024-03-01 00:01:02 +0800", "event/system", "0100032001")
    assert m.message == "Administrator admin logged in from https(10.0.0.9)"
    params = m.structured_data[0]["params"]
    assert (m.structured_data[0]["id"], params["devid"], params["eventtime"], params["user"]) == (
        "fields", "FGT60E0000000001", "1709251262", "admin")
    m = parse(b'<190>date=2024-03-01 time=00:01:03 devname=fw2 logid=0000000013 type=traffic subtype=forward '
              b'srcip=10.0.0.9 msg="a \\"quoted\\" word"', SENDER)
    assert (m.host, m.app, m.message) == ("fw2", "traffic/forward", 'a \\"quoted\\" word')  # as sent
    assert m.structured_data[0]["params"]["msg"] == 'a "quoted" word'
    m = parse(b"<190>date=2024-03-01 time=00:01:04 devname=fw2 type=traffic srcip=10.0.0.9 dstport=443", SENDER)
    assert m.message == "date=2024-03-01 time=00:01:04 devname=fw2 type=traffic srcip=10.0.0.9 dstport=443"


def test_mikrotik_topics_with_and_without_a_bsd_header() -> None:
    m = parse(b"<30>system,info,account user admin logged in from 10.0.0.9 via winbox", SENDER)
    assert (m.host, m.app, m.message) == (SENDER, "system,info,account",
                                          "user admin logged in from 10.0.0.9 via winbox")
    m = parse(b"<134>Mar  1 00:01:02 MikroTik firewall,info input: in:ether1 out:(unknown 0), proto UDP", SENDER)
    assert (m.host, m.timestamp, m.app, m.message) == (
        "MikroTik", "Mar  1 00:01:02", "firewall,info", "input: in:ether1 out:(unknown 0), proto UDP")


def test_procurve_event_id_and_junos_event_name() -> None:
    m = parse(b"<14>Mar  1 00:01:02 10.0.0.2 00076 ports: port 1 is now on-line", SENDER)
    assert (m.host, m.app, m.msgid, m.message) == ("10.0.0.2", "ports", "00076", "port 1 is now on-line")
    m = parse(b"<14>Mar  1 00:01:02 srx RT_FLOW: RT_FLOW_SESSION_CREATE: session created 10.0.0.1/1->10.0.0.2/2",
              SENDER)
    assert (m.host, m.app, m.msgid) == ("srx", "RT_FLOW", "RT_FLOW_SESSION_CREATE")
    assert m.message.startswith("RT_FLOW_SESSION_CREATE: session created")


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
