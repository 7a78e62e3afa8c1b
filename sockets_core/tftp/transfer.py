"""TFTP transfer state machines, server side (sans-I/O: bytes in, bytes out, time passed in).

How it works. The adapter creates a ``ReadTransfer`` (RRQ) or ``WriteTransfer`` (WRQ)
from the decoded request, calls ``start(now)`` and sends what it returns from the
transfer's own ephemeral port. Every datagram from the client goes to
``receive(data, now)``; when ``get_timer()`` passes, ``handle_timer(now)``. Each returns
the datagrams to send. ``done`` turns true at the end; ``error`` then says why it failed
(None on success).

- Options (RFC 2347-2349): blksize 8..65464 (larger requests are lowered to 65464),
  timeout 1..255 s, tsize. Invalid values and unknown options are ignored; the OACK
  carries only what was accepted. A client answering the OACK with ERROR ends it.
- Lock-step, one block in flight. A duplicate ACK never triggers a resend (the
  Sorcerer's Apprentice fix, RFC 1123); only the timer does, ``max_retries`` times.
- Block numbers wrap from 65535 to 0, as tftp-hpa, atftp and curl expect.
- netascii: LF becomes CR LF and CR becomes CR NUL on the way out; each byte converts
  alone, so packet boundaries never split a conversion. On the way in, a CR that ends
  one packet is held until the next one tells what follows it.
"""

from __future__ import annotations

from collections.abc import Callable

from .packets import (ACK, DATA, ERR_DISK_FULL, ERR_ILLEGAL, ERR_UNKNOWN_TID, Ack, Data, Error, MalformedPacket,
                      Request, decode, encode_ack, encode_data, encode_error, encode_oack)

DEFAULT_BLKSIZE = 512
MAX_BLKSIZE = 65464
DEFAULT_TIMEOUT = 1.0
DEFAULT_RETRIES = 5


def negotiate(request: Request, tsize: int | None) -> dict[str, str]:
    """The options the server accepts, as they go into the OACK."""
    accepted: dict[str, str] = {}
    opts = request.options
    if "blksize" in opts and opts["blksize"].isdigit() and int(opts["blksize"]) >= 8:
        accepted["blksize"] = str(min(int(opts["blksize"]), MAX_BLKSIZE))
    if "timeout" in opts and opts["timeout"].isdigit() and 1 <= int(opts["timeout"]) <= 255:
        accepted["timeout"] = opts["timeout"]
    if "tsize" in opts and opts["tsize"].isdigit():
        if tsize is not None:
            accepted["tsize"] = str(tsize)
    return accepted


def to_netascii(data: bytes) -> bytes:
    return data.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")


class _Transfer:
    def __init__(self, request: Request, tsize: int | None, max_retries: int) -> None:
        self.request = request
        self.options = negotiate(request, tsize)
        self.blksize = int(self.options.get("blksize", DEFAULT_BLKSIZE))
        self.timeout = float(self.options.get("timeout", DEFAULT_TIMEOUT))
        self.max_retries = max_retries
        self.done = False
        self.error: str | None = None
        self.bytes_moved = 0
        self._last_sent = b""
        self._deadline: float | None = None
        self._retries = 0

    def get_timer(self) -> float | None:
        return None if self.done else self._deadline

    def handle_timer(self, now: float) -> list[bytes]:
        if self.done or self._deadline is None or now < self._deadline:
            return []
        if self._retries >= self.max_retries:
            self._finish(f"no answer after {self.max_retries} retries")
            return []
        self._retries += 1
        self._deadline = now + self.timeout
        return [self._last_sent]

    def _send(self, packet: bytes, now: float) -> list[bytes]:
        self._last_sent = packet
        self._retries = 0
        self._deadline = now + self.timeout
        return [packet]

    def _finish(self, error: str | None) -> None:
        self.done = True
        self.error = error
        self._deadline = None

    def _decode(self, data: bytes) -> Data | Ack | None:
        """Decode a client packet; an ERROR or garbage ends the transfer (returns None)."""
        try:
            packet = decode(data)
        except MalformedPacket as exc:
            self._finish(f"malformed packet: {exc}")
            return None
        if isinstance(packet, Error):
            self._finish(f"client sent ERROR {packet.code} {packet.message}".rstrip())
            return None
        if isinstance(packet, (Data, Ack)):
            return packet
        self._finish("unexpected packet")
        return None

    @staticmethod
    def wrong_source_reply() -> bytes:
        return encode_error(ERR_UNKNOWN_TID, "Unknown transfer ID")


