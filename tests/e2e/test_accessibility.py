"""axe-core on every page, as the admin, with live content (chat clients, a TFTP download in
progress, a refused request, a browser in the chat), at 1280x800 and 390x844: no serious or
critical violation."""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests import harness
from tests.e2e.traffic import chat_clients, slow_tftp_download

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
BLOCKING = ("serious", "critical")
IMAGE = "a11y-firmware-image.bin"


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()


@pytest.fixture(scope="module")
def live(sockdash: harness.Sockdash) -> Iterator[harness.Sockdash]:
    """Traffic that stays while the module's pages are checked."""
    (sockdash.root / IMAGE).write_bytes(b"\x5a" * 400_000)
    (sockdash.root / "配置.txt").write_text("hostname sw1\n")
    try:
        urllib.request.urlopen(f"{sockdash.base_url}/files/not-here.cfg", timeout=5)
    except urllib.error.HTTPError as refused:
        refused.close()
    with socket.create_connection((sockdash.host, sockdash.ports["file"]), timeout=5) as s:
        s.sendall(b"missing.bin")
        s.recv(16)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # one syslog line of each colour
        for severity in range(8):
            s.sendto(b"<%d>Mar  1 00:00:00 sw1 a11y: severity %d" % (severity, severity),
                     (sockdash.host, sockdash.ports["syslog"]))
        s.sendto(b"a11y: no PRI, severity unknown", (sockdash.host, sockdash.ports["syslog"]))
    with chat_clients(sockdash, "alice", "bob"), slow_tftp_download(sockdash, IMAGE, ack_every=0.5) as started:
        assert started.wait(5)
        yield sockdash


def on_home(page: Page) -> None:
    expect(page.locator("#running li")).to_have_count(1)
    page.locator("#card-tcp_chat summary").click()


def on_chat(page: Page) -> None:
    nick = page.get_by_label(re.compile("nickname", re.IGNORECASE))
    if nick.is_visible():  # a fresh browser is asked for a nick first
        nick.fill("axe-checker")
        nick.press("Enter")
    expect(page.get_by_text("hello from alice").first).to_be_visible()


def on_files(page: Page) -> None:
    expect(page.locator("#transfer-rows tr[data-status=running]")).to_have_count(1)
    page.get_by_role("button", name="How to fetch 配置.txt").click()
    page.get_by_role("button", name="New folder").click()


def on_packets(page: Page) -> None:
    expect(page.get_by_role("row").nth(2)).to_be_attached()  # the header and events


def on_syslog(page: Page) -> None:
    expect(page.locator("#s-rows tr", has_text="a11y")).to_have_count(9)


def on_tools(page: Page) -> None:
    page.wait_for_load_state("load")


PAGES: dict[str, Callable[[Page], None]] = {
    "/": on_home, "/chat": on_chat, "/files": on_files, "/packets": on_packets, "/tools": on_tools,
    "/syslog": on_syslog}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("path", PAGES)
def test_no_serious_or_critical_accessibility_violation(browser: Browser, live: harness.Sockdash, axe: Axe,
                                                        path: str, size: str) -> None:
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"{live.base_url}/?token={live.token}")
        page.goto(live.base_url + path)
        expect(page.locator("#live-state")).to_have_text("live")
        PAGES[path](page)
        results = axe.run(page)
        blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING]
        report = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}" for v in blocking]
        assert report == [], f"{path} at {width}x{height}:\n" + "\n".join(report)
    finally:
        context.close()
