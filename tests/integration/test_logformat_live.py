"""--log-format json on the real process: every line on stderr is one JSON object with the
time in UTC, the level, the logger and the message, the access log included, even when
what is logged holds a name that is not UTF-8."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

from tests import harness

GBK_NAME = "你好".encode("gbk") + b"\xff.txt"  # not UTF-8, and not even valid GBK at the end
ISO_UTC_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def start_with_stderr_in(tmp: Path, stderr: Path, *args: str) -> harness.Sockdash:
    # the harness merges stderr into the banner it reads; this shell keeps them apart
    return harness.start(tmp, *args, prefix=["sh", "-c", f'exec "$@" 2>"{stderr}"', "sh"])


def test_every_stderr_line_is_a_json_object_even_with_gbk_names(tmp_path: Path) -> None:
    stderr = tmp_path / "stderr.log"
    proc = start_with_stderr_in(tmp_path / "s", stderr, "--log-format", "json", "--log-level", "DEBUG")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"\x00\x01" + GBK_NAME + b"\x00octet\x00", (proc.host, proc.ports["tftp"]))
            udp.settimeout(5)
            assert udp.recv(600).startswith(b"\x00\x05")  # ERROR: no such file
        try:
            urllib.request.urlopen(f"{proc.base_url}/files/%C4%E3%BA%C3%FF.txt", timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
            exc.close()
        proc.wait_for(lambda: b"GET /files/" in stderr.read_bytes())
    finally:
        proc.stop()
    raw = stderr.read_bytes()
    raw.decode("utf-8")  # strict: no lone surrogate, no stray byte reached the file
    records = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    assert len(records) >= 3
    for record in records:
        assert isinstance(record, dict)
        assert ISO_UTC_MS.match(record["time"]), record
        assert record["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        assert record["logger"] and isinstance(record["message"], str)
    access = [r for r in records if r["logger"] == "sockdash.http" and "GET /files/" in r["message"]]
    assert access and access[0]["level"] == "DEBUG"
    assert any(r["message"] == "stopping" for r in records)


def test_text_stays_the_default(tmp_path: Path) -> None:
    stderr = tmp_path / "stderr.log"
    proc = start_with_stderr_in(tmp_path / "s", stderr)
    assert proc.stop() == 0
    lines = stderr.read_text().splitlines()
    assert lines and all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \S+: ", line) for line in lines)


def test_a_bad_log_format_is_one_clear_error(tmp_path: Path) -> None:
    result = harness.run_to_exit(tmp_path, "--log-format", "yaml")
    assert result.returncode == 2 and "invalid log format 'yaml': choose from text, json" in result.stderr
