"""Syslog datagrams to fields, sans I/O: RFC 5424, RFC 3164 and what real devices send.

``parse(data, sender)`` never raises. A datagram that does not even start with ``<PRI>``
is kept whole as the message, with facility and severity unknown (None). Text is UTF-8,
else GBK, else shown with the undecodable bytes as \\xNN (textcodec.decode), so no byte
is lost from ``raw``.

RFC 3164 is a description of practice, not a format, so the parser is forgiving, in
this order after the PRI: an optional Cisco sequence number (``123: ``), a Cisco origin
(``logging origin-id``: ``123: sw1: *Mar  1 00:01:02.123: %SYS-...``, the host BEFORE the
time, taken only when a Cisco time with its colon or a ``%FAC-SEV-MNEMONIC`` follows, and
without a sequence number only before a mnemonic), an optional timestamp (``Mmm dd
hh:mm:ss`` with Cisco's ``*``/``.`` unsynced marks, milliseconds, a year or a zone; NX-OS's
``yyyy Mmm dd hh:mm:ss``; ISO 8601 as rsyslog sends it; Cisco's uptime ``00:01:02:`` or
``1d02h:`` before a mnemonic), a host (only after a timestamp: without one, the first word
cannot be told from the message), and a tag ``app[pid]:``. What devices put in place of the
tag (Cisco's ``%SYS-5-CONFIG_I:`` as app SYS and msgid CONFIG_I, kept in the message;
FortiGate's key=value lines, MikroTik's topics, ProCurve's event IDs, Junos event names) is
in devices.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..textcodec import decode
from . import devices

SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
SEVERITY_ALIASES = {"emergency": 0, "panic": 0, "critical": 2, "error": 3, "warn": 4,
                    "informational": 6}
FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
              "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
              *(f"local{n}" for n in range(8)))
NIL = "-"
BOM = "\ufeff"

_PRI = re.compile(r"<(\d{1,3})>")
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_CISCO_SEQUENCE = re.compile(r"\d{1,10}: ")
_BSD_TIME = re.compile(  # a year first is NX-OS's form
    rf"[*.]?(?:\d{{4}} )?(?:{_MONTHS}) {{1,2}}\d{{1,2}}(?: \d{{4}})? \d\d:\d\d:\d\d(?:\.\d{{1,6}})?"
    r"(?: [A-Z]{2,5})?:? ")
_CISCO_UPTIME = re.compile(r"[*.]?(?:\d{1,3}:\d\d:\d\d(?:\.\d{1,3})?|\d{1,4}[ywd]\d{1,2}[wdh]): ")
_CISCO_ORIGIN = re.compile(r"(?!\d+: )([^\s:\[\]%]{1,255}): ")  # a name, an IPv4 address; never all digits
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)?:? ")
_TAG = re.compile(r"([^\s:\[\]]{1,48})(?:\[([^\]\s]{0,128})\])?: ?")
_CISCO_MNEMONIC = devices.CISCO_MNEMONIC
_HOST = re.compile(r"[^\s:\[\]]{1,255} ")
_5424_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")
_PRINTUSASCII = re.compile(r"[!-~]+")


@dataclass(slots=True)  # not frozen: its __init__ would cost 4 us of the ~20 us a parse takes
class SyslogMessage:
    raw: str  # the whole datagram as text
    sender: str  # the IP it came from
    format: str  # "rfc5424", "rfc3164" or "raw" (no PRI)
    facility: int | None = None
    severity: int | None = None  # None: unknown (no PRI)
    timestamp: str | None = None  # as sent
    host: str = ""  # as sent, else the sender's IP
    app: str | None = None
    procid: str | None = None
    msgid: str | None = None
    structured_data: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    encoding: str = "utf-8"

    @property
    def severity_name(self) -> str:
        return SEVERITIES[self.severity] if self.severity is not None else "unknown"

    @property
    def facility_name(self) -> str:
        return FACILITIES[self.facility] if self.facility is not None else "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "facility": self.facility, "facility_name": self.facility_name,
                "severity": self.severity, "severity_name": self.severity_name, "timestamp": self.timestamp,
                "host": self.host, "sender": self.sender, "app": self.app, "procid": self.procid,
                "msgid": self.msgid, "structured_data": self.structured_data, "message": self.message,
                "raw": self.raw, "encoding": self.encoding}


def parse_severity(text: str) -> int:
    """A severity given as a number (0-7) or a name (err, error, warning, ...); ValueError else."""
    value = text.strip().lower()
    if value.isdigit() and int(value) < len(SEVERITIES):
        return int(value)
    if value in SEVERITIES:
        return SEVERITIES.index(value)
    if value in SEVERITY_ALIASES:
        return SEVERITY_ALIASES[value]
    raise ValueError(f"unknown severity {text!r}: use 0-7 or one of {', '.join(SEVERITIES)}")


def parse(data: bytes, sender: str) -> SyslogMessage:
    text, encoding = decode(data)
    try:
        return _parse_text(text, sender, encoding)
    except Exception:  # one odd datagram must not lose the message
        return SyslogMessage(raw=text, sender=sender, format="raw", host=sender, message=text, encoding=encoding)


def _parse_text(text: str, sender: str, encoding: str) -> SyslogMessage:
    pri = _PRI.match(text)
    if pri is None or int(pri.group(1)) > 191 or (len(pri.group(1)) > 1 and pri.group(1)[0] == "0"):
        return SyslogMessage(raw=text, sender=sender, format="raw", host=sender,
                             message=text.rstrip("\r\n\x00"), encoding=encoding)
    value = int(pri.group(1))
    rest = text[pri.end():]
    if rest.startswith("1 "):
        fields = _rfc5424(rest[2:])
        if fields is not None:
            return SyslogMessage(raw=text, sender=sender, format="rfc5424", facility=value >> 3,
                                 severity=value & 7, encoding=encoding, **_with_host(fields, sender))
    return SyslogMessage(raw=text, sender=sender, format="rfc3164", facility=value >> 3, severity=value & 7,
                         encoding=encoding, **_with_host(_rfc3164(rest), sender))


def _with_host(fields: dict[str, Any], sender: str) -> dict[str, Any]:
    fields["host"] = fields.get("host") or sender
    return fields


def _rfc3164(rest: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    position = _cisco_header(rest, fields)
    stamp = (_BSD_TIME.match(rest, position) or _ISO_TIME.match(rest, position)
             or _cisco_uptime(rest, position))
    if stamp:
        fields["timestamp"] = stamp.group().rstrip(": ")
        position = stamp.end()
        host = _HOST.match(rest, position) if "host" not in fields and stamp.re is not _CISCO_UPTIME else None
        # "HOST TAG: msg": a word followed by a space that is not itself the tag
        if host and not _CISCO_MNEMONIC.match(rest, position) and _TAG.match(rest, host.end()):
            fields["host"] = host.group().rstrip()
            position = host.end()
        elif host and not _TAG.match(rest, position) and not _CISCO_MNEMONIC.match(rest, position):
            fields["host"] = host.group().rstrip()  # "HOST free text" (no tag at all)
            position = host.end()
    message = rest[position:].rstrip("\r\n\x00")
    found = devices.cisco(message) or devices.key_values(message)
    if found is None:
        tag = _TAG.match(message)
        if tag and tag.group().endswith((":", ": ")):
            message = message[tag.end():]
            found = {"app": tag.group(1), "procid": tag.group(2), "msgid": devices.junos_event(message),
                     "message": message}
        else:
            found = devices.routeros(message) or devices.procurve(message) or {"message": message}
    for name, value in found.items():  # what the header said (host, timestamp) stays
        fields.setdefault(name, value)
    return fields


def _cisco_header(rest: str, fields: dict[str, Any]) -> int:
    """Where the timestamp may start: after Cisco's sequence number(s) and origin host
    (put in ``fields``), or NX-OS's empty sequence (``: 2024 Mar  1 ...``); else 0."""
    if rest.startswith(": ") and _BSD_TIME.match(rest, 2):
        return 2
    sequence = _CISCO_SEQUENCE.match(rest)
    position = sequence.end() if sequence else 0
    origin = _CISCO_ORIGIN.match(rest, position)
    if sequence is None and origin is None:
        return 0  # the common case (RFC 3164 with a date, Linux): nothing more to try
    after = origin.end() if origin else position
    inner = _CISCO_SEQUENCE.match(rest, after)  # service sequence-numbers: "000044: " as well
    if inner and (origin or sequence):
        after = inner.end()
    stamp = _cisco_time(rest, after)
    cisco_next = _CISCO_MNEMONIC.match(rest, stamp.end() if stamp else after) is not None
    if origin and (cisco_next or (sequence and stamp)):
        fields["host"] = origin.group(1)
        return after
    if inner and sequence and not origin and (stamp or cisco_next):
        return after
    return position


