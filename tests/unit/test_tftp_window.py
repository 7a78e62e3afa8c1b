"""RFC 7440 windowsize, and a Hypothesis property test over the parser and the state machines."""

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from sockets_core.tftp.packets import (
    RRQ,
    WRQ,
    Ack,
    MalformedPacket,
    OptionAck,
    Request,
    decode,
    encode_ack,
    encode_data,
    encode_error,
    encode_request,
)
from sockets_core.tftp.transfer import ReadTransfer, WriteTransfer, negotiate


def download(windowsize: int, data: bytes, blksize: int = 512) -> ReadTransfer:
    request = Request(RRQ, "f", "octet", {"windowsize": str(windowsize), "blksize": str(blksize)})
    return ReadTransfer(request, io.BytesIO(data).read, len(data))


def blocks(packets: list[bytes]) -> list[int]:
    return [decode(p).block for p in packets]  # type: ignore[union-attr]


def test_download_sends_a_window_per_ack_and_finishes() -> None:
    data = bytes(range(256)) * 40  # 10240 bytes: 20 full blocks and an empty last one
    t = download(4, data)
    assert isinstance(decode(t.start(0.0)[0]), OptionAck)
    got = b""
    packets = t.receive(encode_ack(0), 0.0)
    while packets:
        assert len(packets) <= 4
        got += b"".join(decode(p).payload for p in packets)  # type: ignore[union-attr]
        packets = t.receive(encode_ack(decode(packets[-1]).block), 0.0)  # type: ignore[union-attr]
    assert got == data and t.done and t.error is None


def test_an_ack_inside_the_window_resends_from_the_missing_block() -> None:
    t = download(4, b"x" * 5000)
    t.start(0.0)
    assert blocks(t.receive(encode_ack(0), 0.0)) == [1, 2, 3, 4]
    assert blocks(t.receive(encode_ack(2), 0.0)) == [3, 4, 5, 6]  # block 3 was lost
    assert t.receive(encode_ack(2), 0.0) == []  # the same ACK again: no resend
    assert t.receive(encode_ack(1), 0.0) == []  # an older one: nothing either
    assert blocks(t.receive(encode_ack(6), 0.0)) == [7, 8, 9, 10]


def test_timeout_resends_only_the_first_block_of_the_window() -> None:
    t = download(3, b"x" * 5000)
    t.start(0.0)
    first = t.receive(encode_ack(0), 0.0)
    assert t.handle_timer(1.0) == first[:1]
    assert blocks(t.receive(encode_ack(3), 1.01)) == [4, 5, 6]  # the client had them all: on


