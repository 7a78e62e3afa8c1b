"""Chat over the real process: commands, encodings, UDP, bad input, slow readers, history."""

import re
import resource
import signal
import socket
import sqlite3
import struct
import threading
import time
from pathlib import Path

import pytest

from tests import harness
from tests.harness import chat_client, open_many, recv_until

HOST = "127.0.0.1"


def test_commands_and_line_format(sockdash: harness.Sockdash) -> None:
    ann, ben = chat_client(sockdash, "ann"), chat_client(sockdash, "ben")
    try:
        ann.sendall(b"/who\n")
        who = recv_until(ann, b"ben (tcp)")
        assert b"ann (tcp)" in who
        ann.sendall(b"/me waves\n")
        assert b"#lobby * ann waves\n" in recv_until(ben, b"waves\n")
        ann.sendall(b"/msg ben secret\n")
        assert b"(private) <ann> secret\n" in recv_until(ben, b"secret\n")
        ben.sendall(b"/join games\n")
        assert b"* you are in #games: ben (tcp)\n" in recv_until(ben, b"#games:")
        assert b"#lobby * ben (tcp) left" in recv_until(ann, b"left")
        ann.sendall(b"only lobby hears this\n/join games\n")
        assert b"#games * ann (tcp) joined" in recv_until(ben, b"joined")
        ann.sendall("用中文说话\n".encode())
        line = recv_until(ben, "说话".encode())
        assert b"only lobby" not in line
        assert line.rstrip(b"\n").split(b"\n")[-1].endswith("#games <ann> 用中文说话".encode())
        stamp = line.rstrip(b"\n").split(b"\n")[-1][:10]
        assert stamp[0:1] == b"[" and stamp[9:10] == b"]" and stamp[3:4] == b":"
    finally:
        ann.close()
        ben.close()


def test_udp_nick_join_and_bye(sockdash: harness.Sockdash) -> None:
    watcher = chat_client(sockdash, "udpwatch")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        server = (HOST, sockdash.ports["udp_chat"])
        udp.sendto(b"/nick udpuser", server)
        assert udp.recvfrom(1024)[0] == b"* you are now udpuser\n"
        udp.sendto(b"from udp", server)
        assert b"<udpuser> from udp\n" in recv_until(watcher, b"from udp\n")
        udp.sendto(b"bye", server)
        assert b"udpuser (udp) left" in recv_until(watcher, b"left")
        watcher.sendall(b"after bye\n")
        with pytest.raises(TimeoutError):
            udp.settimeout(0.5)
            while True:
                data, _ = udp.recvfrom(1024)
                assert b"after bye" not in data
    watcher.close()


@pytest.mark.parametrize("payload, shown", [
    (b"\xff\xfe\xfd bad bytes\n", b"\\xff\\xfe\\xfd bad bytes"),
    (b"nul\x00in the middle\n", b"nul\\x00in the middle"),
    (b"\x1b[2Jclear screen\n", b"\\x1b[2Jclear screen"),
])
def test_undecodable_and_control_bytes_are_shown_escaped(sockdash: harness.Sockdash, payload: bytes,
                                                         shown: bytes) -> None:
    sender, reader = chat_client(sockdash, "sender"), chat_client(sockdash, "reader")
    sender.sendall(payload)
    assert shown in recv_until(reader, shown)
    sender.close()
    reader.close()


def test_one_mebibyte_without_newline_is_cut_and_the_sender_told(sockdash: harness.Sockdash) -> None:
    flooder, other = chat_client(sockdash, "flooder"), chat_client(sockdash, "other")
    listener = chat_client(sockdash, "listen")
    flooder.sendall(b"A" * (1 << 20))
    assert b"your line was cut at 8192 bytes" in recv_until(flooder, b"cut at")
    got = recv_until(listener, b"<flooder> AAAA")
    other.sendall(b"still chatting\n")
    got += recv_until(listener, b"still chatting\n")
    line = next(line for line in got.split(b"\n") if b"<flooder>" in line)
    assert line.count(b"A") == 8192
    for s in (flooder, other, listener):
        s.close()


def test_reset_mid_line_and_half_closed_clients_do_not_disturb_others(sockdash: harness.Sockdash) -> None:
    alive = chat_client(sockdash, "alive")
    reset = socket.create_connection((HOST, sockdash.ports["tcp_chat"]), timeout=5)
    recv_until(reset, b"/help")
    reset.sendall(b"half a li")
    reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    reset.close()  # RST
    half = socket.create_connection((HOST, sockdash.ports["tcp_chat"]), timeout=5)
    recv_until(half, b"/help")
    half.sendall(b"last words")
    half.shutdown(socket.SHUT_WR)  # FIN with a line pending: it is still delivered
    assert b"last words\n" in recv_until(alive, b"last words\n")
    silent = socket.create_connection((HOST, sockdash.ports["tcp_chat"]), timeout=5)  # never reads
    other = chat_client(sockdash, "other2")
    other.sendall(b"after all that\n")
    assert b"after all that\n" in recv_until(alive, b"after all that\n")
    for s in (alive, half, silent, other):
        s.close()


