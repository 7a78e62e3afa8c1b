"""Page helpers more than one browser test uses: the Chat page (join, say, what is shown) and the
Tools page (its session panes and their send form). Test modules import them from here, never
from one another."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests import harness

# The Chat page


def join(page: Page, proc: harness.Sockdash, nick: str) -> None:
    page.goto(f"{proc.base_url}/chat")
    page.get_by_label("Your nickname").fill(nick)
    page.get_by_role("button", name="Join the chat").click()
    expect(page.locator("#me")).to_have_text(f"you are {nick}")


def say(page: Page, text: str) -> None:
    page.get_by_role("textbox", name="Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def notice(page: Page, text: str) -> None:
    """A line for this browser only (a command's answer) is shown."""
    expect(page.locator("#messages li.notice", has_text=text).last).to_be_visible()


def shown(page: Page, nick: str, text: str) -> None:
    expect(page.locator("#messages li", has=page.locator(".nick", has_text=nick)).filter(
        has=page.locator(".text", has_text=text)).last).to_be_visible()


# The Tools page


def session(page: Page, label: str) -> Locator:
    return page.locator(".session", has=page.locator(".session-title", has_text=label))


def log_lines(panel: Locator, text: str | re.Pattern[str] = "") -> Locator:
    return panel.locator(".session-log li", has_text=text)


def open_server(page: Page, form: str, button: str, label: str) -> int:
    """Open a listening tool; return the port it got."""
    page.locator(form).get_by_role("button", name=button).click()
    title = page.locator(".session-title", has_text=label)
    expect(title).to_have_count(1)
    return int(re.search(r"port (\d+)", title.inner_text()).group(1))  # type: ignore[union-attr]


def send(panel: Locator, text: str, *, kind: str = "text", line_ending: str = "none", to: str | None = None,
         repeat: tuple[int, int] | None = None) -> None:
    """Fill the pane's send form and send; ``repeat`` is (every_ms, times) with the switch on."""
    panel.locator("input[name=text]").fill(text)
    panel.locator("select[name=kind]").select_option(kind)
    panel.locator("select[name=line_ending]").select_option(line_ending)
    if to is not None:
        panel.locator(".to input").fill(to)
    switch = panel.get_by_role("switch", name="Repeat")
    switch.set_checked(repeat is not None)
    if repeat is not None:
        panel.locator("input[name=every_ms]").fill(str(repeat[0]))
        panel.locator("input[name=count]").fill(str(repeat[1]))
    panel.locator("form.session-send button[type=submit]").click()