def test_window_bytes_are_bounded_in_the_oack() -> None:
    """blksize 65464 windowsize 65535 was granted windowsize 256: 16 MiB held per transfer."""
    greedy = Request(RRQ, "f", "octet", {"blksize": "65464", "windowsize": "65535"})
    assert negotiate(greedy, None)["windowsize"] == str((1 << 20) // 65464) == "16"
    assert negotiate(greedy, None, window_bytes=256 << 10)["windowsize"] == "4"
    assert negotiate(greedy, None, window_bytes=0)["windowsize"] == "1"  # one block at the least
    t = ReadTransfer(greedy, io.BytesIO(b"x" * (8 << 20)).read, 8 << 20, window_bytes=512 << 10)
    assert decode(t.start(0.0)[0]) == OptionAck({"blksize": "65464", "windowsize": "8"})
    assert sum(map(len, t.receive(encode_ack(0), 0.0))) <= (512 << 10) + 8 * 4
    assert negotiate(Request(RRQ, "f", "octet", {"windowsize": "0"}), None) == {}


def test_upload_acks_each_window_and_a_gap_once() -> None:
    parts: list[bytes] = []
    t = WriteTransfer(Request(WRQ, "u", "octet", {"windowsize": "4"}), parts.append, 1 << 20)
    assert isinstance(decode(t.start(0.0)[0]), OptionAck)
    for block in (1, 2, 3):
        assert t.receive(encode_data(block, b"a" * 512), 0.0) == []
    assert decode(t.receive(encode_data(4, b"a" * 512), 0.0)[0]) == Ack(4)
    assert t.receive(encode_data(5, b"b" * 512), 0.0) == []
    assert decode(t.receive(encode_data(7, b"d" * 512), 0.0)[0]) == Ack(5)  # 6 was lost
    assert t.receive(encode_data(8, b"e" * 512), 0.0) == []  # the same gap is answered once
    for block, fill in ((6, b"c"), (7, b"d"), (8, b"e")):
        t.receive(encode_data(block, fill * 512), 0.0)
    assert decode(t.receive(encode_data(9, b"end"), 0.0)[0]) == Ack(9) and t.done
    assert b"".join(parts) == b"a" * 2048 + b"b" * 512 + b"c" * 512 + b"d" * 512 + b"e" * 512 + b"end"


def test_upload_block_numbers_roll_over_with_a_window() -> None:
    size = 0
    t = WriteTransfer(Request(WRQ, "u", "octet", {"windowsize": "16", "blksize": "8"}),
                      lambda b: None, 1 << 30)
    t.start(0.0)
    for n in range(1, 70_001):
        t.receive(encode_data(n & 0xFFFF, b"12345678"), 0.0)
        size += 8
    t.receive(encode_data(70_001 & 0xFFFF, b"x"), 0.0)
    assert t.done and t.error is None and t.bytes_moved == size + 1


packets = st.one_of(
    st.binary(max_size=40),
    st.builds(encode_ack, st.integers(0, 0xFFFF)),
    st.builds(encode_data, st.integers(0, 0xFFFF), st.binary(max_size=600)),
    st.builds(encode_error, st.integers(0, 9), st.text(max_size=20)),
    st.builds(lambda n, m, o: encode_request(RRQ, n, m, o), st.text(max_size=10), st.sampled_from(["octet", "x"]),
              st.dictionaries(st.sampled_from(["blksize", "windowsize", "tsize", "timeout", "x"]),
                              st.sampled_from(["0", "7", "8", "512", "65465", "abc", ""]), max_size=3)),
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_decode_raises_nothing_but_malformed_packet(data: bytes) -> None:
    try:
        decode(data)
    except MalformedPacket as exc:
        assert 0 <= exc.code <= 8


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["blksize", "windowsize", "tsize", "timeout"]),
                       st.sampled_from(["0", "1", "7", "8", "512", "65464", "65465", "99999", "abc", ""])),
       st.sampled_from(["octet", "netascii"]), st.lists(st.tuples(packets, st.floats(0, 30)), max_size=40))
def test_state_machines_never_raise_on_any_input(options: dict[str, str], mode: str,
                                                 inputs: list[tuple[bytes, float]]) -> None:
    read = ReadTransfer(Request(RRQ, "f", mode, options), io.BytesIO(b"x\r\n" * 700).read, 2100)
    write = WriteTransfer(Request(WRQ, "f", mode, options), lambda b: None, 100_000)
    sent_by_read = len(read.start(0.0))
    write.start(0.0)
    now = 0.0
    for data, dt in inputs:
        now += dt
        for t in (read, write):
            t.receive(data, now)
            t.handle_timer(now)
    assert sent_by_read <= 1
    # no amplification: a peer that never answers costs at most retries + 1 sends
    silent = ReadTransfer(Request(RRQ, "f", mode, options), io.BytesIO(b"y" * 100).read, 100)
    total = len(silent.start(0.0))
    for step in range(1, 50):
        total += len(silent.handle_timer(step * 300.0))
    assert silent.done and total <= (silent.max_retries + 1) * max(1, silent.windowsize)


def test_the_client_answers_a_repeated_oack_of_a_get_with_ack_0() -> None:
    from sockets_core.tftp.client import TftpClient
    from sockets_core.tftp.packets import encode_oack

    parts: list[bytes] = []
    client = TftpClient(RRQ, "f", windowsize=4, write=parts.append)
    client.start(0.0)
    assert client.receive(encode_oack({"windowsize": "4"}), 0.0) == [encode_ack(0)]
    assert client.receive(encode_oack({"windowsize": "4"}), 1.0) == [encode_ack(0)]  # our ACK 0 was lost
    client.receive(encode_data(1, b"x" * 100), 1.0)
    assert client.done and client.error is None and parts == [b"x" * 100]


def test_the_window_is_capped_at_half_the_block_numbers() -> None:
    options = negotiate(Request(RRQ, "f", "octet", {"blksize": "8", "windowsize": "65535"}), None)
    assert options["windowsize"] == "32767"
