"""ReadTransfer cuts blocks out of 64 KiB reads at an offset: blocks across read boundaries,
short reads and the exact multiple of blksize still give back the file byte for byte."""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import pytest

from sockets_core.tftp.packets import RRQ, Request, decode, encode_ack
from sockets_core.tftp.transfer import ReadTransfer


def download(payload: bytes, read: Callable[[int], bytes], blksize: int, windowsize: int,
             mode: str = "octet") -> bytes:
    request = Request(RRQ, "f", mode, {"blksize": str(blksize), "windowsize": str(windowsize)})
    transfer = ReadTransfer(request, read, len(payload))
    received: dict[int, bytes] = {}
    packets = transfer.start(0.0)
    packets = transfer.receive(encode_ack(0), 0.0)  # the OACK acknowledged
    total = 0
    while not transfer.done:
        last = 0
        for packet in packets:
            data = decode(packet)
            total += 1
            received[total] = data.payload  # type: ignore[union-attr]
            last = data.block  # type: ignore[union-attr]
        packets = transfer.receive(encode_ack(last), 0.0)
    assert transfer.error is None
    return b"".join(received[n] for n in sorted(received))


def trickle(source: bytes, most: int) -> Callable[[int], bytes]:
    """A reader that never returns more than ``most`` bytes a call (a pipe, a slow device)."""
    stream = io.BytesIO(source)
    return lambda n: stream.read(min(n, most))


@pytest.mark.parametrize("size", [0, 1, 1467, 1468, 65536, 65536 + 1468 * 3, 1468 * 90, 300_001])
@pytest.mark.parametrize("windowsize", [1, 16])
def test_every_byte_comes_back_in_order(size: int, windowsize: int) -> None:
    payload = os.urandom(size)
    assert download(payload, io.BytesIO(payload).read, 1468, windowsize) == payload
    assert download(payload, trickle(payload, 1000), 1468, windowsize) == payload


def test_netascii_grows_by_its_crs_across_reads() -> None:
    text = (b"line\n" * 30_000)[:140_000]
    back = download(text, io.BytesIO(text).read, 512, 4, mode="netascii")
    assert back == text.replace(b"\n", b"\r\n")
