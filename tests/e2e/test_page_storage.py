"""Whatever the browser's storage holds under the pages' keys (another version's value, a hand
edit, another app on the same origin), every page loads without an error and works."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, Page, expect

from tests import harness
from tests.e2e.pages import log_lines, open_server, send, session

LOCAL_KEYS = ("sockdash.host", "sockdash.nick", "sockdash.rooms", "sockdash.packets",
              "sockdash.tools.saved", "sockdash.tools.view")
SESSION_KEYS = ("sockdash.secret", "sockdash.tab", "sockdash.current")
# not JSON, JSON of the wrong shape, and the right shape with the wrong things inside
GARBAGE = ("{not json", "null", "42", '"text"', "[null, 7]", '{"text": 5, "kind": null}', '[{"text": null}]')


def page_with(browser: Browser, value: str) -> tuple[Page, list[str]]:
    context = browser.new_context()
    script = "".join(f"localStorage.setItem({json.dumps(k)}, {json.dumps(value)});" for k in LOCAL_KEYS)
    script += "".join(f"sessionStorage.setItem({json.dumps(k)}, {json.dumps(value)});" for k in SESSION_KEYS)
    context.add_init_script(script)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, errors


@pytest.mark.parametrize("value", GARBAGE)
def test_every_page_works_whatever_the_storage_holds(
        browser: Browser, sockdash: harness.Sockdash, value: str) -> None:
    page, errors = page_with(browser, value)
    try:
        page.goto(f"{sockdash.base_url}/?token={sockdash.token}")  # the admin: the Tools page too
        expect(page.locator("#live-state")).to_have_text("live")
        expect(page.locator("#uptime")).not_to_be_empty()

        page.goto(f"{sockdash.base_url}/files")
        expect(page.locator("#live-state")).to_have_text("live")
        expect(page.locator("#crumbs")).not_to_be_empty()

        page.goto(f"{sockdash.base_url}/packets")
        expect(page.locator("#live-state")).to_have_text("live")
        expect(page.get_by_label("Text as")).to_have_value("auto")
        expect(page.get_by_label("Show")).to_have_value("packets")

        page.goto(f"{sockdash.base_url}/chat")
        expect(page.locator("#live-state")).to_have_text("live")
        expect(page.locator("#conv-title")).to_have_text("#lobby")

        page.goto(f"{sockdash.base_url}/tools")
        expect(page.locator("#live-state")).to_have_text("live")
        port = open_server(page, "#open-udp", "Open UDP socket", "UDP on port")  # a pane reads both tools keys
        panel = session(page, f"UDP on port {port}")
        expect(panel.locator("input[name=show-text]")).to_be_checked()
        expect(panel.locator("input[name=show-hex]")).not_to_be_checked()
        send(panel, "to myself", to="127.0.0.1:9")  # the pane works: a send is logged...
        expect(log_lines(panel, "to myself")).to_have_count(1)
        panel.locator(".save").click()  # ...and saving a message lists it (with what was stored, dropped)
        expect(panel.locator(".saved button")).to_have_text(["to myself"])
        panel.locator(".session-close").click()
        expect(panel).to_have_count(0)
        assert errors == []
    finally:
        page.context.close()
