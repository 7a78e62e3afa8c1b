"""Packet log page benchmark: what the page costs the browser, before and after a change.

In headless Chromium (1280x800) against a real sockdash whose log holds a 6,000-block TFTP
download (12,000 events) and a few chat lines:

- open: milliseconds from navigation to the list holding 10,000 rows (the page fetches
  ``/api/packets?limit=10000`` and renders the visible rows);
- flood: a second 6,000-block download while the page follows the log live; the page's
  main-thread time (Chrome's ScriptDuration + LayoutDuration + RecalcStyleDuration, over
  CDP) and its longest task (PerformanceObserver "longtask", 50 ms and more) meanwhile;
- held: the same flood with the view paused (the events wait aside);
- filter: milliseconds from choosing Service = tcp_chat to its rows being shown.

    .venv/bin/python bench/packet_page.py [--rounds 3] [--checkout /tmp/old]

``--checkout`` runs the sockdash (and so the page) of another tree (``git archive COMMIT |
tar -x -C /tmp/old``); the same client measures both. Traffic stays on 127.0.0.1; every loop
is bounded by its count or its time.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from tests import harness  # noqa: E402
from tests.browser import LAUNCH_ARGS, find_chromium  # noqa: E402

HOST = "127.0.0.1"
BLOCKS = 6_000
LONG_TASKS = """() => { window.__longest = 0; new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longest = Math.max(window.__longest, e.duration); })
  .observe({ entryTypes: ['longtask'] }); }"""


def rowcount(page: Page) -> int:
    return int(page.locator("#log").get_attribute("aria-rowcount") or "0")


def wait(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the page did not get there")
        time.sleep(0.01)


def download(proc: harness.Sockdash, tmp: Path) -> None:
    subprocess.run(["curl", "-s", "--tftp-blksize", "512", "-o", str(tmp / "out.bin"),
                    f"tftp://{HOST}:{proc.ports['tftp']}/bench.bin"], check=True, timeout=300)


def main_thread_ms(cdp: Any) -> float:
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return 1000 * sum(metrics.get(k, 0.0) for k in ("ScriptDuration", "LayoutDuration", "RecalcStyleDuration"))


def flood(page: Page, cdp: Any, proc: harness.Sockdash, tmp: Path, pause: bool) -> tuple[float, float]:
    page.reload()
    wait(lambda: rowcount(page) > 10_000)
    page.evaluate(LONG_TASKS)
    if pause:
        page.locator("#pause").click()
    before = main_thread_ms(cdp)
    download(proc, tmp)
    page.wait_for_timeout(1500)  # the last batches reach the page (what is measured is a total)
    spent = main_thread_ms(cdp) - before
    longest = float(page.evaluate("window.__longest"))
    if pause:
        page.locator("#pause").click()
    return spent, longest


def one_round(page: Page, cdp: Any, proc: harness.Sockdash, tmp: Path) -> dict[str, float]:
    started = time.perf_counter()
    page.goto(f"{proc.base_url}/packets")
    wait(lambda: rowcount(page) > 10_000)
    opened = (time.perf_counter() - started) * 1000
    follow_ms, follow_long = flood(page, cdp, proc, tmp, pause=False)
    held_ms, held_long = flood(page, cdp, proc, tmp, pause=True)
    page.reload()
    wait(lambda: rowcount(page) > 10_000)
    chat = len(proc.get_json("/api/packets?service=tcp_chat&limit=10000")["events"])
    started = time.perf_counter()
    page.locator("#f-service").select_option("tcp_chat")
    try:
        wait(lambda: rowcount(page) == chat + 1, timeout=10)
        filtered = (time.perf_counter() - started) * 1000
    except TimeoutError:  # the page never shows the filter's past (it filters what it holds)
        filtered = float("nan")
    return {"open ms": opened, "flood main-thread ms": follow_ms, "flood longest task ms": follow_long,
            "held main-thread ms": held_ms, "held longest task ms": held_long, "filter ms": filtered}


def chat(proc: harness.Sockdash) -> None:
    with socket.create_connection((HOST, proc.ports["tcp_chat"]), timeout=10) as s:
        s.recv(4096)
        for i in range(20):
            s.sendall(b"chat line %d\n" % i)
            time.sleep(0.02)  # one segment each


def run(rounds: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        proc = harness.start(tmp)
        try:
            (proc.root / "bench.bin").write_bytes(os.urandom(512 * BLOCKS))
            chat(proc)
            download(proc, tmp)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=find_chromium(), args=LAUNCH_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.set_default_timeout(60_000)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                results: dict[str, list[float]] = {}
                for _ in range(rounds):
                    for name, value in one_round(page, cdp, proc, tmp).items():
                        results.setdefault(name, []).append(value)
                browser.close()
        finally:
            proc.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkout", type=Path, help="run the sockdash of this tree instead")
    args = parser.parse_args()
    if args.checkout is not None:
        os.chdir(args.checkout)  # `python -m webapp` imports from the current folder first
    results = run(args.rounds)
    print(f"| measure | median | runs |  ({args.checkout or 'this tree'})")
    print("|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} |")


if __name__ == "__main__":
    main()
