"""TFTP end to end in memory: our client (TftpClient) against the server's transfers
(ReadTransfer/WriteTransfer) over a fake link that drops, duplicates and reorders with a
seeded random generator, on a fake clock that jumps to the next delivery or timer. No sockets,
no real time: a transfer that would take minutes of resends runs in milliseconds.

Every run must end within a bounded number of steps with, on each side, either success and
byte-exact data or a clean error (a reason string); a side that reports success with wrong
data, an exception, or a run that never ends fails the test.
"""

from __future__ import annotations

import heapq
import io
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sockets_core.tftp.client import TftpClient
from sockets_core.tftp.packets import RRQ, WRQ, Request, decode
from sockets_core.tftp.transfer import ReadTransfer, WriteTransfer

MAX_STEPS = 200_000
LATENCY = 0.005  # one way, seconds of fake time
UPLOAD_LIMIT = 1 << 30


@dataclass
class Link:
    """Datagrams in flight, each delivered (or not) at a time of its own."""
    rng: random.Random
    drop: float = 0.0
    duplicate: float = 0.0
    jitter: float = 0.0  # extra delay up to this: later packets may overtake earlier ones
    dies_after: int | None = None  # from this many datagrams on, everything is lost
    queue: list[tuple[float, int, str, bytes]] = field(default_factory=list)
    sent: int = 0

    def send(self, now: float, to: str, packets: list[bytes]) -> None:
        for data in packets:
            copies = 2 if self.rng.random() < self.duplicate else 1
            for _ in range(copies):
                self.sent += 1
                if self.rng.random() < self.drop or (self.dies_after is not None and self.sent > self.dies_after):
                    continue
                at = now + LATENCY + self.rng.uniform(0, self.jitter)
                heapq.heappush(self.queue, (at, self.sent, to, data))


@dataclass
class Outcome:
    client: TftpClient
    server: ReadTransfer | WriteTransfer | None
    received: bytes  # what the receiving side wrote
    steps: int
    sent: int


def run(opcode: int, content: bytes, *, mode: str = "octet", blksize: int | None = None,
        windowsize: int | None = None, seed: int = 0, drop: float = 0.0, duplicate: float = 0.0,
        jitter: float = 0.0, dies_after: int | None = None) -> Outcome:
    """One transfer of ``content``: a get (RRQ) serves it, a put (WRQ) sends it."""
    link = Link(random.Random(seed), drop, duplicate, jitter, dies_after)
    received = io.BytesIO()
    source = io.BytesIO(content)
    if opcode == RRQ:
        client = TftpClient(RRQ, "file.bin", mode, blksize, windowsize, write=received.write)
    else:
        client = TftpClient(WRQ, "file.bin", mode, blksize, windowsize, read=source.read, size=len(content))
    server: ReadTransfer | WriteTransfer | None = None
    served = io.BytesIO(content)

    def server_receive(data: bytes, now: float) -> list[bytes]:
        nonlocal server
        if data[:2] in (b"\x00\x01", b"\x00\x02"):  # a request (the first, or a repeat)
            if server is not None:
                return server.repeated_request(now)
            request = decode(data)
            assert isinstance(request, Request)
            if request.opcode == RRQ:
                server = ReadTransfer(request, served.read, None if mode == "netascii" else len(content))
            else:
                server = WriteTransfer(request, received.write, UPLOAD_LIMIT)
            return server.start(now)
        return server.receive(data, now) if server is not None else []

    now = 0.0
    link.send(now, "server", client.start(now))
    steps = 0
    while steps < MAX_STEPS:
        timers = [(t, side) for t, side in ((client.get_timer(), "client"),
                                           (server.get_timer() if server else None, "server")) if t is not None]
        candidates = timers + ([(link.queue[0][0], "link")] if link.queue else [])
        if not candidates:
            break  # nothing in flight, no timer armed: both sides are quiet for good
        steps += 1
        now, what = min(candidates)
        if what == "link":
            _, _, to, data = heapq.heappop(link.queue)
            if to == "server":
                link.send(now, "client", server_receive(data, now))
            else:
                link.send(now, "server", client.receive(data, now))
        elif what == "client":
            link.send(now, "server", client.handle_timer(now))
        else:
            assert server is not None
            link.send(now, "client", server.handle_timer(now))
    assert steps < MAX_STEPS, f"no end after {steps} steps ({now:.1f} s of fake time)"
    return Outcome(client, server, received.getvalue(), steps, link.sent)


def assert_exact_or_clean_error(outcome: Outcome, content: bytes) -> None:
    client, server = outcome.client, outcome.server
    assert client.done, "the client never finished"
    assert server is None or server.done, "the server's transfer never finished"
    if client.error is not None:
        assert isinstance(client.error, str) and client.error
    if server is not None and server.error is not None:
        assert isinstance(server.error, str) and server.error
    receiver_ok = (client.error is None) if client.opcode == RRQ else (server is not None and server.error is None)
    if receiver_ok:
        assert outcome.received == content, "the receiver reports success with different bytes"
    # the sender can only have finished well if the receiver had it all
    sender_ok = (server is not None and server.error is None) if client.opcode == RRQ else client.error is None
    if sender_ok:
        assert receiver_ok, "the sender finished well, the receiver did not"


