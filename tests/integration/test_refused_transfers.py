"""Refused requests are in the transfer list, as Tftpd64 logs every request: a TFTP
"File not found", an HTTP 404 and a TCP downloader's miss, each marked refused with its
reason, through real clients against the real process."""

from __future__ import annotations

import socket
import subprocess
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from tests import harness

HOST = "127.0.0.1"


def refusals_of(proc: harness.Sockdash, file: str) -> list[dict[str, Any]]:
    return [t for t in proc.get_json("/api/transfers")["transfers"] if t["file"] == file]


def wait_refused(proc: harness.Sockdash, file: str) -> dict[str, Any]:
    found = proc.wait_for(lambda: refusals_of(proc, file))
    assert len(found) == 1, found
    return found[0]


def test_tftp_file_not_found_is_listed_refused(sockdash: harness.Sockdash, tmp_path: Any) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}.cfg"
    result = subprocess.run(["tftp", HOST, str(sockdash.ports["tftp"]), "-m", "binary", "-c", "get", name],
                            cwd=tmp_path, capture_output=True, text=True, timeout=20, check=False)
    assert "not found" in (result.stdout + result.stderr).lower()
    record = wait_refused(sockdash, name)
    assert (record["kind"], record["direction"], record["status"]) == ("tftp", "download", "refused")
    assert record["result"] == "ERROR 1: File not found" and record["options"] == "octet"
    assert record["peer"].startswith(f"{HOST}:") and record["finished"] and record["bytes"] == 0


def test_http_404_is_listed_refused_and_a_head_is_not(sockdash: harness.Sockdash) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}.txt"
    for method in ("HEAD", "GET"):
        request = urllib.request.Request(f"{sockdash.base_url}/files/{name}", method=method)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        refused.value.close()
        assert refused.value.code == 404
    record = wait_refused(sockdash, name)
    assert (record["kind"], record["status"], record["result"]) == ("http", "refused", "404: no such file")


@pytest.mark.parametrize(("asked", "reason"), [("missing-{}.bin", "no such file"),
                                               ("../escape-{}.bin", "refused name")])
def test_tcp_downloader_miss_is_listed_refused(sockdash: harness.Sockdash, asked: str, reason: str) -> None:
    name = asked.format(uuid.uuid4().hex[:8])
    with socket.create_connection((HOST, sockdash.ports["file"]), timeout=5) as s:
        s.sendall(name.encode())
        assert s.recv(1024) == b""  # the protocol's only "no": the server closes
    record = wait_refused(sockdash, name)
    assert (record["kind"], record["direction"], record["status"]) == ("tcp", "download", "refused")
    assert reason in record["result"]


def test_a_flood_of_refusals_never_pushes_real_transfers_out(fresh_sockdash: harness.Sockdash) -> None:
    proc = fresh_sockdash
    with urllib.request.urlopen(f"{proc.base_url}/files/hello.txt", timeout=5) as response:
        response.read()
    proc.wait_for(lambda: refusals_of(proc, "hello.txt") and refusals_of(proc, "hello.txt")[0]["status"] == "ok")
    for i in range(120):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{proc.base_url}/files/probe-{i}", timeout=5)
        refused.value.close()
    listed = proc.get_json("/api/transfers")["transfers"]
    assert [t["file"] for t in listed if t["status"] == "ok"] == ["hello.txt"]
    assert sum(t["status"] == "refused" for t in listed) == 100  # the newest 100 refusals
    assert "probe-119" in {t["file"] for t in listed} and "probe-0" not in {t["file"] for t in listed}
