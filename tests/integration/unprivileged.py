"""Run sockdash as nobody from wherever the checkout and its virtualenv live.

The tests that drop to nobody (so that permissions bite, as for a user who is not root) cannot
use the checkout in place: a clone under a 0700 folder (/root/sockdash, `mktemp -d`) and a
virtualenv inside it are out of nobody's reach ("No module named webapp"). So these tests
copy what the process needs into a fresh world-readable folder under /tmp: the project's
packages and the templates and static files beside them, and the installed distributions
that pyproject.toml's dependencies need (their whole closure, read from the installed
metadata), and run it with an interpreter nobody can execute, without site-packages (-S).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT_PARTS = ("sockets_core", "webapp", "templates", "static")
NOBODY = ["--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def as_nobody(argv: list[str]) -> list[str]:
    """Run as nobody when the tests run as root (as in CI), where permissions never bite."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop root for this test"
    return [setpriv, *NOBODY, *argv]


def dependency_closure(requirements: list[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions ``requirements`` need, theirs included (no extras)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [Requirement(text) for text in requirements]
    while pending:
        requirement = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = requirement.name.lower().replace("_", "-")
        if key in found:
            continue
        dist = importlib.metadata.distribution(requirement.name)
        found[key] = dist
        pending.extend(Requirement(text) for text in dist.requires or [])
    return list(found.values())


def copy_distribution(dist: importlib.metadata.Distribution, target: Path) -> None:
    """The files a distribution installed into site-packages (not its scripts in bin/)."""
    site = Path(str(dist.locate_file(""))).resolve()
    for entry in dist.files or []:
        source = Path(str(dist.locate_file(entry))).resolve()
        if not source.is_relative_to(site) or not source.is_file():
            continue
        destination = target / source.relative_to(site)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


def runnable_python(candidates: list[str]) -> str:
    """The first interpreter of this Python's version that nobody can start."""
    wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
    tried = []
    for candidate in dict.fromkeys(c for c in candidates if c):
        result = subprocess.run(as_nobody([candidate, "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]),
                                capture_output=True, text=True, timeout=30, cwd="/")
        if result.returncode == 0 and result.stdout.strip() == wanted:
            return candidate
        tried.append(candidate)
    raise AssertionError(f"no Python {wanted} that nobody can run among {tried}: install python{wanted} "
                         "system-wide (e.g. Debian's python3) for the tests that drop root")


def interpreter_candidates() -> list[str]:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return [sys.executable, os.path.realpath(sys.executable), getattr(sys, "_base_executable", ""),
            shutil.which(version) or "", f"/usr/local/bin/{version}", f"/usr/bin/{version}"]


@dataclass(frozen=True)
class PortableSockdash:
    """sockdash copied where anyone may read it, and how to start it there."""

    python: str
    site: Path

    def command(self) -> list[str]:
        return [self.python, "-S", "-m", "webapp"]

    def env(self) -> dict[str, str]:
        """The caller's environment with only our copy on the import path."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
        return {**env, "PYTHONPATH": str(self.site), "PYTHONDONTWRITEBYTECODE": "1"}


@contextmanager
def portable_sockdash() -> Iterator[PortableSockdash]:
    base = Path(tempfile.mkdtemp(prefix="sockdash-portable-", dir="/tmp"))
    try:
        site = base / "site"
        for part in PROJECT_PARTS:
            shutil.copytree(PROJECT_DIR / part, site / part,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        with open(PROJECT_DIR / "pyproject.toml", "rb") as f:
            requirements = tomllib.load(f)["project"]["dependencies"]
        for dist in dependency_closure(requirements):
            copy_distribution(dist, site)
        for folder, _, files in os.walk(base):  # readable (and folders enterable) by anyone
            os.chmod(folder, 0o755)
            for name in files:
                path = os.path.join(folder, name)
                os.chmod(path, os.stat(path).st_mode | 0o444)
        yield PortableSockdash(runnable_python(interpreter_candidates()), site)
    finally:
        shutil.rmtree(base, ignore_errors=True)
