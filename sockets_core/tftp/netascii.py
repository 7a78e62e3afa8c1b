"""netascii (RFC 764 via RFC 1350): LF travels as CR LF, a lone CR as CR NUL.

Out: each byte converts alone, so packet boundaries never split a conversion. In: a CR
that ends one packet is held until the next one tells what follows it.
"""

from __future__ import annotations


def to_netascii(data: bytes) -> bytes:
    return data.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")


class NetasciiDecoder:
    def __init__(self) -> None:
        self._held_cr = False

    def feed(self, payload: bytes, last: bool) -> bytes:
        if self._held_cr:
            payload = b"\r" + payload
            self._held_cr = False
        if payload.endswith(b"\r") and not last:
            payload, self._held_cr = payload[:-1], True
        return payload.replace(b"\r\n", b"\n").replace(b"\r\0", b"\r")
