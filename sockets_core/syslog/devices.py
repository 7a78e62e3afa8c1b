"""What real devices put where RFC 3164 expects ``TAG: message``, sans I/O (used by parse.py).

Each recogniser takes the text after the header (PRI, timestamp, host) and returns the
fields it found, ``message`` included, or None when the text is not that device's form.
Every ``message`` returned is a slice of the text, as sent, so a search of the raw datagram
and of the message agree; nothing is dropped from ``raw``.

- Cisco IOS/IOS XE/NX-OS/ASA: ``%FACILITY-SEVERITY-MNEMONIC: text`` gives app = the
  facility (``SYS``, ``LINK``, ``ASA``) and msgid = the mnemonic (``CONFIG_I``, ``302013``);
  the message keeps the whole ``%SYS-5-CONFIG_I: ...``, as Cisco's documentation quotes it
  and as people search for it (parse.py handles the Cisco header before it).
- FortiGate (FortiOS): the whole message is ``key=value`` pairs (``date=... time=...
  devname="FGT60E" logid="0100032001" type="event" subtype="system" ... msg="..."``): host =
  devname, timestamp = date, time (and tz), app = type/subtype, msgid = logid, every pair in
  structured_data (id ``fields``), message = the msg value (as sent, quotes off), else all.
- MikroTik RouterOS: ``system,info,account user admin logged in``: the comma-separated
  topics, one of which is always a level (debug, info, warning, error, critical), are the app.
- HPE/Aruba ProCurve (ArubaOS-Switch): ``00076 ports: port 1 is now on-line``: the five-digit
  event ID is the msgid and the subsystem the app.
- Juniper Junos (BSD form): after ``mgd[1234]:``, ``UI_COMMIT: text`` gives msgid UI_COMMIT
  (the message keeps it, as for Cisco).
"""

from __future__ import annotations

import re
from typing import Any

CISCO_MNEMONIC = re.compile(r"%([A-Z0-9_]+(?:-[A-Z0-9_]+)*)-([0-7])-([A-Z0-9_]+) ?: ?")
_KEY_VALUE = re.compile(r'([A-Za-z_][\w.-]{0,63})=("(?:[^"\\]|\\.)*"|[^\s"]*)(?:\s+|$)')
_KEY_FIRST = re.compile(r"[A-Za-z_][\w.-]{0,63}=")
_KV_PAIRS = 512  # more is not a device's log line; the parse stops, the text stays the message
_ESCAPED = re.compile(r"\\(.)")
_ROUTEROS_TOPICS = re.compile(r"([a-z][a-z0-9-]*(?:,[a-z][a-z0-9-]*)+) ")
_ROUTEROS_LEVELS = frozenset(("debug", "info", "warning", "error", "critical"))
_PROCURVE_EVENT = re.compile(r"(\d{5}) ([^\s:\[\]]{1,48}): ?")
_JUNOS_EVENT = re.compile(r"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+): ")


def cisco(text: str) -> dict[str, Any] | None:
    """``%SYS-5-CONFIG_I: ...`` (also after the `` : `` an ASA with a device-id puts first)."""
    start = 2 if text.startswith(": %") else 0
    mnemonic = CISCO_MNEMONIC.match(text, start)
    if mnemonic is None:
        return None
    return {"app": mnemonic.group(1), "msgid": mnemonic.group(3), "message": text[start:]}


def key_values(text: str) -> dict[str, Any] | None:
    """A FortiGate line: every word a ``key=value`` pair, with devname or date and time."""
    if not _KEY_FIRST.match(text):
        return None
    pairs: dict[str, str] = {}
    quoted: dict[str, str] = {}  # the value as sent between its quotes: the message is a slice
    position, end = 0, len(text.rstrip())
    while position < end:
        pair = _KEY_VALUE.match(text, position)
        if pair is None or len(pairs) >= _KV_PAIRS:
            return None
        key, value = pair.group(1), pair.group(2)
        if value.startswith('"'):
            quoted[key] = value[1:-1]
            value = _ESCAPED.sub(r"\1", value[1:-1])
        pairs[key] = value
        position = pair.end()
    if "devname" not in pairs and not ("date" in pairs and "time" in pairs):
        return None
    fields: dict[str, Any] = {"structured_data": [{"id": "fields", "params": pairs}],
                              "message": quoted.get("msg", pairs.get("msg", text))}
    if pairs.get("devname"):
        fields["host"] = pairs["devname"]
    if "date" in pairs and "time" in pairs:
        fields["timestamp"] = " ".join(pairs[k] for k in ("date", "time", "tz") if pairs.get(k))
    kind = "/".join(pairs[k] for k in ("type", "subtype") if pairs.get(k))
    if kind:
        fields["app"] = kind
    if pairs.get("logid"):
        fields["msgid"] = pairs["logid"]
    return fields


def routeros(text: str) -> dict[str, Any] | None:
    topics = _ROUTEROS_TOPICS.match(text)
    if topics is None or _ROUTEROS_LEVELS.isdisjoint(topics.group(1).split(",")):
        return None
    return {"app": topics.group(1), "message": text[topics.end():]}


def procurve(text: str) -> dict[str, Any] | None:
    event = _PROCURVE_EVENT.match(text)
    if event is None:
        return None
    return {"msgid": event.group(1), "app": event.group(2), "message": text[event.end():]}


def junos_event(message: str) -> str | None:
    """The event name a Junos daemon starts its message with (``UI_COMMIT``), if any."""
    event = _JUNOS_EVENT.match(message)
    return event.group(1) if event and len(event.group(1)) <= 64 else None
