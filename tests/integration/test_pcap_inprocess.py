"""The pcap export of a connection the Tools page opened, read back by tshark: a real TCP
connection on loopback (moved from tests/unit, where no test touches a socket)."""

import shutil
import subprocess
from pathlib import Path

from gevent import socket

from sockets_core.bus import Bus
from sockets_core.packetlog import PacketLog
from sockets_core.pcap import to_pcap
from sockets_core.tools.sessions import ToolManager


def _tshark(pcap: Path, *args: str) -> list[list[str]]:
    assert shutil.which("tshark"), "tshark is missing: run make test (tests/tools/ensure_peers.sh installs it)"
    out = subprocess.run(["tshark", "-r", str(pcap), *args], check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines()]


def test_a_connection_sockdash_opened_has_its_syn_from_sockdash(tmp_path: Path) -> None:
    """The TCP client tool connects out: in the export the SYN goes from its port to the
    server's, and tshark sees its request as the client's (not client and server swapped)."""
    packetlog = PacketLog()
    manager = ToolManager(Bus(), packetlog, "127.0.0.1", lambda: set())
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        client = manager.open("tcp-client", "127.0.0.1", server.getsockname()[1])
        accepted, _ = server.accept()
        client.send(b"GET / HTTP/1.0\r\n\r\n", None)
        assert accepted.recv(100) == b"GET / HTTP/1.0\r\n\r\n"
        accepted.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
        accepted.close()
        client._greenlets[-1].join(5)  # the reader sees the close and taps it
        pcap = tmp_path / "tools.pcap"
        pcap.write_bytes(b"".join(to_pcap(packetlog.events(service="tools"))))
        tool_port, server_port = str(client.local[1]), str(server.getsockname()[1])
        syn = _tshark(pcap, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0", "-T", "fields",
                      "-e", "tcp.srcport", "-e", "tcp.dstport")
        assert syn == [[tool_port, server_port]]
        requests = _tshark(pcap, "-d", f"tcp.port=={server_port},http", "-Y", "http.request",
                           "-T", "fields", "-e", "tcp.srcport")
        assert requests == [[tool_port]]
        assert _tshark(pcap, "-Y", "tcp.analysis.flags && !tcp.analysis.window_update") == []
    finally:
        server.close()
        manager.close_all()
