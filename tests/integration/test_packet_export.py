"""The packet log's exports, read back by tshark and as JSON lines."""

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from tests import harness
from tests.integration.test_services_live import chat_client, recv_until

HOST = "127.0.0.1"


def test_tshark_reads_tftp_packets_and_the_tcp_chat_stream(tmp_path: Path) -> None:
    assert shutil.which("tshark"), "tshark is missing: run make test (tests/tools/ensure_peers.sh installs it)"
    proc = harness.start(tmp_path / "s", "--packet-log-file", str(tmp_path / "log" / "packets.jsonl"))
    try:
        alice, bob = chat_client(proc, "alice"), chat_client(proc, "bob")
        alice.sendall(b"the quick brown fox\n")
        recv_until(bob, b"fox\n")
        alice.close()
        bob.close()
        (proc.root / "boot.img").write_bytes(bytes(range(256)) * 8)  # 4 blocks of 512
        subprocess.run(["tftp", HOST, str(proc.ports["tftp"]), "-m", "binary", "-c", "get", "boot.img",
                        str(tmp_path / "boot.img")], check=True, timeout=30, capture_output=True)
        time.sleep(0.3)
        pcap = tmp_path / "export.pcap"
        with urllib.request.urlopen(f"{proc.base_url}/api/packets.pcap", timeout=10) as response:
            pcap.write_bytes(response.read())
        tftp_port = proc.ports["tftp"]
        decoded = subprocess.run(["tshark", "-r", str(pcap), "-d", f"udp.port=={tftp_port},tftp",
                                  "-Y", "tftp", "-T", "fields", "-e", "tftp.opcode", "-e", "tftp.source_file",
                                  "-e", "tftp.block"], capture_output=True, text=True, timeout=60)
        assert decoded.returncode == 0, decoded.stderr
        rows = [line.split("\t") for line in decoded.stdout.splitlines()]
        assert ["1", "boot.img", ""] in rows  # RRQ
        assert sum(1 for r in rows if r[0] == "3") == 5 and sum(1 for r in rows if r[0] == "4") == 5  # DATA, ACK
        streams = subprocess.run(["tshark", "-r", str(pcap), "-q", "-z", "follow,tcp,ascii,0"],
                                 capture_output=True, text=True, timeout=60)
        assert "welcome to sockdash chat" in streams.stdout
        follow_all = "".join(subprocess.run(["tshark", "-r", str(pcap), "-q", "-z", f"follow,tcp,ascii,{n}"],
                                            capture_output=True, text=True, timeout=60).stdout for n in (0, 1))
        assert "the quick brown fox" in follow_all
        analysis = subprocess.run(["tshark", "-r", str(pcap), "-Y", "tcp.analysis.flags && !tcp.analysis.window_update"],
                                  capture_output=True, text=True, timeout=60)
        assert analysis.stdout.strip() == "", analysis.stdout  # no lost/duplicate/out-of-order segments

        with urllib.request.urlopen(f"{proc.base_url}/api/packets.jsonl?service=tftp", timeout=10) as response:
            lines = [json.loads(line) for line in response.read().decode().splitlines()]
        assert lines and all(e["service"] == "tftp" for e in lines)
        assert lines[0]["summary"] == "RRQ boot.img octet"
    finally:
        proc.stop()
    logged = [json.loads(line) for line in (tmp_path / "log" / "packets.jsonl").read_text().splitlines()]
    assert any(e["summary"] == "RRQ boot.img octet" for e in logged)
    assert any(bytes.fromhex(e["payload_hex"]) == b"the quick brown fox\n" for e in logged)