def _cisco_time(rest: str, position: int) -> re.Match[str] | None:
    """A Cisco time stamp, which always ends ": ": a date, or an uptime before a mnemonic."""
    stamp = _BSD_TIME.match(rest, position)
    if stamp and stamp.group().endswith(": "):
        return stamp
    return _cisco_uptime(rest, position)


def _cisco_uptime(rest: str, position: int) -> re.Match[str] | None:
    uptime = _CISCO_UPTIME.match(rest, position)
    return uptime if uptime and _CISCO_MNEMONIC.match(rest, uptime.end()) else None


def _rfc5424(rest: str) -> dict[str, Any] | None:
    """HEADER after the version, SD and MSG; None when it is not well-formed 5424."""
    parts = rest.split(" ", 5)
    if len(parts) < 6:
        parts += [""] * (6 - len(parts))
        if parts[5] == "" and parts[4] == "":
            return None
    stamp, host, app, procid, msgid, after = parts
    limits = ((host, 255), (app, 48), (procid, 128), (msgid, 32))
    if any(not _PRINTUSASCII.fullmatch(value) or len(value) > limit for value, limit in limits):
        return None
    if stamp != NIL and not _5424_TIME.fullmatch(stamp):
        return None
    structured, message = _structured_data(after)
    if structured is None:
        return None
    message = message.removeprefix(BOM).rstrip("\r\n\x00")
    return {"timestamp": None if stamp == NIL else stamp, "host": None if host == NIL else host,
            "app": _nil(app), "procid": _nil(procid), "msgid": _nil(msgid),
            "structured_data": structured, "message": message}


