"""When a TFTP transfer resends, what, and when it gives up (sans-I/O, time passed in).

- The resend timer (rto.py) starts from the measured round trip (RFC 6298, Karn's
  rule) and backs off exponentially up to the negotiated ``timeout``. A peer that
  stays silent for ``patience`` seconds is given up: (retries + 1) x the larger of its
  timeout and CLIENT_RESEND (5 s: tftp-hpa and atftp resend every 5 s and ignore our
  early resends, so giving up sooner would fail transfers they would finish). A peer
  that never answered at all gets (retries + 1) x UNANSWERED_TRY (3 s), whatever timeout
  it asked for: a spoofed or vanished client must not hold a transfer slot for 6 x 255 s,
  and a real one whose first answer was lost has time to resend it thrice on a 5 s timer.
- Quick, then quiet: the first ``quick_resends`` resends come at the measured pace; then the
  server waits ``peer_timer`` (2 x the larger of timeout and 5 s) between resends. Clients
  such as tftp-hpa and atftp restart their own 5 s timer on every packet they receive
  and ignore, and only their timer resends what they lost (atftp answers one duplicate,
  tftp-hpa none): a server resending every second would keep them waiting for ever.
- The OACK is never resent on the timer, only when the client repeats its request
  (``repeated_request``: it never got the OACK). If its ACK 0 (or DATA 1) was lost
  instead, the client resends that on its own timer. Resending the OACK on the timer,
  as tftpd-hpa does, makes curl and atftp abort ("unexpected OACK") after a lost ACK 0.
"""

from __future__ import annotations

from .options import DEFAULT_BLKSIZE, DEFAULT_TIMEOUT, negotiate
from .packets import ERR_UNKNOWN_TID, Ack, Data, Error, MalformedPacket, Request, decode, encode_error
from .rto import RetransmitTimer

DEFAULT_RETRIES = 5
CLIENT_RESEND = 5.0  # what common clients wait before they resend (tftp-hpa, atftp)
UNANSWERED_TRY = 3.0


class TransferBase:
    """What both directions share: the options, the resend timer, giving up."""

    # Resends at the measured pace (0.1 + 0.2 + 0.4 + 0.8 s on a LAN) before the quiet gap;
    # an upload lowers it for a sender that shows it ignores them (WriteTransfer).
    quick_resends = 4

    def __init__(self, request: Request, tsize: int | None, max_retries: int, window_bytes: int) -> None:
        self.request = request
        self.options = negotiate(request, tsize, window_bytes)
        self.blksize = int(self.options.get("blksize", DEFAULT_BLKSIZE))
        self.timeout = float(self.options.get("timeout", DEFAULT_TIMEOUT))
        self.windowsize = int(self.options.get("windowsize", 1))
        self.max_retries = max_retries
        self.rto = RetransmitTimer(self.timeout)
        self.done = False
        self.error: str | None = None
        self.bytes_moved = 0
        self.resends = 0  # packets sent again on a timer, over the whole transfer
        self._deadline: float | None = None
        self._retries = 0  # timer expiries since the peer last moved the transfer on
        self._resent_at = 0.0  # when the timer last resent
        self._waiting_since = 0.0
        self._sent_at: float | None = None  # when what awaits an answer went out, if only once (Karn)
        self._answered = False

    @property
    def patience(self) -> float:
        """Seconds of silence after which the peer is given up."""
        per_try = max(self.timeout, CLIENT_RESEND) if self._answered else UNANSWERED_TRY
        return (self.max_retries + 1) * per_try

    @property
    def peer_timer(self) -> float:
        """The quiet gap after the quick resends: longer than the peer's own resend timer."""
        return 2 * max(self.timeout, CLIENT_RESEND)

    def get_timer(self) -> float | None:
        return None if self.done else self._deadline

    def repeated_request(self, now: float) -> list[bytes]:
        """The client sent its request again: it never got our first answer, which goes again
        (the OACK only this way). Once the transfer is under way, a repeat is ignored."""
        first = self._first_answer()
        if first is None or self.done:
            return []
        self._sent_at = None
        self.resends += 1
        return [first]

    def _first_answer(self) -> bytes | None:
        raise TypeError("subclasses know their first answer")

    def handle_timer(self, now: float) -> list[bytes]:
        if self.done or self._deadline is None or now < self._deadline:
            return []
        if now - self._waiting_since >= self.patience - 1e-9:
            self._finish(f"no answer after {self._retries} retries ({now - self._waiting_since:.1f} s)")
            return []
        self._retries += 1
        self._resent_at = now
        self.rto.back_off()
        self._sent_at = None  # an answer from now on may be to either copy: no sample
        wait = self.rto.timeout if self._retries < self.quick_resends else max(self.rto.timeout, self.peer_timer)
        self._deadline = min(now + wait, self._waiting_since + self.patience)
        packets = self._retransmit()
        self.resends += len(packets)
        return packets

    def _retransmit(self) -> list[bytes]:
        raise TypeError("subclasses resend their first unacknowledged block or their ACK")

    def _progress(self, now: float) -> None:
        """The peer moved the transfer on: a round-trip sample (if unambiguous), patience anew."""
        self._answered = True
        if self._sent_at is not None:
            self.rto.sample(now - self._sent_at)

    def _arm(self, now: float) -> None:
        """Something new went out: a fresh timeout and a fresh count of retries."""
        self._retries = 0
        self._waiting_since = now
        self._sent_at = now
        self._deadline = now + self.rto.timeout

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