class ReadTransfer(_Transfer):
    """Serves a file to the client. ``read(n)`` returns up to n bytes of the file, b"" at the end."""

    def __init__(self, request: Request, read: Callable[[int], bytes], size: int | None,
                 max_retries: int = DEFAULT_RETRIES) -> None:
        netascii = request.mode == "netascii"
        super().__init__(request, None if netascii else size, max_retries)
        self.size = None if netascii else size  # what goes on the wire; netascii grows by its CRs
        self._read = read
        self._netascii = netascii
        self._pending = b""
        self._eof = False
        self._block = 0
        self._last_block_len = -1

    def start(self, now: float) -> list[bytes]:
        if self.options:
            return self._send(encode_oack(self.options), now)
        return self._next_block(now)

    def _next_block(self, now: float) -> list[bytes]:
        while len(self._pending) < self.blksize and not self._eof:
            chunk = self._read(max(self.blksize, 65536))
            if not chunk:
                self._eof = True
            self._pending += to_netascii(chunk) if self._netascii else chunk
        payload, self._pending = self._pending[:self.blksize], self._pending[self.blksize:]
        self._block = (self._block + 1) & 0xFFFF
        self._last_block_len = len(payload)
        self.bytes_moved += len(payload)
        return self._send(encode_data(self._block, payload), now)

    def receive(self, data: bytes, now: float) -> list[bytes]:
        if self.done:
            return []
        packet = self._decode(data)
        if packet is None:
            return []
        if isinstance(packet, Data):
            self._finish("client sent DATA during a download")
            return [encode_error(ERR_ILLEGAL, "Unexpected DATA")]
        if packet.block != self._block:
            return []  # a duplicate or stale ACK: never resend on it
        if self._last_block_len >= 0 and self._last_block_len < self.blksize:
            self._finish(None)
            return []
        return self._next_block(now)


class WriteTransfer(_Transfer):
    """Receives a file. ``write(bytes)`` stores the next part; the adapter commits at the end."""

    def __init__(self, request: Request, write: Callable[[bytes], None], max_size: int,
                 max_retries: int = DEFAULT_RETRIES) -> None:
        super().__init__(request, None, max_retries)
        if "tsize" in request.options and request.options["tsize"].isdigit():
            self.options["tsize"] = request.options["tsize"]
        self.announced_size = int(self.options["tsize"]) if "tsize" in self.options else None
        self.size = self.announced_size
        self.max_size = max_size
        self._write = write
        self._netascii = request.mode == "netascii"
        self._held_cr = False
        self._expected = 1

    def start(self, now: float) -> list[bytes]:
        if self.announced_size is not None and self.announced_size > self.max_size:
            self._finish(f"announced size {self.announced_size} is over the upload limit")
            return [encode_error(ERR_DISK_FULL, f"File exceeds the upload limit of {self.max_size} bytes")]
        if self.options:
            return self._send(encode_oack(self.options), now)
        return self._send(encode_ack(0), now)

    def receive(self, data: bytes, now: float) -> list[bytes]:
        if self.done:
            # The client missed our final ACK and repeats its last DATA: ACK it again.
            if data[:2] == DATA.to_bytes(2, "big") and data[2:4] == self._last_sent[2:4]:
                return [self._last_sent]
            return []
        packet = self._decode(data)
        if packet is None:
            return []
        if isinstance(packet, Ack):
            self._finish("client sent ACK during an upload")
            return [encode_error(ERR_ILLEGAL, "Unexpected ACK")]
        if packet.block != self._expected & 0xFFFF:
            if packet.block == (self._expected - 1) & 0xFFFF:
                return [self._last_sent]  # our ACK was lost: repeat it
            return []
        if self.bytes_moved + len(packet.payload) > self.max_size:
            self._finish(f"upload larger than the limit of {self.max_size} bytes")
            return [encode_error(ERR_DISK_FULL, f"File exceeds the upload limit of {self.max_size} bytes")]
        self._write(self._from_netascii(packet.payload, last=len(packet.payload) < self.blksize))
        self.bytes_moved += len(packet.payload)
        self._expected += 1
        reply = self._send(encode_ack(packet.block), now)
        if len(packet.payload) < self.blksize:
            self._finish(None)
        return reply

    def _from_netascii(self, payload: bytes, last: bool) -> bytes:
        if not self._netascii:
            return payload
        if self._held_cr:
            payload = b"\r" + payload
            self._held_cr = False
        if payload.endswith(b"\r") and not last:
            payload, self._held_cr = payload[:-1], True
        return payload.replace(b"\r\n", b"\n").replace(b"\r\0", b"\r")


def first_opcode(data: bytes) -> int:
    return int.from_bytes(data[:2], "big") if len(data) >= 2 else -1


__all__ = ["ReadTransfer", "WriteTransfer", "negotiate", "to_netascii", "first_opcode", "ACK", "DATA"]