def _nil(value: str) -> str | None:
    return None if value == NIL else value


def _structured_data(text: str) -> tuple[list[dict[str, Any]] | None, str]:
    """(elements, message) from "-" or "[id k="v" ...]..." and the rest; None if malformed.
    In a value, backslash escapes '"', '\\' and ']' (RFC 5424 6.3.3)."""
    if text == NIL or text.startswith(NIL + " "):
        return [], text[2:]
    if text in ("", NIL):
        return [], ""
    elements: list[dict[str, Any]] = []
    i = 0
    while i < len(text) and text[i] == "[":
        close = _SD_ID.match(text, i + 1)
        if close is None:
            return None, ""
        element: dict[str, Any] = {"id": close.group(), "params": {}}
        i = close.end()
        while i < len(text) and text[i] == " ":
            param = _SD_PARAM.match(text, i + 1)
            if param is None:
                return None, ""
            value, i = _sd_value(text, param.end())
            if value is None:
                return None, ""
            element["params"][param.group(1)] = value
        if i >= len(text) or text[i] != "]":
            return None, ""
        elements.append(element)
        i += 1
    if not elements:
        return None, ""
    if i < len(text) and text[i] != " ":
        return None, ""
    return elements, text[i + 1:]


_SD_ID = re.compile(r'[^\s=\]"]{1,32}')
_SD_PARAM = re.compile(r'([^\s=\]"]{1,32})="')


def _sd_value(text: str, i: int) -> tuple[str | None, int]:
    out: list[str] = []
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in '"\\]':
            out.append(text[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    return None, i
