"""A normal install works: the wheel holds every module, template and static file, and its
`sockdash` console script serves every page and asset from a folder outside the checkout.

The wheel is built from a copy of the working tree without build isolation (setuptools comes from
the lock, nothing is downloaded) and installed with --no-deps into a fresh venv in tmp_path. Its
dependencies are not downloaded either: a .pth file puts this interpreter's site-packages (where
the lock installed them) after the venv's own. A path line in a .pth file is only appended to
sys.path; the .pth files inside that folder are not run, so the editable install of the checkout
(an __editable__ finder started by its own .pth) stays invisible and `webapp` can only come from
the wheel, which the first test checks.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import site
import subprocess
import sys
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from packaging.version import Version

from tests import harness

PROJECT_DIR = Path(__file__).resolve().parents[2]
CODE_PACKAGES = ("sockets_core", "webapp")
# top-level folder in the checkout -> where pyproject.toml maps it in the wheel
DATA_FOLDERS = {"templates": "webapp/templates", "static": "webapp/static"}
PAGES = ["/", "/chat", "/files", "/packets", "/tools"]  # and whatever else the nav links to (/syslog)
NOT_COPIED = {"__pycache__", "build", "dist"}
STEP_TIMEOUT = 300


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def console_script(self) -> Path:
        return self.venv / "bin" / "sockdash"


def copy_ignore(folder: str, names: list[str]) -> set[str]:
    """Skip caches, venvs, VCS data, build output and the run-time folders of the checkout."""
    skipped = {n for n in names if n.startswith(".") or n in NOT_COPIED or n.endswith((".egg-info", ".pyc"))}
    if Path(folder) == PROJECT_DIR:
        skipped |= {"files"} & set(names)
    return skipped


def run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=STEP_TIMEOUT,
                            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"})
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    have = Version(importlib.metadata.version("setuptools"))
    assert have >= Version("70.1"), f"setuptools {have} is too old to build the wheel: run `make install`"
    base = tmp_path_factory.mktemp("wheel")
    source, dist, env = base / "source", base / "dist", base / "venv"
    shutil.copytree(PROJECT_DIR, source, ignore=copy_ignore)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", str(dist), str(source)])
    (wheel,) = dist.glob("sockdash-*.whl")
    venv.create(env, with_pip=False)
    run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install", "--no-deps",
         "--no-index", str(wheel)])
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = subprocess.run([str(env / "bin" / "python"), "-c", where],
                             capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    (Path(purelib) / "sockdash-test-dependencies.pth").write_text("".join(p + "\n" for p in site.getsitepackages()))
    yield Installed(wheel, env)


def expected_wheel_files() -> set[str]:
    """The checkout's modules, templates and static files, named as they must be in the wheel."""
    expected = set()
    for package in CODE_PACKAGES:
        expected |= {p.relative_to(PROJECT_DIR).as_posix() for p in (PROJECT_DIR / package).rglob("*.py")}
    for folder, target in DATA_FOLDERS.items():
        for path in (PROJECT_DIR / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                expected.add(f"{target}/{path.relative_to(PROJECT_DIR / folder).as_posix()}")
    return expected


def test_wheel_holds_every_module_template_and_static_file(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    missing = sorted(expected_wheel_files() - names)
    assert not missing, ("not in the wheel (a new package goes into [tool.setuptools] packages in "
                         f"pyproject.toml): {missing}")


def test_installed_module_comes_from_the_wheel_not_the_checkout(installed: Installed, tmp_path: Path) -> None:
    found = subprocess.run([str(installed.python), "-c", "import webapp, sockets_core; "
                            "print(webapp.__file__); print(sockets_core.__file__)"],
                           capture_output=True, text=True, check=True, timeout=60, cwd=tmp_path,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).stdout.split()
    assert found and all(Path(f).is_relative_to(installed.venv) for f in found), found


class PageParser(HTMLParser):
    """The scripts, style sheets and icons a page loads, and the pages its nav links to."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: set[str] = set()
        self.nav_links: set[str] = set()
        self.in_nav = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "nav":
            self.in_nav = True
        elif tag == "script" and values.get("src"):
            self.assets.add(values["src"] or "")
        elif tag == "link" and values.get("rel") in ("stylesheet", "icon") and values.get("href"):
            self.assets.add(values["href"] or "")
        elif tag == "a" and self.in_nav and (values.get("href") or "").startswith("/"):
            self.nav_links.add(values["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self.in_nav = False


def fetch(base_url: str, path: str) -> tuple[int, str, bytes]:
    request = urllib.request.Request(base_url + path, headers={"Authorization": f"Bearer {harness.ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers.get_content_type(), response.read()


def test_installed_console_script_serves_every_page_and_asset(installed: Installed, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"  # no templates/ or static/ around the working directory
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setattr(harness, "command", lambda: [str(installed.console_script)])
    proc = harness.start(tmp_path)
    try:
        pages, assets, seen = list(PAGES), set(), set()
        while pages:
            page = pages.pop()
            if page in seen:
                continue
            seen.add(page)
            status, kind, body = fetch(proc.base_url, page)
            assert (status, kind) == (200, "text/html"), page
            parser = PageParser()
            parser.feed(body.decode())
            assets |= parser.assets
            pages.extend(parser.nav_links)
        assert {"/syslog"} <= seen or not (PROJECT_DIR / "templates" / "syslog.html").exists()
        kinds = set()
        for asset in sorted(assets):
            status, kind, body = fetch(proc.base_url, asset)
            assert status == 200, asset
            local = PROJECT_DIR / asset.split("?")[0].lstrip("/")
            assert body == local.read_bytes(), f"{asset} differs from the checkout's {local}"
            kinds.add(kind)
        assert {"text/javascript", "text/css"} <= kinds, kinds
    finally:
        assert proc.stop() == 0, "\n".join(proc.output)
