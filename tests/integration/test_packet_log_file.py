"""--packet-log-file in the real process: a path that cannot be written stops the start with
one line and exit status 2, before any port is bound (was a traceback once the ports were up)."""

from pathlib import Path

import pytest

from tests import harness


@pytest.mark.parametrize(("where", "why"), [("a-file/packets.jsonl", "File exists"), ("a-folder", "Is a directory")])
def test_a_packet_log_file_that_cannot_be_written_is_one_line_and_exit_2(tmp_path: Path, where: str,
                                                                          why: str) -> None:
    (tmp_path / "a-file").write_text("")
    (tmp_path / "a-folder").mkdir()
    result = harness.run_to_exit(tmp_path, *harness.ALL_PORTS_ZERO, "--packet-log-file", str(tmp_path / where))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"sockdash: error: --packet-log-file {tmp_path}/{where} cannot be written: {why}"]
