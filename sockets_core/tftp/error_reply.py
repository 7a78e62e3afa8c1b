"""ERROR packets that are never larger than what they answer.

A server that answers a small datagram with a bigger one is an amplifier for anyone
who spoofs a victim's address (the old reply to a request with a long mode echoed the
mode back, four times as long). So an ERROR is cut, at a character boundary, to the
size of the packet it answers. Under 5 bytes there is no room for even an empty message:
``within`` then gives None (say nothing: a request is never that short), ``fit`` the
bare 5-byte ERROR (its code alone still tells a peer in a transfer what happened).
"""

from __future__ import annotations

from .packets import ERROR, encode_error

BARE_ERROR = 5  # opcode, code and the NUL of an empty message


def within(code: int, message: str, limit: int) -> bytes | None:
    """ERROR ``code`` with as much of ``message`` as fits in ``limit`` bytes, or None."""
    if limit < BARE_ERROR:
        return None
    text = message.encode("utf-8")[:limit - BARE_ERROR].decode("utf-8", "ignore")
    return encode_error(code, text)


def fit(packet: bytes, limit: int) -> bytes:
    """``packet`` itself unless it is an ERROR longer than ``limit``: then cut down to it
    (to the bare ERROR at the least)."""
    if len(packet) <= limit or int.from_bytes(packet[:2], "big") != ERROR:
        return packet
    message = packet[4:-1].decode("utf-8", "replace")
    return within(int.from_bytes(packet[2:4], "big"), message, max(limit, BARE_ERROR)) or packet[:BARE_ERROR]
