"""contrib/sockdash.service: its ExecStart flags are accepted by sockdash's own parser, it
asks for --log-format json, the capability for ports 69/514, a --data that is its
StateDirectory and a --root it may write; and systemd-analyze verify finds nothing wrong
with it (on machines that have systemd-analyze)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from sockets_core.settings import parse_settings

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "sockdash.service"


def unit_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd's syntax, as much of it as the file uses: sections, repeatable keys, comments,
    and lines continued with a backslash."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", ";"))):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service() -> dict[str, list[str]]:
    return unit_sections(UNIT.read_text())["Service"]


def test_execstart_flags_are_accepted_by_sockdash_itself() -> None:
    [exec_start] = service()["ExecStart"]
    program, *args = shlex.split(exec_start)
    assert program.endswith("/bin/sockdash")
    settings = parse_settings(args, environ={})  # raises SettingsError on a flag it does not know
    assert settings.log_format == "json"
    assert (settings.tftp_port, settings.syslog_port) == (69, 514)
    assert str(settings.data) == "/var/lib/" + service()["StateDirectory"][0]
    assert str(settings.root) in service()["ReadWritePaths"][0].split()


def test_ports_below_1024_without_root_and_hardening_that_it_runs_under() -> None:
    unit = service()
    assert unit["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert unit["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert unit["User"] == ["sockdash"] and "root" not in unit["Group"]
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                       ("Restart", "on-failure")):
        assert unit[key] == [value], key
    # the interface listing of the banner (if_nameindex) needs netlink
    assert "AF_NETLINK" in unit["RestrictAddressFamilies"][0].split()


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # not installed here: the parser checks above still ran
        return
    # verify wants ExecStart's program to exist: the sockdash this test runs against
    program = Path(sys.executable).with_name("sockdash")
    assert program.exists(), f"{program} missing: pip install -e . into this venv"
    copy = tmp_path / "sockdash.service"
    copy.write_text(UNIT.read_text().replace("/opt/sockdash/bin/sockdash", str(program)))
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
