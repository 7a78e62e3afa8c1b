"""TFTP transfer state machines, server side (sans-I/O: bytes in, bytes out, time passed in).

How it works. The adapter creates a ``ReadTransfer`` (RRQ) or ``WriteTransfer`` (WRQ)
from the decoded request, calls ``start(now)`` and sends what it returns from the
transfer's own ephemeral port. Every datagram from the client goes to
``receive(data, now)``; when ``get_timer()`` passes, ``handle_timer(now)``. Each returns
the datagrams to send. ``done`` turns true at the end; ``error`` then says why it failed
(None on success).

- Options: see options.py (the OACK carries only what was accepted; one window holds at
  most ``window_bytes``). A client answering the OACK with ERROR ends it.
- Timing (when to resend, what, when to give up): see retransmit.py.
- Sending (a download) keeps one window of blocks in flight. An ACK for the window's
  last block moves on; an ACK for an earlier block of the window means the client
  missed the one after it, so sending restarts there (RFC 7440). An ACK for a block
  already acknowledged changes nothing: a duplicate ACK never triggers a resend (the
  Sorcerer's Apprentice fix, RFC 1123). When the timer expires only the first block not
  acknowledged goes again, never the whole window: a silent peer costs one block per
  (backed-off) timeout, and a receiver that has the rest answers with the ACK that says
  where to go on. Lock-step is the window of one.
- Receiving (an upload) ACKs every ``windowsize`` blocks and the last one; a block out
  of order is answered once with the ACK of the last block received in order, which
  tells the client where to resume, and so is a block received before (our ACK was
  lost). On its timer the receiver ACKs the last block it has in order (RFC 7440). The
  last ACK is repeated if the client repeats the last DATA, also after the end (the
  adapter keeps listening a while).
- Block numbers wrap from 65535 to 0, as tftp-hpa, atftp and curl expect.
- netascii: see netascii.py.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from .netascii import NetasciiDecoder, to_netascii
from .options import DEFAULT_BLKSIZE, DEFAULT_TIMEOUT, DEFAULT_WINDOW_BYTES, MAX_BLKSIZE, MAX_WINDOWSIZE, negotiate
from .packets import (
    ACK,
    DATA,
    ERR_DISK_FULL,
    ERR_ILLEGAL,
    Ack,
    Data,
    Request,
    encode_ack,
    encode_data,
    encode_error,
    encode_oack,
)
from .retransmit import CLIENT_RESEND, DEFAULT_RETRIES, TransferBase

__all__ = ["CLIENT_RESEND", "DEFAULT_BLKSIZE", "DEFAULT_RETRIES", "DEFAULT_TIMEOUT", "DEFAULT_WINDOW_BYTES",
           "MAX_BLKSIZE", "MAX_WINDOWSIZE", "ReadTransfer", "WriteTransfer", "negotiate", "to_netascii"]

ACK_OPCODE = ACK.to_bytes(2, "big")



class ReadTransfer(TransferBase):
    """Serves a file to the client. ``read(n)`` returns up to n bytes of the file, b"" at the end."""

    def __init__(self, request: Request, read: Callable[[int], bytes], size: int | None,
                 max_retries: int = DEFAULT_RETRIES, window_bytes: int = DEFAULT_WINDOW_BYTES) -> None:
        netascii = request.mode == "netascii"
        super().__init__(request, None if netascii else size, max_retries, window_bytes)
        self.size = None if netascii else size  # what goes on the wire; netascii grows by its CRs
        self._read = read
        self._netascii = netascii
        self._pending = b""  # read from the file, not yet in a block: from _offset on
        self._offset = 0
        self._eof = False
        self._oack: bytes | None = None
        self._acked = 0  # blocks acknowledged so far (absolute count)
        self._window: deque[bytes] = deque()  # DATA packets of blocks _acked+1 ... not yet acknowledged
        self._sent = 0  # of the window, how many went out since the last (re)start
        self._last_block: int | None = None  # absolute number of the final (short) block

    def start(self, now: float) -> list[bytes]:
        self._arm(now)
        if self.options:
            self._oack = encode_oack(self.options)
            return [self._oack]
        return self._send_window()

    def begin_sending(self, now: float) -> list[bytes]:
        """For a client's upload: the server accepted (ACK 0 or OACK), the first window goes."""
        self._oack = None
        self._arm(now)
        return self._send_window()

    def _produce(self) -> None:
        """Fill the window with new blocks, as many as fit and the file has."""
        blksize = self.blksize
        while self._last_block is None and len(self._window) < self.windowsize:
            if len(self._pending) - self._offset < blksize and not self._eof:
                # refill in 64 KiB reads; the block is cut at an offset (slicing the rest of
                # the buffer off at each block copied ~32 KiB a block: 8% of a transfer's CPU)
                rest = self._pending[self._offset:]
                while len(rest) < blksize and not self._eof:
                    chunk = self._read(max(blksize, 65536))
                    if not chunk:
                        self._eof = True
                    rest += to_netascii(chunk) if self._netascii else chunk
                self._pending, self._offset = rest, 0
            payload = self._pending[self._offset:self._offset + blksize]
            self._offset += len(payload)
            number = self._acked + len(self._window) + 1
            self._window.append(encode_data(number, payload))
            self.bytes_moved += len(payload)
            if len(payload) < blksize:
                self._last_block = number

    def _send_window(self) -> list[bytes]:
        self._produce()
        packets = list(self._window)[self._sent:]
        self._sent = len(self._window)
        return packets

    def _first_answer(self) -> bytes | None:
        if self._oack is not None:
            return self._oack
        if self.options:  # the OACK was acknowledged: under way
            return None
        return self._window[0] if self._acked == 0 and self._window else None

    def _retransmit(self) -> list[bytes]:
        if self._oack is not None:
            return []  # see repeated_request
        # Only the first block not acknowledged: if the client lost it, it is what it needs;
        # if it lost our window's tail or its ACK was lost, a duplicate makes it say where
        # it is. The whole window again would cost a silent peer windowsize blocks a try.
        return [self._window[0]] if self._window else []

    def receive(self, data: bytes, now: float) -> list[bytes]:
        if self.done:
            return []
        if len(data) == 4 and data[:2] == ACK_OPCODE:
            block = int.from_bytes(data[2:], "big")  # the usual ACK: no decode (a lock-step block's hot path)
        else:
            packet = self._decode(data)
            if packet is None:
                return []
            if isinstance(packet, Data):
                self._finish("client sent DATA during a download")
                return [encode_error(ERR_ILLEGAL, "Unexpected DATA")]
            block = packet.block
        if self._oack is not None:
            if block != 0:
                return []
            self._oack = None
            self._progress(now)
            self._arm(now)
            return self._send_window()
        # which block of the window does this ACK name? (16-bit numbers wrap)
        ahead = (block - self._acked) & 0xFFFF
        if ahead == 0 or ahead > len(self._window):
            return []  # a duplicate or stale ACK: never resend on it
        for _ in range(ahead):
            self._window.popleft()
        self._acked += ahead
        self._progress(now)
        if self._last_block is not None and self._acked >= self._last_block:
            self._finish(None)
            return []
        # An ACK for the last block sent moves on to a new window; an ACK for an earlier
        # one means the client lost the block after it and dropped the rest: either way,
        # what is left of the window goes (again) first.
        self._sent = 0
        self._arm(now)
        return self._send_window()