def test_slow_reader_is_told_what_it_missed_and_nobody_else_waits(sockdash: harness.Sockdash) -> None:
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect((HOST, sockdash.ports["tcp_chat"]))
    slow.settimeout(5)
    recv_until(slow, b"/help")  # then it reads nothing until the talker is done
    dropped_before = sockdash.status()["services"]["tcp_chat"]["delivery"]["dropped_lines"]
    fast, talker = chat_client(sockdash, "fast"), chat_client(sockdash, "talker")
    received = [0]

    def read_fast() -> None:  # a reader that keeps up, reading while the talker talks
        deadline = time.monotonic() + 20
        while received[0] < 200 * 4000 and time.monotonic() < deadline:
            received[0] += recv_until(fast, b"\n").count(b"x")

    reader = threading.Thread(target=read_fast)
    reader.start()
    line = b"x" * 4000 + b"\n"
    for _ in range(200):  # 800 KB to every reader, ~2 MB/s: far past the slow one's 256 KiB
        talker.sendall(line)
        time.sleep(0.002)  # pacing, not a wait: a talker at ~2 MB/s, which the fast reader keeps up with
    reader.join(25)
    assert received[0] >= 200 * 4000
    talker.sendall(b"the end\n")
    # the slow reader reads again: its queue was bounded, and it is told what it lost in its place
    late = recv_until(slow, b"the end", timeout=10)
    missed = [int(n) for n in re.findall(rb"\* you missed (\d+) lines: more than 256 KiB", late)]
    assert missed and sum(missed) > 100
    # nothing silently lost: every one of the 200 lines arrived whole or was counted (the two
    # join notices it did not read may be counted too)
    whole = late.count(b"x" * 4000 + b"\n")
    assert 200 <= whole + sum(missed) <= 202
    delivery = sockdash.status()["services"]["tcp_chat"]["delivery"]
    assert delivery["dropped_lines"] - dropped_before == sum(missed)
    assert any("slow reader (--tcp-chat-queue-bytes)" in line for line in sockdash.output)
    for s in (slow, fast, talker):
        s.close()


def test_two_thousand_connections_opened_and_dropped_at_once(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    proc = harness.start(tmp_path)
    try:
        witness = chat_client(proc, "witness")
        # all 2000 connected (the kernel completed each handshake) before they are all dropped;
        # the server may still be accepting them, or refusing those over its caps
        crowd = open_many(proc.ports["tcp_chat"], 2000)
        for s in crowd:
            s.close()
        speaker = chat_client(proc, "speaker")
        speaker.sendall(b"we survived\n")
        assert b"we survived\n" in recv_until(witness, b"we survived\n", timeout=20)
        proc.wait_for(lambda: proc.status()["services"]["tcp_chat"]["clients"] == 2, timeout=20)
        witness.close()
        speaker.close()
    finally:
        proc.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_history_loses_at_most_the_last_second_after_kill_9(tmp_path: Path) -> None:
    proc = harness.start(tmp_path)
    sender = chat_client(proc, "sender")
    sent: list[tuple[float, str]] = []
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < 2.5:
        text = f"msg-{i}"
        sender.sendall(text.encode() + b"\n")
        sent.append((time.monotonic(), text))
        i += 1
        time.sleep(0.01)  # pacing, not a wait: 100 messages a second, timestamped for the 1 s bound
    proc.proc.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    proc.stop()
    sender.close()
    db = sqlite3.connect(tmp_path / "data" / "chat.sqlite3")
    stored = {text for (text,) in db.execute("SELECT text FROM messages WHERE room = 'lobby'")}
    db.close()
    must_have = [text for t, text in sent if killed_at - t > 1.0]
    assert must_have and set(must_have) <= stored


def stored_count(tmp_path: Path, text: str) -> int:
    """How often ``text`` is in the chat history file (the history writes in batches)."""
    db = sqlite3.connect(f"file:{tmp_path / 'data' / 'chat.sqlite3'}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM messages WHERE text = ?", (text,)).fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        db.close()


def test_admin_clears_a_room(tmp_path: Path) -> None:
    import urllib.request

    proc = harness.start(tmp_path)
    try:
        s = chat_client(proc, "talker")
        s.sendall(b"to be forgotten\n")
        proc.wait_for(lambda: stored_count(tmp_path, "to be forgotten") == 1, what="the message in the history file")
        request = urllib.request.Request(f"{proc.base_url}/api/chat/rooms/lobby/clear", method="POST",
                                         headers={"Authorization": f"Bearer {proc.token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        assert b"cleared by the admin" in recv_until(s, b"cleared")
        s.close()
    finally:
        proc.stop()
    db = sqlite3.connect(tmp_path / "data" / "chat.sqlite3")
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0
    db.close()


def test_two_thousand_joins_leave_a_bounded_room_list_and_the_client_told_why(tmp_path: Path) -> None:
    proc = harness.start(tmp_path)
    try:
        roamer = chat_client(proc, "roamer")
        received = bytearray()

        def read_all() -> None:  # read while sending: the ~300 KB of replies must not make it a slow reader
            deadline = time.monotonic() + 30
            while b"rooms: " not in received and time.monotonic() < deadline:
                chunk = roamer.recv(1 << 16)
                if not chunk:
                    return
                received.extend(chunk)

        reader = threading.Thread(target=read_all)
        reader.start()
        roamer.sendall(b"".join(b"/join room%d\n" % i for i in range(2000)) + b"/rooms\n")
        reader.join(35)
        lines = bytes(received).decode().splitlines()
        refused = [line for line in lines if line.startswith("* error: you opened 20 rooms that are still open")]
        assert len(refused) == 1980 and "join an existing room or wait" in refused[0]
        assert "* you are in #room19: roamer (tcp)" in lines
        rooms = proc.get_json("/api/chat/rooms")["rooms"]
        assert len(rooms) == 21 and {r["room"] for r in rooms} == {"lobby"} | {f"room{i}" for i in range(20)}
        warnings = [line for line in proc.output if "rooms still open (limit 20)" in line]
        assert 1 <= len(warnings) <= 2 and "WARNING" in warnings[0] and "127.0.0.1:" in warnings[0]
        roamer.close()
    finally:
        proc.stop()
