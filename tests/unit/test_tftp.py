import io

import pytest

from sockets_core.tftp.packets import (
    ERR_DISK_FULL,
    ERR_ILLEGAL,
    ERR_OPTIONS,
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
    encode_data,
    encode_error,
    encode_oack,
    encode_request,
    summarize,
)
from sockets_core.tftp.transfer import ReadTransfer, WriteTransfer, to_netascii


def rrq(name: str = "f", mode: str = "octet", **options: str) -> Request:
    return Request(RRQ, name, mode, dict(options))


def reader(data: bytes) -> tuple:
    source = io.BytesIO(data)
    return source.read, len(data)


def test_packets_roundtrip() -> None:
    assert decode(encode_request(RRQ, "a/b.txt", "octet", {"blksize": "1468"})) == Request(
        RRQ, "a/b.txt", "octet", {"blksize": "1468"})
    assert decode(encode_data(70000, b"xy")) == Data(70000 & 0xFFFF, b"xy")
    assert decode(encode_ack(7)) == Ack(7)
    assert decode(encode_error(1, "File not found")) == Error(1, "File not found")
    assert decode(encode_oack({"tsize": "5"})) == OptionAck({"tsize": "5"})


@pytest.mark.parametrize("data", [
    b"", b"\x00", b"\x00\x01", b"\x00\x01f", b"\x00\x01f\x00octet", b"\x00\x01f\x00bogus\x00",
    b"\x00\x09abc", b"\x00\x05\x00", b"\x00\x04\x00", b"\x00\x04\x00\x01\x02", b"\x00\x03\x00",
    b"\x00\x01f\x00octet\x00blksize\x00",
])
def test_malformed_packets_raise_only_malformed_packet(data: bytes) -> None:
    with pytest.raises(MalformedPacket) as info:
        decode(data)
    assert info.value.code == ERR_ILLEGAL


def test_duplicated_option_is_an_options_error() -> None:
    with pytest.raises(MalformedPacket) as info:
        decode(b"\x00\x01f\x00octet\x00blksize\x00512\x00blksize\x00600\x00")
    assert info.value.code == ERR_OPTIONS


def test_summaries() -> None:
    request = encode_request(RRQ, "config.txt", "octet", {"blksize": "1468"})
    assert summarize(request) == "RRQ config.txt octet blksize=1468"
    assert summarize(encode_data(9, b"x" * 1468)) == "DATA #9 1468 B"
    assert summarize(encode_ack(9)) == "ACK #9"
    assert summarize(encode_error(1, "File not found")) == "ERROR 1 File not found"
    assert summarize(b"\x00") .startswith("malformed")


def run_download(transfer: ReadTransfer) -> bytes:
    received = b""
    packets = transfer.start(0.0)
    now = 0.0
    while not transfer.done:
        packet = decode(packets[0])
        if isinstance(packet, OptionAck):
            packets = transfer.receive(encode_ack(0), now)
            continue
        assert isinstance(packet, Data)
        received += packet.payload
        packets = transfer.receive(encode_ack(packet.block), now)
        now += 0.001
    return received


@pytest.mark.parametrize("size", [0, 511, 512, 513, 2000])
def test_download_sizes_octet(size: int) -> None:
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    assert run_download(ReadTransfer(rrq(), *reader(data))) == data


def test_download_with_options_sends_oack_with_only_accepted_options() -> None:
    t = ReadTransfer(rrq(blksize="1468", tsize="0", timeout="3", foo="1"), *reader(b"x" * 3000))
    assert decode(t.start(0.0)[0]) == OptionAck({"blksize": "1468", "timeout": "3", "tsize": "3000"})
    assert run_download(t) == b"x" * 3000


@pytest.mark.parametrize("value, accepted", [("0", None), ("7", None), ("8", "8"), ("65465", "65464"), ("abc", None)])
def test_blksize_bounds(value: str, accepted: str | None) -> None:
    t = ReadTransfer(rrq(blksize=value), *reader(b"x"))
    first = decode(t.start(0.0)[0])
    if accepted is None:
        assert isinstance(first, Data)
    else:
        assert first == OptionAck({"blksize": accepted})


