"""Option negotiation (RFC 2347-2349, 7440): what a request asked for, what the OACK grants.

blksize 8..65464 (a larger request is lowered to 65464), timeout 1..255 s, tsize, and
windowsize 1..65535, lowered to 32767 (half the block-number space) and so that one
window holds at most ``window_bytes`` (the server keeps a window in memory until it is
acknowledged and resends from it). Invalid values and unknown options are ignored: the
OACK carries only what was accepted (RFC 2347 lets a server lower a value, never raise it).
"""

from __future__ import annotations

from .packets import Request

DEFAULT_BLKSIZE = 512
MAX_BLKSIZE = 65464
DEFAULT_TIMEOUT = 1.0
# Half the 16-bit block space: with a wider window a late duplicate ACK (or DATA) could
# name a block of the next window as well as one of this (RFC 7440 allows 65535).
MAX_WINDOWSIZE = 32767
# One window in flight: 16 blocks of the largest size, 714 of Ethernet-sized 1468-byte
# blocks. Far past what fills a LAN; a greedy request (blksize 65464, windowsize 65535)
# would otherwise hold 16 MiB per transfer and resend it whole.
DEFAULT_WINDOW_BYTES = 1 << 20


def negotiate(request: Request, tsize: int | None, window_bytes: int = DEFAULT_WINDOW_BYTES) -> dict[str, str]:
    """The options the server accepts, as they go into the OACK."""
    accepted: dict[str, str] = {}
    opts = request.options
    if "blksize" in opts and opts["blksize"].isdigit() and int(opts["blksize"]) >= 8:
        accepted["blksize"] = str(min(int(opts["blksize"]), MAX_BLKSIZE))
    if "timeout" in opts and opts["timeout"].isdigit() and 1 <= int(opts["timeout"]) <= 255:
        accepted["timeout"] = opts["timeout"]
    if "tsize" in opts and opts["tsize"].isdigit() and tsize is not None:
        accepted["tsize"] = str(tsize)
    if "windowsize" in opts and opts["windowsize"].isdigit() and int(opts["windowsize"]) >= 1:
        blksize = int(accepted.get("blksize", DEFAULT_BLKSIZE))
        limit = max(1, min(MAX_WINDOWSIZE, window_bytes // blksize))
        accepted["windowsize"] = str(min(int(opts["windowsize"]), limit))
    return accepted

