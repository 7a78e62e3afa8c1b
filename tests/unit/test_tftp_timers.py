"""The resend timer: measured round trips, backoff on a silent peer, one block per resend."""

import io
import itertools

from sockets_core.tftp.packets import RRQ, WRQ, Ack, Data, Request, decode, encode_ack, encode_data
from sockets_core.tftp.rto import MIN_RTO, RetransmitTimer
from sockets_core.tftp.transfer import CLIENT_RESEND, ReadTransfer, WriteTransfer


def download(data: bytes, **options: str) -> ReadTransfer:
    return ReadTransfer(Request(RRQ, "f", "octet", dict(options)), io.BytesIO(data).read, len(data))


def run_silent(t: ReadTransfer | WriteTransfer, first: list[bytes]) -> tuple[int, list[float], list[bytes]]:
    """Drive the timer of a transfer whose peer never answers: bytes sent, resend times, resends."""
    sent, times, resent = sum(map(len, first)), [], []
    for _ in range(1000):
        if t.done:
            break
        when = t.get_timer()
        assert when is not None
        packets = t.handle_timer(when)
        if packets:
            times.append(when)
        resent += packets
        sent += sum(map(len, packets))
    assert t.done
    return sent, times, resent


def test_the_timer_follows_rfc_6298() -> None:
    timer = RetransmitTimer(ceiling=5.0)
    assert timer.timeout == 1.0  # nothing measured yet: RFC 6298's initial second
    timer.sample(0.3)
    assert abs(timer.timeout - (0.3 + 4 * 0.15)) < 1e-9  # SRTT + 4 RTTVAR
    for _ in range(50):
        timer.sample(0.0002)  # a LAN: the floor holds
    assert timer.timeout == MIN_RTO
    for expected in (0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0):
        timer.back_off()
        assert abs(timer.timeout - expected) < 1e-9  # doubles up to the ceiling (the timeout option)
    timer.sample(0.0002)
    assert timer.timeout == MIN_RTO  # a fresh sample ends the backoff
    assert RetransmitTimer(ceiling=1.0, initial=3.0).timeout == 1.0


def test_a_lost_block_is_resent_after_the_measured_round_trip_not_the_timeout() -> None:
    t = download(b"x" * 5000)
    assert decode(t.start(0.0)[0]) == Data(1, b"x" * 512)
    now = 0.0
    for block in range(2, 5):  # three round trips of 2 ms teach the timer
        now += 0.002
        assert decode(t.receive(encode_ack(block - 1), now)[0]) == Data(block, b"x" * 512)
    # block 4 is lost: it goes again after ~MIN_RTO, not after the 1 s of the default timeout
    assert t.get_timer() is not None and t.get_timer() - now <= MIN_RTO + 1e-9  # type: ignore[operator]
    assert decode(t.handle_timer(now + MIN_RTO)[0]) == Data(4, b"x" * 512)


def test_quick_resends_at_the_measured_pace_then_quiet_for_the_peers_own_timer() -> None:
    """A few quick resends within the timeout option (the ceiling of the backoff), then
    gaps longer than a client's own 5 s timer: tftp-hpa and atftp restart it on every
    packet they ignore, so a server resending each second would keep them from resending."""
    t = download(b"x" * 5000, timeout="3")
    t.start(0.0)
    t.receive(encode_ack(0), 0.01)  # the OACK answered: a 10 ms sample
    _, times, _ = run_silent(t, [])
    gaps = [b - a for a, b in itertools.pairwise([0.01, *times])]
    n = t.quick_resends
    assert all(abs(gap - min(3.0, MIN_RTO * 2 ** i)) < 1e-9 for i, gap in enumerate(gaps[:n]))
    assert all(abs(gap - 2 * CLIENT_RESEND) < 1e-9 for gap in gaps[n:]) and gaps[n:]
    assert t.done and "no answer" in (t.error or "")
    # a peer that answered is waited for (retries + 1) x 5 s: clients resend every 5 s
    assert times[-1] - 0.01 <= 6 * CLIENT_RESEND


def test_a_silent_peer_gets_one_block_per_resend_not_the_whole_window() -> None:
    """blksize 65464 windowsize 16 to a peer that answers the OACK and then nothing: the
    old code sent the 1 MiB window 6 times (and 16 MiB windows before the cap)."""
    t = download(b"z" * (4 << 20), blksize="65464", windowsize="16", timeout="20")
    t.start(0.0)
    window = t.receive(encode_ack(0), 0.001)
    assert len(window) == 16
    sent, times, resent = run_silent(t, window)
    assert resent and set(resent) == {window[0]}  # each resend: the first block, alone
    assert len(times) <= 6 + 8  # retries + 1, and the doublings from 0.1 s up to 20 s
    assert sent < 2 * sum(map(len, window))


