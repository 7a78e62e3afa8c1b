"""A TFTP client, sans-I/O: the ``get`` and ``put`` of `sockdash tftp` and of the dashboard.

The client sends its request (RRQ or WRQ with blksize, windowsize, timeout and tsize
options), resending it on timeout. The first answer decides the rest: an OACK names the
options the server accepted; DATA 1 (for a get) or ACK 0 (for a put) means it ignored
them; an ERROR ends it with the server's message. From then on the transfer is the
server's own state machine with the roles swapped: a get receives like WriteTransfer,
a put sends like ReadTransfer. The adapter must talk to the port the first answer came
from (the server's transfer ID) and answer other ports with ``wrong_source_reply``.
"""

from __future__ import annotations

from collections.abc import Callable

from .packets import (
    RRQ,
    WRQ,
    Ack,
    Data,
    Error,
    MalformedPacket,
    OptionAck,
    Request,
    decode,
    encode_ack,
    encode_request,
)
from .transfer import DEFAULT_RETRIES, DEFAULT_TIMEOUT, ReadTransfer, WriteTransfer

UNLIMITED = 1 << 62


class TftpClient:
    def __init__(self, opcode: int, remote: str, mode: str = "octet", blksize: int | None = None,
                 windowsize: int | None = None, timeout: float | None = None, *,
                 read: Callable[[int], bytes] | None = None, size: int | None = None,
                 write: Callable[[bytes], object] | None = None, max_retries: int = DEFAULT_RETRIES) -> None:
        if (opcode == RRQ and write is None) or (opcode == WRQ and read is None):
            raise ValueError("a get needs write=, a put needs read=")
        self.opcode, self.remote, self.mode = opcode, remote, mode
        self.options: dict[str, str] = {}
        if blksize is not None:
            self.options["blksize"] = str(blksize)
        if windowsize is not None:
            self.options["windowsize"] = str(windowsize)
        if timeout is not None:
            self.options["timeout"] = str(int(timeout))
        if mode == "octet":
            self.options["tsize"] = "0" if opcode == RRQ else str(size or 0)
        self.timeout = float(timeout or DEFAULT_TIMEOUT)
        self.max_retries = max_retries
        self._read, self._write, self._size = read, write, size
        self._request = encode_request(opcode, remote, mode, self.options)
        self._inner: ReadTransfer | WriteTransfer | None = None
        self._deadline: float | None = None
        self._retries = 0
        self.accepted: dict[str, str] = {}
        self.done = False
        self.error: str | None = None
        self.server_error: Error | None = None

    # -- progress for a progress bar -------------------------------------------------------
    @property
    def bytes_moved(self) -> int:
        return self._inner.bytes_moved if self._inner is not None else 0

    @property
    def total(self) -> int | None:
        if self.opcode == WRQ:
            return self._size
        return int(self.accepted["tsize"]) if self.accepted.get("tsize", "").isdigit() else None

    @staticmethod
    def wrong_source_reply() -> bytes:
        return ReadTransfer.wrong_source_reply()

    # -- the state machine ---------------------------------------------------------------------
    def start(self, now: float) -> list[bytes]:
        self._deadline = now + self.timeout
        return [self._request]

    def get_timer(self) -> float | None:
        if self.done:
            return None
        return self._inner.get_timer() if self._inner is not None else self._deadline

    def handle_timer(self, now: float) -> list[bytes]:
        if self._inner is not None:
            packets = self._inner.handle_timer(now)
            self._sync()
            return packets
        if self.done or self._deadline is None or now < self._deadline:
            return []
        if self._retries >= self.max_retries:
            self._fail(f"no answer from the server after {self.max_retries} retries")
            return []
        self._retries += 1
        self._deadline = now + self.timeout
        return [self._request]

    def receive(self, data: bytes, now: float) -> list[bytes]:
        if self.done:
            return self._inner.receive(data, now) if self._inner is not None else []
        if self._inner is not None:
            if data[:2] == b"\x00\x06":  # the OACK again: our ACK 0 (or DATA 1) was lost
                if self.opcode == RRQ and self._inner.bytes_moved == 0:
                    return [encode_ack(0)]
                return []  # a put resends its window on its own timer
            packets = self._inner.receive(data, now)
            self._sync()
            return packets
        try:
            packet = decode(data)
        except MalformedPacket as exc:
            self._fail(f"malformed answer: {exc}")
            return []
        if isinstance(packet, Error):
            self.server_error = packet
            self._fail(f"server error {packet.code}: {packet.message}")
            return []
        if isinstance(packet, OptionAck):
            self.accepted = packet.options
            return self._begin(now, acknowledge=True)
        if self.opcode == RRQ and isinstance(packet, Data) and packet.block == 1:
            self._begin(now, acknowledge=False)
            return self.receive(data, now)
        if self.opcode == WRQ and isinstance(packet, Ack) and packet.block == 0:
            return self._begin(now, acknowledge=False)
        return []  # a stray packet before the transfer started

    def _begin(self, now: float, acknowledge: bool) -> list[bytes]:
        request = Request(WRQ if self.opcode == RRQ else RRQ, self.remote, self.mode, dict(self.accepted))
        if self.opcode == RRQ:
            assert self._write is not None
            receiver = WriteTransfer(request, self._write, UNLIMITED, self.max_retries)
            self._inner = receiver
            return receiver.begin_receiving(now, acknowledge)
        assert self._read is not None
        sender = ReadTransfer(request, self._read, self._size, self.max_retries)
        self._inner = sender
        packets = sender.begin_sending(now)
        self._sync()
        return packets

    def _sync(self) -> None:
        assert self._inner is not None
        if self._inner.done and not self.done:
            self.done, self.error = True, self._inner.error

    def abort(self, reason: str) -> None:
        """End here with ``reason`` (the adapter learnt the server cannot be reached)."""
        self._fail(reason)

    def _fail(self, reason: str) -> None:
        self.done, self.error = True, reason
