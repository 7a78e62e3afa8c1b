"""The Chat page as a The Lounge user expects it: multi-line input, own messages marked, nick
colours, day lines, older history on demand, a room drawer on a phone, member counts that do
not read as unread counts, a page that survives garbage in its storage, and the merge logic
that keeps replays and resends from showing twice."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Locator, Page, WebSocketRoute, expect

from sockets_core.chat.history import ChatHistory
from sockets_core.chat.hub import ChatEvent
from tests import harness
from tests.e2e.pages import join, say, shown
from tests.harness import chat_client, recv_until

PHONE = {"width": 390, "height": 844}
DAY = 86_400


def seeded(tmp_path: Path, events: list[ChatEvent]) -> harness.Sockdash:
    """A sockdash whose chat history already holds ``events``."""
    (tmp_path / "data").mkdir(parents=True)
    history = ChatHistory(tmp_path / "data" / "chat.sqlite3")
    for event in events:
        history.add(event)
    history.close()
    return harness.start(tmp_path)


@pytest.fixture
def seeded_proc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[harness.Sockdash]:
    proc = seeded(tmp_path, request.param)
    yield proc
    proc.stop()


def box(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message", exact=True)


def test_enter_sends_and_shift_enter_starts_a_new_line(page: Page, sockdash: harness.Sockdash) -> None:
    with chat_client(sockdash, "lines-reader") as reader:
        join(page, sockdash, "lines-writer")
        box(page).fill("first line")
        box(page).press("Shift+Enter")
        box(page).press_sequentially("second line")
        expect(box(page)).to_have_value("first line\nsecond line")
        # Enter that picks an input method's candidate (composing Chinese) sends nothing
        box(page).evaluate("el => el.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', isComposing: true, "
                           "bubbles: true, cancelable: true}))")
        expect(box(page)).to_have_value("first line\nsecond line")
        box(page).press("Enter")
        expect(box(page)).to_have_value("")
        heard = recv_until(reader, b"second line\n")
        assert b"<lines-writer> first line\n" in heard and b"<lines-writer> second line\n" in heard
        expect(page.locator("#messages li.own .text").last).to_have_text("first line\nsecond line")
        # over the limit: said so, and the text stays in the box to be shortened
        box(page).fill("\n".join(f"line {i}" for i in range(51)))
        box(page).press("Enter")
        expect(page.locator("#composer-note")).to_have_text("At most 50 lines in one message (this has 51).")
        expect(box(page)).to_have_value(re.compile("^line 0\n.*line 50$", re.DOTALL))


NOW = time.time()


@pytest.mark.parametrize("seeded_proc", [[
    ChatEvent("message", "lobby", "ann", "tcp", "two days ago", NOW - 2 * DAY),
    ChatEvent("message", "lobby", "ann", "tcp", "yesterday, first", NOW - DAY),
    ChatEvent("message", "lobby", "bo", "udp", "yesterday, second", NOW - DAY + 1),
]], indirect=True)
def test_own_messages_are_marked_nicks_keep_their_colour_and_days_are_divided(
        page: Page, seeded_proc: harness.Sockdash) -> None:
    join(page, seeded_proc, "daywalker")
    say(page, "today, from me")
    shown(page, "daywalker", "today, from me")
    days = page.locator("#messages li.divider.day")
    expect(days).to_have_count(3)
    expect(days.nth(1)).to_have_text("Yesterday")
    expect(days.nth(2)).to_have_text("Today")
    expect(days.nth(0)).not_to_have_text(re.compile("Today|Yesterday"))
    own = page.locator("#messages li.own")
    expect(own).to_have_count(1)
    expect(own).to_contain_text("today, from me")
    expect(own.locator(".sr-only")).to_have_text(" (you)")  # said in words too, not only by colour
    ann = page.locator("#messages li.message .nick", has_text="ann")
    classes = {ann.nth(i).get_attribute("class") for i in range(2)}
    assert len(classes) == 1 and re.fullmatch(r"nick nc-\d", classes.pop() or "")
    mine = page.locator("#member-list .nick", has_text="daywalker").get_attribute("class")
    assert mine == page.locator("#messages li.own .nick").get_attribute("class")  # same colour everywhere
    # on a desktop the member count folds the member column away and back
    members = page.get_by_role("button", name="1 member", exact=True)
    expect(members).to_have_attribute("aria-expanded", "true")
    members.click()
    expect(page.locator("#members-panel")).to_be_hidden()
    expect(members).to_have_attribute("aria-expanded", "false")
    members.click()
    expect(page.locator("#members-panel")).to_be_visible()


@pytest.mark.parametrize("seeded_proc", [[
    ChatEvent("message", "lobby", "talker", "tcp", f"old message {i}", NOW - 600 + i) for i in range(260)
]], indirect=True)
def test_older_messages_load_on_demand_beyond_the_last_200(page: Page, seeded_proc: harness.Sockdash) -> None:
    join(page, seeded_proc, "historian")
    messages = page.locator("#messages li.message")
    expect(messages).to_have_count(200)
    expect(messages.first).to_contain_text("old message 60")
    page.locator("#messages").evaluate("el => { el.scrollTop = 0; }")
    page.get_by_role("button", name="Load older messages").click()
    expect(messages).to_have_count(260)
    expect(messages.first).to_contain_text("old message 0")
    expect(page.get_by_role("button", name="Load older messages")).to_have_count(0)  # no more stored
    # the reader stays where they were: the message that was first is still near the top
    top = page.locator("#messages").bounding_box()
    sixty = messages.filter(has_text=re.compile(r"old message 60$")).bounding_box()
    assert top is not None and sixty is not None and top["y"] <= sixty["y"] <= top["y"] + top["height"]


def test_a_busy_room_keeps_the_page_bounded_and_offers_what_left_it(page: Page, sockdash: harness.Sockdash) -> None:
    with chat_client(sockdash, "chatterbox") as talker:
        talker.sendall(b"/join busy-room\n")
        recv_until(talker, b"#busy-room")
        join(page, sockdash, "busy-reader")
        page.get_by_label("Join or create").fill("busy-room")
        page.get_by_role("button", name="Join", exact=True).click()
        expect(page.locator("#conv-title")).to_have_text("#busy-room")
        talker.sendall(b"".join(f"busy line {i}\n".encode() for i in range(1_050)))
        shown(page, "chatterbox", "busy line 1049")
        messages = page.locator("#messages li.message")
        expect(messages).to_have_count(1_000)
        expect(messages.first).to_contain_text("busy line 50")
        expect(page.get_by_role("button", name="Load older messages")).to_have_count(1)
        expect(page.locator("#messages li.divider.day")).to_have_count(1)


def test_a_phone_gets_the_rooms_in_a_drawer_and_member_counts_read_as_people(
        browser: Browser, sockdash: harness.Sockdash) -> None:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        with chat_client(sockdash, "drawer-lab") as lab:
            lab.sendall(b"/join lab-drawer\n")
            recv_until(lab, b"#lab-drawer")
            join(page, sockdash, "pocket")
            rooms = page.locator("#rooms-panel")
            expect(rooms).to_be_hidden()
            toggle = page.get_by_role("button", name="Rooms and private conversations")
            toggle.click()
            expect(rooms).to_be_visible()
            expect(toggle).to_have_attribute("aria-expanded", "true")
            page.keyboard.press("Escape")
            expect(rooms).to_be_hidden()
            expect(toggle).to_be_focused()
            toggle.click()
            join_lab = page.get_by_role("button", name="Join #lab-drawer, 1 person")
            expect(join_lab).to_contain_text("1 person")  # a count of people is said in words
            join_lab.click()
            expect(rooms).to_be_hidden()  # choosing a room closes the drawer
            expect(page.locator("#conv-title")).to_have_text("#lab-drawer")
            expect(page.get_by_role("button", name="2 members")).to_be_visible()
            toggle.click()
            page.get_by_role("button", name="#lobby", exact=True).click()
            lab.sendall(b"anyone in the lab?\n")
            # unread: a filled pill on the toggle and on the room, never a bare count beside a name
            expect(page.locator("#rooms-unread")).to_have_text("1")
            expect(toggle).to_have_accessible_name("Rooms and private conversations, 1 unread")
            toggle.click()
            lab_button = page.get_by_role("button", name="#lab-drawer, 1 unread")
            expect(lab_button.locator(".unread")).to_have_text("1")
            expect(lab_button.locator(".label")).to_have_text("#lab-drawer")
            page.keyboard.press("Escape")
            page.get_by_role("button", name=re.compile(r"^\d+ members?$")).click()
            expect(page.locator("#members-panel")).to_be_visible()
            expect(page.locator("#member-list")).to_contain_text("pocket")
    finally:
        context.close()


def test_garbage_in_the_browser_storage_does_not_stop_the_page(browser: Browser, sockdash: harness.Sockdash) -> None:
    context = browser.new_context()
    context.add_init_script("localStorage.setItem('sockdash.rooms', '{not json');"
                            "localStorage.setItem('sockdash.nick', 'garbled9');")
    page = context.new_page()
    try:
        page.goto(f"{sockdash.base_url}/chat")
        expect(page.locator("#me")).to_have_text("you are garbled9")  # the nick it kept, in the lobby
        expect(page.locator("#conv-title")).to_have_text("#lobby")
        assert page.evaluate("localStorage.getItem('sockdash.rooms')") == '["lobby"]'
    finally:
        context.close()


def test_a_dropped_connection_says_when_the_next_try_is_and_clears_when_back(
        page: Page, sockdash: harness.Sockdash) -> None:
    routes: list[WebSocketRoute] = []
    down = False

    def through(ws: WebSocketRoute) -> None:
        if down:
            ws.close()
            return
        ws.connect_to_server()
        routes.append(ws)

    page.route_web_socket(re.compile(r"/ws/chat$"), through)
    join(page, sockdash, "dropper")
    down = True
    for route in routes:
        route.close()
    note = page.locator("#composer-note")
    expect(note).to_have_text(re.compile(r"^Connection lost — trying again in \d+(\.\d)? s; "
                                         r"messages you type will be sent then\.$"))
    expect(page.locator("#live-state")).to_have_attribute("data-state", "offline")
    down = False
    expect(page.locator("#live-state")).to_have_text("live", timeout=20_000)
    expect(note).to_be_empty()
    say(page, "back again")
    shown(page, "dropper", "back again")


MODEL_CHECK = """async () => {
  const m = await import('/static/js/chat-model.js');
  const ev = (id, text) => ({ kind: 'message', room: 'lobby', nick: 'x', transport: 'tcp', text, time: id, id });
  const texts = (c) => c.items.map((i) => (i.event.kind === 'divider' ? 'divider' : i.event.text));
  const out = {};
  const c = new m.Conversation('#lobby');
  c.merge([ev(10, 'a'), ev(11, 'b')]);
  c.add({ event: ev(12, 'c') });
  out.liveTwice = c.add({ event: ev(12, 'c') });
  const pending = { event: { kind: 'message', text: 'mine, sent before the drop', id: 0 }, state: 'pending' };
  const pending2 = { event: { kind: 'message', text: 'mine, never arrived', id: 0 }, state: 'pending' };
  c.add(pending); c.add(pending2);
  c.divider('reconnected at', 100);
  // the history after a reconnect: what the page has, what it missed, and its own message (id 14)
  out.added = c.merge([ev(10, 'a'), ev(11, 'b'), ev(12, 'c'), ev(13, 'missed'), ev(14, 'mine, sent before the drop'),
                       ev(5, 'older than what it holds')]);
  out.afterMerge = texts(c);
  out.duplicateAck = m.settleAck(c, pending, { duplicate: true, event_id: 14 });
  if (out.duplicateAck === 'drop') c.remove(pending);
  out.freshAck = m.settleAck(c, pending2, { event: ev(15, 'mine, never arrived') });
  out.final = texts(c);
  out.prepended = c.prepend([ev(8, 'eight'), ev(9, 'nine'), ev(10, 'a')], false);
  out.first = c.items[0].event.text;
  const { loadPref } = await import('/static/js/common.js');
  Object.entries({ bad: '{nope', wrong: '[1, 2]', good: '["lab"]' })
    .forEach(([k, v]) => sessionStorage.setItem(`t.${k}`, v));
  out.stored = ['bad', 'wrong', 'good', 'missing'].map((k) => loadPref(`t.${k}`, ['lobby'], m.isRoomList, 'session'));
  out.typed = [m.checkTyped('/who'), m.checkTyped('//etc'), m.checkTyped('/me a\\nb'), m.checkTyped('  ')];
  return out;
}"""


def test_replays_and_resends_are_merged_without_doubles(page: Page, sockdash: harness.Sockdash) -> None:
    """The page's ack and merge logic (chat-model.js), run in the browser."""
    page.goto(f"{sockdash.base_url}/chat")
    out = page.evaluate(MODEL_CHECK)
    assert out["liveTwice"] is False
    assert out["added"] == 2  # 13 and 14; 5 is older than the conversation's first message
    assert out["afterMerge"] == ["a", "b", "c", "divider", "missed", "mine, sent before the drop",
                                 "mine, sent before the drop", "mine, never arrived"]
    assert out["duplicateAck"] == "drop" and out["freshAck"] == "keep"
    assert out["final"] == ["a", "b", "c", "divider", "missed", "mine, sent before the drop", "mine, never arrived"]
    assert out["prepended"] == 2 and out["first"] == "eight"
    assert out["stored"] == [["lobby"], ["lobby"], ["lab"], ["lobby"]]
    assert [t.get("command") for t in out["typed"][:3]] == [True, False, False] and out["typed"][3] == {"error": ""}


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, PHONE], ids=["desktop", "phone"])
def test_a_busy_chat_page_has_no_serious_accessibility_violation(
        browser: Browser, sockdash: harness.Sockdash, viewport: dict[str, int]) -> None:
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(10_000)
    name = f"a11y-{viewport['width']}"
    try:
        with chat_client(sockdash, f"{name}-nc") as nc:
            join(page, sockdash, name)
            nc.sendall(f"/msg {name} a private word\n/join {name}-room\nhello http://example.test\n".encode())
            expect(page.locator("#dm-list .unread")).to_have_text("1")
            say(page, "/who")
            say(page, "/bogus")
            page.get_by_role("button", name="Change nick").click()
            if viewport is PHONE:
                page.get_by_role("button", name="Rooms and private conversations").click()
                expect(page.locator("#rooms-panel")).to_be_visible()
            results = Axe().run(page)
            blocking = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
                        for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
            assert blocking == []
    finally:
        context.close()