def test_a_peer_that_never_answers_is_given_up_after_retries_seconds_whatever_timeout_it_asked() -> None:
    t = download(b"z" * 10_000, timeout="255")
    first = t.start(0.0)
    _, times, resent = run_silent(t, first)
    assert resent == []  # the OACK goes again only when the request does (see below)
    assert t.done and t.get_timer() is None
    silent = download(b"z" * 10_000)  # no options: DATA 1 is resent on the timer
    _, times, resent = run_silent(silent, silent.start(0.0))
    assert times[-1] < 6 * 3.0 and silent.done and set(resent) == {encode_data(1, b"z" * 512)}  # not 6 x 255 s


def test_the_oack_goes_again_when_the_request_does_never_on_the_timer() -> None:
    """curl and atftp abort on a second OACK after their ACK 0 was lost; a client that
    repeats its request never got the first one."""
    t = download(b"z" * 10_000, blksize="1024")
    oack = t.start(0.0)
    assert t.handle_timer(1.0) == [] and t.handle_timer(3.0) == []
    assert t.repeated_request(3.5) == oack
    t.receive(encode_ack(0), 3.6)
    assert t.repeated_request(3.7) == []  # under way: a late repeat changes nothing


def test_a_receiver_whose_ack_was_lost_says_where_it_is_once() -> None:
    parts: list[bytes] = []
    t = WriteTransfer(Request(WRQ, "u", "octet", {"windowsize": "4"}), parts.append, 1 << 20)
    t.start(0.0)
    for block in (1, 2, 3):
        assert t.receive(encode_data(block, b"a" * 512), 0.0) == []
    assert decode(t.receive(encode_data(4, b"a" * 512), 0.0)[0]) == Ack(4)
    # our ACK 4 was lost: the sender's timer resends block 1 of the window, then 1 again
    assert decode(t.receive(encode_data(1, b"a" * 512), 0.5)[0]) == Ack(4)
    assert t.receive(encode_data(2, b"a" * 512), 0.5) == []  # a whole window resent: one ACK
    assert t.receive(encode_data(5, b"end"), 0.6) and t.done
    assert b"".join(parts) == b"a" * 2048 + b"end"


def test_a_receiver_times_out_with_the_ack_of_what_it_has() -> None:
    t = WriteTransfer(Request(WRQ, "u", "octet", {"windowsize": "8"}), lambda b: None, 1 << 20)
    t.start(0.0)
    for block in (1, 2, 3):
        t.receive(encode_data(block, b"a" * 512), 0.01)
    # the window's tail was lost: when the timer fires the sender learns to go on after 3
    assert [decode(p) for p in t.handle_timer(t.get_timer())] == [Ack(3)]  # type: ignore[arg-type]
    for block in range(4, 12):
        replies = t.receive(encode_data(block, b"b" * 512), 0.2)
    assert [decode(p) for p in replies] == [Ack(11)]  # the window counts from the resume point


def test_no_round_trip_is_measured_on_a_resent_packet() -> None:
    """Karn's rule: the ACK after a resend may answer the first copy: no sample."""
    t = download(b"x" * 5000)
    t.start(0.0)
    t.handle_timer(1.0)  # DATA 1 again
    t.receive(encode_ack(1), 1.001)
    assert t.rto.srtt is None


def test_an_upload_learns_whether_the_sender_answers_our_repeated_ack() -> None:
    """curl resends its block when our ACK comes again: repeat quickly. tftp-hpa resends only
    on its own 5 s timer, restarted by every packet it ignores: one repeat, then quiet."""

    def resends_before_quiet(t: WriteTransfer) -> int:
        count, last = 0, t.get_timer()
        while True:
            assert last is not None
            if not t.handle_timer(last):
                return count
            count += 1
            following = t.get_timer()
            assert following is not None
            if following - last >= 2 * CLIENT_RESEND - 1e-9:
                return count
            last = following

    for follows, gap, expected in ((True, 0.15, 4), (False, 5.0, 1)):
        t = WriteTransfer(Request(WRQ, "u", "octet", {}), lambda b: None, 1 << 20)
        t.start(0.0)
        t.receive(encode_data(1, b"a" * 512), 0.001)  # ACK 1: a 1 ms round trip
        assert resends_before_quiet(t) == 4  # block 2 lost: nothing known yet
        t.receive(encode_data(2, b"a" * 512), t._resent_at + gap)
        assert t.follows_repeats is follows
        assert resends_before_quiet(t) == expected  # block 3 lost
