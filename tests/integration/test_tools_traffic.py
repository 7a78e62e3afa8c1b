"""What the Tools page's sessions send and receive reaches the packet log, as what it is."""

import json
import time
import urllib.request
from pathlib import Path

import simple_websocket

from tests import harness

HOST = "127.0.0.1"


def test_a_tftp_job_from_the_tools_page_is_in_the_packet_log(tmp_path: Path) -> None:
    proc = harness.start(tmp_path)
    try:
        (proc.root / "boot.img").write_bytes(bytes(range(256)) * 8)  # 4 blocks of 512 and an empty one
        ws = simple_websocket.Client.connect(f"ws://{HOST}:{proc.ports['http']}/ws/tools",
                                             headers={"Authorization": f"Bearer {proc.token}"})
        try:
            ws.send(json.dumps({"type": "tftp", "action": "get", "server": f"{HOST}:{proc.ports['tftp']}",
                                "remote": "boot.img", "local": "copy.img", "ref": "job"}))
            deadline = time.monotonic() + 20
            finished = ""
            while not finished and time.monotonic() < deadline:
                text = ws.receive(timeout=1)
                for update in json.loads(text).get("updates", []) if text else []:
                    info = update.get("event", {}).get("info", "")
                    if info.startswith(("done", "failed")):
                        finished = info
            assert finished.startswith("done"), finished or "the job did not finish"
        finally:
            ws.close()
        assert (proc.root / "copy.img").read_bytes() == (proc.root / "boot.img").read_bytes()
        request = urllib.request.Request(f"{proc.base_url}/api/packets.jsonl?service=tools",
                                         headers={"Authorization": f"Bearer {proc.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            events = [json.loads(line) for line in response.read().decode().splitlines()]
        payloads = [(e["transport"], e["direction"], bytes.fromhex(e["payload_hex"])) for e in events]
        assert payloads[0][:2] == ("udp", "out") and payloads[0][2].startswith(b"\x00\x01boot.img\x00")  # the RRQ
        assert [p for t, d, p in payloads if d == "in" and p[:2] == b"\x00\x06"]  # the OACK (tsize)
        assert sum(1 for t, d, p in payloads if d == "in" and p[:2] == b"\x00\x03") == 5  # DATA 1-5
        assert sum(1 for t, d, p in payloads if d == "out" and p[:2] == b"\x00\x04") >= 5  # ACK 0-5
        assert all(t == "udp" for t, _, _ in payloads)
        assert all(e["peer"].startswith(f"{HOST}:") and e["local"].startswith(f"{HOST}:") for e in events)
    finally:
        proc.stop()