def test_netascii_conversion_across_block_boundaries() -> None:
    text = b"line\n" * 200 + b"cr\ronly"
    assert run_download(ReadTransfer(rrq(mode="netascii"), *reader(text))) == to_netascii(text)


def test_duplicate_ack_never_triggers_a_resend() -> None:
    t = ReadTransfer(rrq(), *reader(b"x" * 2000))
    t.start(0.0)
    assert len(t.receive(encode_ack(1), 0.0)) == 1  # DATA 2
    assert t.receive(encode_ack(1), 0.0) == []  # duplicate: nothing (Sorcerer's Apprentice)


def test_timeout_resends_then_gives_up_after_max_retries() -> None:
    t = ReadTransfer(rrq(), *reader(b"x" * 2000), max_retries=2)
    first = t.start(0.0)
    assert t.handle_timer(0.5) == []
    assert t.handle_timer(1.0) == first
    assert t.handle_timer(2.0) == first
    while t.get_timer() is not None:  # a peer that never answered: (2 + 1) x 3 s of patience
        t.handle_timer(t.get_timer())  # type: ignore[arg-type]
    assert t.done and "retries (9.0 s)" in (t.error or "")


def test_block_numbers_roll_over() -> None:
    blocks = 65536 + 10
    t = ReadTransfer(rrq(blksize="8"), *reader(b"z" * (8 * blocks)))
    assert len(run_download(t)) == 8 * blocks


def test_client_error_after_oack_ends_transfer() -> None:
    t = ReadTransfer(rrq(blksize="1024"), *reader(b"x"))
    t.start(0.0)
    assert t.receive(encode_error(ERR_OPTIONS, "no"), 0.0) == []
    assert t.done and "ERROR 8" in (t.error or "")


def test_upload_and_final_ack_resent_when_last_data_repeats() -> None:
    parts: list[bytes] = []
    t = WriteTransfer(Request(WRQ, "u", "octet", {}), parts.append, max_size=10_000)
    assert decode(t.start(0.0)[0]) == Ack(0)
    assert decode(t.receive(encode_data(1, b"a" * 512), 0.0)[0]) == Ack(1)
    assert decode(t.receive(encode_data(1, b"a" * 512), 0.0)[0]) == Ack(1)  # our ACK was lost
    final = t.receive(encode_data(2, b"end"), 0.0)
    assert decode(final[0]) == Ack(2) and t.done and t.error is None
    assert t.receive(encode_data(2, b"end"), 5.0) == final
    assert b"".join(parts) == b"a" * 512 + b"end"


def test_upload_over_limit_announced_or_sent_is_refused() -> None:
    t = WriteTransfer(Request(WRQ, "u", "octet", {"tsize": "20000"}), lambda b: None, max_size=10_000)
    assert decode(t.start(0.0)[0]).code == ERR_DISK_FULL and t.done
    t = WriteTransfer(Request(WRQ, "u", "octet", {}), lambda b: None, max_size=600)
    t.start(0.0)
    t.receive(encode_data(1, b"a" * 512), 0.0)
    assert decode(t.receive(encode_data(2, b"a" * 512), 0.0)[0]).code == ERR_DISK_FULL


def test_netascii_upload_with_cr_split_across_packets() -> None:
    parts: list[bytes] = []
    t = WriteTransfer(Request(WRQ, "u", "netascii", {"blksize": "8"}), parts.append, max_size=1000)
    t.start(0.0)
    t.receive(encode_data(0, b""), 0.0)  # stray, ignored
    t.receive(encode_data(1, b"abcdefg\r"), 0.0)
    t.receive(encode_data(2, b"\nx\r\0y"), 0.0)
    assert b"".join(parts) == b"abcdefg\nx\ry"
