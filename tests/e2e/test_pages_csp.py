"""Every page works under its Content-Security-Policy in Chromium: nothing refused, no console
error, each page's WebSocket connects (connect-src 'self' must cover ws:// to the same host)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests import harness

PAGES = ("/", "/chat", "/files", "/packets", "/tools", "/syslog")


class ConsoleProblems:
    """Console errors (CSP refusals are console errors in Chromium) and uncaught exceptions."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.messages.append(f"uncaught: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            self.messages.append(f"{message.type}: {message.text} at {message.location.get('url', '')}")


@pytest.fixture
def admin_page(browser: Browser, sockdash: harness.Sockdash) -> Iterator[tuple[Page, ConsoleProblems]]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems = ConsoleProblems(page)
    yield page, problems
    context.close()


def test_the_admin_link_leaves_the_address_bar_and_every_page_runs_without_a_csp_violation(
        admin_page: tuple[Page, ConsoleProblems], sockdash: harness.Sockdash) -> None:
    page, problems = admin_page
    response = page.goto(f"{sockdash.base_url}/?token={sockdash.token}")
    assert response is not None and response.ok
    assert page.url == f"{sockdash.base_url}/"  # the token is gone from the address bar
    assert sockdash.token not in page.evaluate("location.href")
    for path in PAGES:
        response = page.goto(sockdash.base_url + path)
        assert response is not None and response.status == 200, path
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        # the SameSite=Strict cookie rides on the page's WebSocket: /ws/tools refuses anyone without it
        expect(page.locator("#live-state")).to_have_text("live")
        page.wait_for_load_state("load")
        assert problems.messages == [], f"{path}: {problems.messages}"


def test_the_console_watch_sees_a_refused_inline_style_and_script(
        admin_page: tuple[Page, ConsoleProblems], sockdash: harness.Sockdash) -> None:
    """The watch above would see a violation: an injected inline handler and style are refused."""
    page, problems = admin_page
    page.goto(sockdash.base_url + "/")
    expect(page.locator("#live-state")).to_have_text("live")
    with page.expect_console_message(lambda m: "inline event handler" in m.text), \
            page.expect_console_message(lambda m: "inline style" in m.text):
        page.evaluate("""() => {
            const div = document.createElement('div');
            div.innerHTML = '<img src="/nothing-here.png" onerror="window.ran = true" style="color: red">';
            document.body.append(div);
        }""")
    assert page.evaluate("window.ran === undefined")
    assert page.evaluate("getComputedStyle(document.querySelector('img[style]')).color") != "rgb(255, 0, 0)"
    assert sum("Content Security Policy" in m for m in problems.messages) >= 2


def test_the_admin_link_keeps_other_arguments_and_a_wrong_one_explains(page: Page, sockdash: harness.Sockdash) -> None:
    page.goto(f"{sockdash.base_url}/?token=wrong-token-123")
    expect(page.locator("body")).to_contain_text("wrong admin token")
    assert page.evaluate("fetch('/api/whoami').then(r => r.json())") == {"admin": False}
    page.goto(f"{sockdash.base_url}/?token={sockdash.token}&from=banner")
    assert page.url == f"{sockdash.base_url}/?from=banner"
    assert page.evaluate("fetch('/api/whoami').then(r => r.json())") == {"admin": True}


def test_the_packet_filter_form_still_never_submits(page: Page, sockdash: harness.Sockdash) -> None:
    """Its inline onsubmit="return false" (refused under the CSP) became a listener in packets.js."""
    page.goto(sockdash.base_url + "/packets")
    expect(page.locator("#live-state")).to_have_text("live")
    page.locator("#f-peer").fill("127.0.0.1")
    page.evaluate("window.stayed = true; document.getElementById('filters').requestSubmit()")
    expect(page.locator("#f-peer")).to_have_value("127.0.0.1")
    assert page.evaluate("window.stayed === true") and page.url == sockdash.base_url + "/packets"
