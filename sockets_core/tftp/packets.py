"""TFTP packets (RFC 1350, options of RFC 2347): decode bytes to frozen dataclasses and back.

``decode`` never raises anything but ``MalformedPacket``, which carries the ERROR code a
server should answer with (RFC 1350 code 4, illegal operation).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..names import display, from_bytes

RRQ, WRQ, DATA, ACK, ERROR, OACK = 1, 2, 3, 4, 5, 6

ERR_UNDEFINED = 0
ERR_NOT_FOUND = 1
ERR_ACCESS = 2
ERR_DISK_FULL = 3
ERR_ILLEGAL = 4
ERR_UNKNOWN_TID = 5
ERR_EXISTS = 6
ERR_NO_USER = 7
ERR_OPTIONS = 8

MODES = ("octet", "netascii")


class MalformedPacket(ValueError):
    def __init__(self, reason: str, code: int = ERR_ILLEGAL) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class Request:
    opcode: int  # RRQ or WRQ
    filename: str
    mode: str
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Data:
    block: int
    payload: bytes


@dataclass(frozen=True)
class Ack:
    block: int


@dataclass(frozen=True)
class Error:
    code: int
    message: str


@dataclass(frozen=True)
class OptionAck:
    options: dict[str, str]


Packet = Request | Data | Ack | Error | OptionAck


def _strings(body: bytes) -> list[bytes]:
    if not body.endswith(b"\0"):
        raise MalformedPacket("string without its terminating NUL")
    return body[:-1].split(b"\0")


def decode(data: bytes) -> Packet:
    if len(data) < 2:
        raise MalformedPacket(f"packet of {len(data)} bytes")
    opcode = int.from_bytes(data[:2], "big")
    body = data[2:]
    if opcode in (RRQ, WRQ):
        parts = _strings(body)
        if len(parts) < 2 or len(parts) % 2:
            raise MalformedPacket("request without file name and mode")
        # Filenames are bytes on the wire and on disk: UTF-8 with surrogate escapes keeps
        # every byte (GBK, Latin-1, invalid) as os.fsdecode would, so the file of exactly
        # these bytes is opened, and encode_request gives the same bytes back.
        filename = from_bytes(parts[0])
        mode = parts[1].decode("latin-1").lower()
        if mode not in MODES:
            raise MalformedPacket(f"unsupported mode {mode!r}")
        options: dict[str, str] = {}
        for i in range(2, len(parts), 2):
            name = parts[i].decode("latin-1").lower()
            if name in options:
                raise MalformedPacket(f"option {name} given twice", ERR_OPTIONS)
            options[name] = parts[i + 1].decode("latin-1")
        return Request(opcode, filename, mode, options)
    if opcode == DATA:
        if len(body) < 2:
            raise MalformedPacket("DATA without block number")
        return Data(int.from_bytes(body[:2], "big"), bytes(body[2:]))
    if opcode == ACK:
        if len(body) != 2:
            raise MalformedPacket("ACK of wrong length")
        return Ack(int.from_bytes(body, "big"))
    if opcode == ERROR:
        if len(body) < 2:
            raise MalformedPacket("ERROR without code")
        message = body[2:].split(b"\0", 1)[0].decode("utf-8", "replace")
        return Error(int.from_bytes(body[:2], "big"), message)
    if opcode == OACK:
        parts = _strings(body) if body else []
        if len(parts) % 2:
            raise MalformedPacket("OACK option without value")
        return OptionAck({parts[i].decode("latin-1").lower(): parts[i + 1].decode("latin-1")
                          for i in range(0, len(parts), 2)})
    raise MalformedPacket(f"unknown opcode {opcode}")


def encode_request(opcode: int, filename: str, mode: str, options: dict[str, str] | None = None) -> bytes:
    fields = [filename.encode("utf-8", "surrogateescape"), mode.encode()]
    for name, value in (options or {}).items():
        fields += [name.encode(), str(value).encode()]
    return struct.pack("!H", opcode) + b"".join(f + b"\0" for f in fields)


def encode_data(block: int, payload: bytes) -> bytes:
    return struct.pack("!HH", DATA, block & 0xFFFF) + payload


def encode_ack(block: int) -> bytes:
    return struct.pack("!HH", ACK, block & 0xFFFF)


def encode_error(code: int, message: str) -> bytes:
    return struct.pack("!HH", ERROR, code) + message.encode("utf-8") + b"\0"


def encode_oack(options: dict[str, str]) -> bytes:
    return struct.pack("!H", OACK) + b"".join(f"{k}\0{v}\0".encode() for k, v in options.items())


def summarize(data: bytes, length: int | None = None) -> str:
    """One line for the packet log: 'RRQ config.txt octet blksize=1468', 'DATA #9 512 B', ...
    ``data`` may be cut short (the log keeps 256 bytes); ``length`` is then the full size."""
    if len(data) >= 4 and data[0] == 0 and data[1] == DATA:
        return f"DATA #{(data[2] << 8) | data[3]} {(length if length is not None else len(data)) - 4} B"
    try:
        packet = decode(data)
    except MalformedPacket as exc:
        return f"malformed: {exc}"
    if isinstance(packet, Request):
        kind = "RRQ" if packet.opcode == RRQ else "WRQ"
        opts = "".join(f" {k}={v}" for k, v in packet.options.items())
        return f"{kind} {display(packet.filename)[0]} {packet.mode}{opts}"
    if isinstance(packet, Data):
        return f"DATA #{packet.block} {len(packet.payload)} B"
    if isinstance(packet, Ack):
        return f"ACK #{packet.block}"
    if isinstance(packet, Error):
        return f"ERROR {packet.code} {packet.message}"
    return "OACK" + "".join(f" {k}={v}" for k, v in packet.options.items())
