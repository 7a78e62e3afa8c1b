"""The retransmission timer of a TFTP transfer (sans-I/O: round-trip samples and time passed in).

Why not simply the negotiated ``timeout``: on a LAN a round trip takes a millisecond, so a
lost packet that waits a whole second (or the 20 s a client asked for) stalls the transfer
a thousand times longer than needed. TCP solved this long ago; this is its timer
(RFC 6298), applied per transfer:

- Every answer to a packet sent once (Karn's rule: never one that was resent, whose answer
  may belong to either copy) is a round-trip sample. SRTT and RTTVAR follow the samples
  with gains 1/8 and 1/4; the timeout is SRTT + 4 RTTVAR, never below ``floor`` (so a
  jittery or slow peer is not flooded with copies) and never above ``ceiling``.
- Before the first sample the timeout is ``initial`` (RFC 6298's 1 s), at most ``ceiling``.
- Each expiry with no answer doubles the timeout (exponential backoff, up to ``ceiling``);
  a fresh sample ends the backoff.

How the TFTP ``timeout`` option (RFC 2349, "seconds to wait before retransmitting") maps
onto this: it is the ceiling. A client that asks for 5 s never waits more than 5 s for a
resend, and a quiet peer is given up after the same silent time as a fixed 5 s timer
would take (see ``_Transfer.patience`` in transfer.py); it only gets its resends sooner
when the measured round trip says the network is faster than that.
"""

from __future__ import annotations

INITIAL_RTO = 1.0
# Far above a LAN round trip (< 1 ms) and the scheduling jitter of a busy gevent process,
# far below the 1 s a fixed timer costs: a lost packet costs ~0.1 s, a slow peer gets
# at most 10 unneeded copies a second while its timer learns.
MIN_RTO = 0.1
_GRANULARITY = 0.001


class RetransmitTimer:
    def __init__(self, ceiling: float, initial: float = INITIAL_RTO, floor: float = MIN_RTO) -> None:
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.srtt: float | None = None
        self.rttvar = 0.0
        self._base = min(initial, ceiling)
        self._backoff = 1

    @property
    def timeout(self) -> float:
        """Seconds to wait for an answer before resending."""
        return min(self.ceiling, max(self.floor, self._base) * self._backoff)

    def sample(self, rtt: float) -> None:
        """A round trip measured on a packet sent once (RFC 6298 2.2-2.3)."""
        rtt = max(0.0, rtt)
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self._base = self.srtt + max(_GRANULARITY, 4 * self.rttvar)
        self._backoff = 1

    def back_off(self) -> None:
        """The timer expired without an answer: wait twice as long next time (up to the ceiling)."""
        if max(self.floor, self._base) * self._backoff < self.ceiling:
            self._backoff *= 2
