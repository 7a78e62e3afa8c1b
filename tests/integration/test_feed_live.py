"""A live feed to a browser that stops reading, against the real server: cut after
--ws-send-timeout (before, it held its greenlet and socket for as long as the peer lived)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from tests import harness, wsclient

DATAGRAMS_PER_ROUND = 200
MAX_ROUNDS = 100  # 20,000 datagrams at most: far more than the socket buffers between us hold


def test_a_packet_feed_nobody_reads_is_cut_and_logged(tmp_path: Path) -> None:
    proc = harness.start(tmp_path, "--ws-send-timeout", "1", "--log-level", "WARNING")
    try:
        port = proc.ports["http"]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server fills up soon
        sock.settimeout(5)
        sock.connect(("127.0.0.1", port))
        client = wsclient.WsClient(sock)
        client.handshake(f"127.0.0.1:{port}", "/ws/packets")
        assert client.accepted
        assert json.loads(client.receive() or "null")["type"] == "packets"  # it works; from now on we never read
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            cut = False
            for _ in range(MAX_ROUNDS):  # each datagram is a packet event for the feed
                for i in range(DATAGRAMS_PER_ROUND):
                    sender.sendto(b"x" * 200 + str(i).encode(), ("127.0.0.1", proc.ports["udp_chat"]))
                time.sleep(0.05)  # paced, so the UDP chat's socket keeps up (this is load, not a wait)
                if any("(--ws-send-timeout): connection cut" in line for line in proc.output):
                    cut = True
                    break
        assert cut, "the feed was not cut"
        [line] = [line for line in proc.output if "--ws-send-timeout" in line]
        assert "WARNING" in line and "127.0.0.1:" in line and "took no data for 1 s" in line
        ended = False
        try:  # what the buffers held, then the end of the stream: the server let go of it
            while sock.recv(1 << 20):
                pass
            ended = True
        except ConnectionResetError:
            ended = True
        assert ended
        sock.close()
        status = proc.status()  # the server goes on serving
        assert status["services"]["udp_chat"]["running"]
    finally:
        assert proc.stop() == 0