def pattern(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


# -- fixed cases: these must succeed -------------------------------------------------------------

CASES = [  # opcode, size, blksize, windowsize
    (RRQ, 0, None, None), (RRQ, 512, None, None), (RRQ, 5000, None, None), (RRQ, 5000, 8, None),
    (RRQ, 20_000, 1468, 8), (RRQ, 4096, 512, 4), (WRQ, 0, None, None), (WRQ, 1024, None, None),
    (WRQ, 5000, 8, None), (WRQ, 20_000, 1468, 8), (WRQ, 4096, 512, 4), (WRQ, 3000, 100, 16),
]


@pytest.mark.parametrize("opcode,size,blksize,windowsize", CASES)
def test_a_clean_link_moves_every_byte(opcode: int, size: int, blksize: int | None, windowsize: int | None) -> None:
    content = pattern(size)
    outcome = run(opcode, content, blksize=blksize, windowsize=windowsize)
    assert outcome.client.error is None and outcome.server is not None and outcome.server.error is None
    assert outcome.received == content
    if blksize is not None:
        assert outcome.client.accepted.get("blksize") == str(blksize)
    # lossless lock-step: a DATA and an ACK a block, the request and its OACK (tsize), and for a
    # get the ACK 0 of that OACK; not one resend
    if windowsize is None and blksize is None:
        blocks = size // 512 + 1
        assert outcome.sent == 2 * blocks + (3 if opcode == RRQ else 2)


@pytest.mark.parametrize("opcode,size,blksize,windowsize", CASES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_lossy_duplicating_reordering_link_still_moves_every_byte(
        opcode: int, size: int, blksize: int | None, windowsize: int | None, seed: int) -> None:
    content = pattern(size, seed)
    outcome = run(opcode, content, blksize=blksize, windowsize=windowsize, seed=seed, drop=0.1, duplicate=0.1,
                  jitter=0.02)
    assert_exact_or_clean_error(outcome, content)
    # seeded: these runs are known to get through, and must keep doing so
    assert outcome.client.error is None, outcome.client.error
    assert outcome.received == content


NETASCII_TEXT = b"line one\nline two\r\nbare CR\r here\rand \x00 NUL\n\r\n" * 40 + b"ends with CR\r"


@pytest.mark.parametrize("opcode", [RRQ, WRQ])
@pytest.mark.parametrize("blksize", [None, 8, 9])  # odd sizes cut CR LF pairs across blocks
def test_netascii_round_trips_the_text_across_block_boundaries(opcode: int, blksize: int | None) -> None:
    outcome = run(opcode, NETASCII_TEXT, mode="netascii", blksize=blksize, seed=5, drop=0.05, jitter=0.01)
    assert outcome.client.error is None and outcome.server is not None and outcome.server.error is None
    assert outcome.received == NETASCII_TEXT


def test_a_dead_link_is_a_clean_error_on_the_client_within_its_retries() -> None:
    outcome = run(RRQ, b"x" * 100, drop=1.0)
    assert outcome.server is None
    assert outcome.client.error == "no answer from the server after 5 retries"
    assert outcome.sent == 6  # the request and its five resends, nothing more


@pytest.mark.parametrize("opcode", [RRQ, WRQ])
@pytest.mark.parametrize("windowsize", [None, 8])
def test_a_link_dying_mid_transfer_ends_both_sides_with_an_error(opcode: int, windowsize: int | None) -> None:
    content = pattern(50_000)
    outcome = run(opcode, content, windowsize=windowsize, dies_after=20)
    assert outcome.server is not None
    assert outcome.client.error is not None and "no answer" in outcome.client.error
    assert outcome.server.error is not None and "no answer" in outcome.server.error
    assert 0 < len(outcome.received) < len(content)


# -- properties over seeds, sizes and options ------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(opcode=st.sampled_from([RRQ, WRQ]), size=st.integers(0, 6000), blksize=st.sampled_from([None, 8, 511, 1468]),
       windowsize=st.sampled_from([None, 1, 3, 16]), seed=st.integers(0, 2**32 - 1),
       drop=st.sampled_from([0.0, 0.05, 0.3]), duplicate=st.sampled_from([0.0, 0.2]),
       jitter=st.sampled_from([0.0, 0.003, 0.05]), netascii=st.booleans())
def test_any_link_gives_exact_bytes_or_a_clean_error_on_both_sides(
        opcode: int, size: int, blksize: int | None, windowsize: int | None, seed: int, drop: float,
        duplicate: float, jitter: float, netascii: bool) -> None:
    content = pattern(size, seed)
    outcome = run(opcode, content, mode="netascii" if netascii else "octet", blksize=blksize,
                  windowsize=windowsize, seed=seed, drop=drop, duplicate=duplicate, jitter=jitter)
    assert_exact_or_clean_error(outcome, content)
    if drop == 0.0:  # nothing lost: duplicates and reordering alone never fail a transfer
        assert outcome.client.error is None and outcome.received == content
