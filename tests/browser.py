"""Find a Chromium for Playwright: SOCKDASH_CHROMIUM, Playwright's own, or the system's.

Run as a script it prints the path, or exits 1 when there is none (tests/tools/ensure_peers.sh
uses that to decide whether to install one).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def playwright_chromium() -> str | None:
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:
        return None
    return path if path and Path(path).exists() else None


def find_chromium() -> str | None:
    given = os.environ.get("SOCKDASH_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    for name in SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return playwright_chromium()


if __name__ == "__main__":
    path = find_chromium()
    if path is None:
        sys.exit(1)
    print(path)