class WriteTransfer(TransferBase):
    """Receives a file. ``write(bytes)`` stores the next part; the adapter commits at the end."""

    # Does the sender resend a block when our ACK comes again (curl does), or only on its
    # own timer (tftp-hpa: 5 s, restarted by every packet it ignores, ours included)?
    # Learned at the first loss: a block that follows our resend within a second answers it.
    FOLLOWS_WITHIN = 1.0
    follows_repeats: bool | None = None

    @property
    def quick_resends(self) -> int:  # type: ignore[override]
        return 1 if self.follows_repeats is False else 4

    def __init__(self, request: Request, write: Callable[[bytes], object], max_size: int,
                 max_retries: int = DEFAULT_RETRIES, window_bytes: int = DEFAULT_WINDOW_BYTES) -> None:
        super().__init__(request, None, max_retries, window_bytes)
        if "tsize" in request.options and request.options["tsize"].isdigit():
            self.options["tsize"] = request.options["tsize"]
        self.announced_size = int(self.options["tsize"]) if "tsize" in self.options else None
        self.size = self.announced_size
        self.max_size = max_size
        self._write = write
        self._netascii = NetasciiDecoder() if request.mode == "netascii" else None
        self._received = 0  # blocks received in order (absolute count)
        self._since_ack = 0
        self._last_ack = b""
        self._gap_answered = False  # a gap, or a block we had, answered since the last progress

    def start(self, now: float) -> list[bytes]:
        if self.announced_size is not None and self.announced_size > self.max_size:
            self._finish(f"announced size {self.announced_size} is over the upload limit")
            return [encode_error(ERR_DISK_FULL, f"File exceeds the upload limit of {self.max_size} bytes")]
        self._last_ack = encode_oack(self.options) if self.options else encode_ack(0)
        self._arm(now)
        return [self._last_ack]

    def _first_answer(self) -> bytes | None:
        return self._last_ack if self._received == 0 and self._last_ack else None

    def _retransmit(self) -> list[bytes]:
        if self._received == 0 and self._last_ack[:2] == b"\x00\x06":
            return []  # the OACK: see repeated_request
        if self._since_ack:  # part of a window arrived: ACK what we have, the sender resumes after it
            self._last_ack = encode_ack(self._received)
            self._since_ack = 0
        self._gap_answered = False
        return [self._last_ack]

    def begin_receiving(self, now: float, acknowledge_options: bool) -> list[bytes]:
        """For a client's download: ACK 0 answers the server's OACK; without one, the
        first DATA is already on its way and nothing is sent yet."""
        self._last_ack = encode_ack(0)
        self._arm(now)
        return [self._last_ack] if acknowledge_options else []

    def _ack(self, now: float) -> list[bytes]:
        self._last_ack = encode_ack(self._received)
        self._since_ack = 0
        self._gap_answered = False
        self._arm(now)
        return [self._last_ack]

    def receive(self, data: bytes, now: float) -> list[bytes]:
        if self.done:
            # The client missed our final ACK and repeats its last DATA: ACK it again.
            if data[:2] == DATA.to_bytes(2, "big") and data[2:4] == self._last_ack[2:4]:
                return [self._last_ack]
            return []
        packet = self._decode(data)
        if packet is None:
            return []
        if isinstance(packet, Ack):
            self._finish("client sent ACK during an upload")
            return [encode_error(ERR_ILLEGAL, "Unexpected ACK")]
        expected = (self._received + 1) & 0xFFFF
        if packet.block != expected:
            behind = (expected - packet.block) & 0xFFFF
            if behind <= self.windowsize and self.windowsize == 1:
                self._sent_at = None  # the next block may answer either copy of our ACK
                return [self._last_ack]  # lock-step: our ACK was lost, the block comes again
            # A block already had (our ACK was lost, or the sender's timer resent its first
            # block) or one past a gap (a block was lost): say where to resume, once until
            # the transfer moves on, however many blocks of a resent window follow.
            if not self._gap_answered:
                self._gap_answered = True
                self._since_ack = 0  # the sender restarts its window after this block
                self._last_ack = encode_ack(self._received)
                self._sent_at = None
                return [self._last_ack]
            return []
        if self.bytes_moved + len(packet.payload) > self.max_size:
            self._finish(f"upload larger than the limit of {self.max_size} bytes")
            return [encode_error(ERR_DISK_FULL, f"File exceeds the upload limit of {self.max_size} bytes")]
        last = len(packet.payload) < self.blksize
        if self._retries and self.follows_repeats is None:
            self.follows_repeats = now - self._resent_at < self.FOLLOWS_WITHIN
        if self._since_ack == 0:
            self._progress(now)  # the first block after our ACK: a round trip
        self._write(packet.payload if self._netascii is None else self._netascii.feed(packet.payload, last))
        self.bytes_moved += len(packet.payload)
        self._received += 1
        self._since_ack += 1
        if last:
            reply = self._ack(now)
            self._finish(None)
            return reply
        if self._since_ack >= self.windowsize:
            return self._ack(now)
        # the window is still arriving; the ACK comes with its last block
        self._retries, self._waiting_since = 0, now
        self._deadline = now + self.rto.timeout
        return []
