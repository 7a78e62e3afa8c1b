"""The Packet log page in Chromium against the real process, with real clients for traffic."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, WebSocketRoute, expect

from tests import harness
from tests.harness import recv_until
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (fixture)

HOST = "127.0.0.1"
GBK_LINE = "你好，世界\n".encode("gbk")


def rows(page: Page) -> Locator:
    return page.locator("#log-rows .log-row")


def cells(row: Locator) -> list[str]:
    return row.locator("[role=cell]").all_inner_texts()


def rowcount(page: Page) -> int:
    return int(page.locator("#log").get_attribute("aria-rowcount") or "0")


def open_log(page: Page, sockdash: harness.Sockdash) -> None:
    page.goto(f"{sockdash.base_url}/packets")
    expect(page.locator("#live-state")).to_have_text("live")


def tftp_get(sockdash: harness.Sockdash, name: str, into: Path) -> None:
    url = f"tftp://{HOST}:{sockdash.ports['tftp']}/{name}"
    subprocess.run(["curl", "-s", "-o", str(into), url], check=True, timeout=120)


def tftp_missing(sockdash: harness.Sockdash, name: str) -> None:
    """An RRQ for a file that is not there: two events (the RRQ in, the ERROR out)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(5)
        u.sendto(b"\x00\x01" + name.encode() + b"\x00octet\x00", (HOST, sockdash.ports["tftp"]))
        u.recvfrom(100)


def lines_in(sockdash: harness.Sockdash, peer: str) -> int:
    events = sockdash.get_json(f"/api/packets?service=tcp_chat&peer={peer}")["events"]
    return sum(1 for e in events if e["kind"] == "data" and e["direction"] == "in")


def send_lines(sockdash: harness.Sockdash, s: socket.socket, *lines: bytes) -> None:
    """Each line in a recv of its own (so an event of its own): the next waits for the log."""
    peer = f"{HOST}:{s.getsockname()[1]}"
    for line in lines:
        seen = lines_in(sockdash, peer)
        s.sendall(line)
        sockdash.wait_for(lambda before=seen: lines_in(sockdash, peer) > before)


def chat_lines(sockdash: harness.Sockdash, *lines: bytes) -> str:
    """Connect, send the lines, leave. Returns the peer as the page shows it."""
    with socket.create_connection((HOST, sockdash.ports["tcp_chat"]), timeout=5) as s:
        recv_until(s, b"/help")
        send_lines(sockdash, s, *lines)
        return f"{HOST}:{s.getsockname()[1]}"


def server_has(sockdash: harness.Sockdash, query: str, text: str) -> None:
    sockdash.wait_for(lambda: any(text in e["summary"] for e in sockdash.get_json(f"/api/packets?{query}")["events"]))


def wait_rowcount_above(page: Page, count: int, timeout: float = 10.0) -> None:
    """Polled from here: the page's CSP refuses the eval that wait_for_function needs."""
    deadline = time.monotonic() + timeout
    while rowcount(page) <= count:
        assert time.monotonic() < deadline, f"the list has {rowcount(page) - 1} rows, not more than {count - 1}"
        page.wait_for_timeout(50)


def test_netcat_conversation_rows_details_auto_decoded_bytes_and_ladder(
        page: Page, fresh_sockdash: harness.Sockdash) -> None:
    open_log(page, fresh_sockdash)
    chat_port = fresh_sockdash.ports["tcp_chat"]
    with socket.create_connection((HOST, chat_port), timeout=5) as s:
        welcome = recv_until(s, b"/help")
        peer = f"{HOST}:{s.getsockname()[1]}"
        send_lines(fresh_sockdash, s, b"hello packets\n", GBK_LINE)
        mine = rows(page).filter(has_text=peer)
        expect(mine.filter(has_text="→ in")).to_have_count(2)
    expect(mine.filter(has_text="close")).to_have_count(1)
    opened, out, first, second = (cells(mine.nth(i)) for i in range(4))
    assert "⇢ open" in opened
    assert "← out" in out and str(len(welcome)) in out
    assert "→ in" in first and "14" in first and first[-1] == "hello packets"
    assert "→ in" in second and second[-1] == "你好，世界"
    # the GBK line: its bytes, and its text decoded with nothing chosen (Auto: UTF-8, else GBK)
    mine.filter(has_text="你好").click()
    expect(page.locator("#hex")).to_contain_text("c4 e3 ba c3")  # 你好 in GBK
    expect(page.locator("#text")).to_have_text(re.compile(r"^你好，世界\s*$"))
    expect(page.locator("#encoding-used")).to_have_text("(GBK)")
    expect(page.locator("#fields")).to_contain_text("Data (GBK)")
    expect(page.locator("#fields")).to_contain_text(f"TCP: {peer} → {HOST}:{chat_port}")
    page.get_by_label("Text as").select_option("utf-8")  # a manual choice is followed...
    expect(page.locator("#text")).not_to_contain_text("你好")
    page.reload()  # ...and kept
    expect(page.get_by_label("Text as")).to_have_value("utf-8")
    # a stored preference that is not JSON does not stop the page
    page.evaluate("localStorage.setItem('sockdash.packets', '{not json')")
    page.reload()
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.get_by_label("Text as")).to_have_value("auto")
    expect(rows(page).filter(has_text=peer)).to_have_count(5)
    # the keyboard moves through the packets, as in Wireshark
    page.locator("#log-viewport").focus()
    page.keyboard.press("End")
    page.keyboard.press("ArrowUp")
    selected = page.locator("#log-rows .log-row[aria-selected=true]")
    expect(selected).to_have_count(1)
    expect(page.locator("#details-title")).to_have_text(f"Packet #{selected.get_attribute('data-id')}")
    # the connection as a ladder between its two ends, an arrow per event, each clickable
    page.locator("#conn").select_option(label=f"tcp_chat: {peer} ⇄ {HOST}:{chat_port}")
    arrows = page.locator("#ladder .rung-arrow")
    expect(arrows).to_have_count(5)
    expect(arrows.first).to_have_text("connect (SYN)")
    expect(arrows.last).to_have_text("close by peer (FIN)")
    expect(page.locator("#ladder .ladder-ends")).to_contain_text(f"peer {peer}")
    assert [page.locator("#ladder .rung").nth(i).get_attribute("data-dir") for i in range(5)] == \
        ["in", "out", "in", "in", "in"]
    arrows.nth(3).click()
    expect(page.locator("#hex")).to_contain_text("c4 e3 ba c3")
    expect(page.locator("#log-rows .log-row[aria-selected=true]")).to_contain_text("你好")


def test_choosing_a_service_fetches_its_past_from_the_server(
        page: Page, fresh_sockdash: harness.Sockdash, tmp_path: Path) -> None:
    peer = chat_lines(fresh_sockdash, b"before the download\n", b"second line\n")
    (fresh_sockdash.root / "big.bin").write_bytes(b"z" * (512 * 6000))
    tftp_get(fresh_sockdash, "big.bin", tmp_path / "big.bin")  # 12,000 TFTP events after the chat
    on_server = fresh_sockdash.get_json("/api/packets?service=tcp_chat&limit=10000")["events"]
    open_log(page, fresh_sockdash)
    page.get_by_role("combobox", name="Service").select_option("tcp_chat")
    expect(page.locator("#log")).to_have_attribute("aria-rowcount", str(len(on_server) + 1))
    expect(rows(page).filter(has_text="before the download")).to_have_count(1)
    expect(page.locator("#export-pcap")).to_have_attribute("href", "/api/packets.pcap?service=tcp_chat")
    # the peer filter too, and the direction on top of it
    page.get_by_role("combobox", name="Service").select_option("")
    page.get_by_label("Peer").fill(peer)
    from_peer = [e for e in on_server if e["peer"] == peer]
    expect(page.locator("#log")).to_have_attribute("aria-rowcount", str(len(from_peer) + 1))
    page.get_by_label("Direction").select_option("in")
    expect(rows(page).filter(has_text="← out")).to_have_count(0)
    expect(rows(page).filter(has_text="second line")).to_have_count(1)


def test_pause_holds_the_rows_while_traffic_flows_and_resume_brings_them(
        page: Page, fresh_sockdash: harness.Sockdash, tmp_path: Path) -> None:
    (fresh_sockdash.root / "mid.bin").write_bytes(b"m" * (512 * 300))
    open_log(page, fresh_sockdash)
    tftp_get(fresh_sockdash, "mid.bin", tmp_path / "a.bin")
    expect(rows(page).filter(has_text="DATA #301 0 B")).to_have_count(1)
    page.get_by_role("button", name="Pause", exact=True).click()
    before = rowcount(page)
    last = rows(page).last.get_attribute("data-id")
    for n in range(3):  # an RRQ in and an ERROR out each: the page counts exactly what came
        tftp_missing(fresh_sockdash, f"counted-{n}")
    expect(page.locator("#thaw")).to_have_text("6 new since the pause: resume")
    expect(page.locator("#rate")).to_contain_text("— paused")
    tftp_get(fresh_sockdash, "mid.bin", tmp_path / "b.bin")
    tftp_missing(fresh_sockdash, "missing-while-paused")
    server_has(fresh_sockdash, "service=tftp", "missing-while-paused")

    def as_at_the_pause() -> None:  # reading while paused: the list is the one at the pause, to its last row
        viewport = page.locator("#log-viewport")
        viewport.evaluate("el => { el.scrollTop = 0; }")
        viewport.evaluate("el => { el.scrollTop = el.scrollHeight; }")
        expect(rows(page).last).to_have_attribute("data-id", last or "")
        assert rowcount(page) == before
        expect(rows(page).filter(has_text="missing-while-paused")).to_have_count(0)

    expect(page.locator("#thaw")).to_have_text(re.compile(r"^\d+ new since the pause: resume$"))  # they came
    as_at_the_pause()
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(rows(page).filter(has_text="RRQ missing-while-paused")).to_have_count(1)
    assert rowcount(page) > before
    expect(page.locator("#thaw")).to_be_hidden()


def test_scrolling_up_holds_the_view_until_the_newest_are_asked_for(
        page: Page, fresh_sockdash: harness.Sockdash, tmp_path: Path) -> None:
    (fresh_sockdash.root / "mid.bin").write_bytes(b"m" * (512 * 300))
    tftp_get(fresh_sockdash, "mid.bin", tmp_path / "a.bin")
    open_log(page, fresh_sockdash)
    wait_rowcount_above(page, 600)
    page.locator("#log-viewport").evaluate("el => { el.scrollTop = 240; }")  # ten rows down: reading older rows
    expect(rows(page).first).to_have_attribute("aria-rowindex", "7")  # drawn from five rows above the view
    before = rowcount(page)
    shown = rows(page).evaluate_all("rows => rows.map(r => r.dataset.id)")
    tftp_get(fresh_sockdash, "mid.bin", tmp_path / "b.bin")
    tftp_missing(fresh_sockdash, "missing-while-reading")
    server_has(fresh_sockdash, "service=tftp", "missing-while-reading")
    jump = page.locator("#thaw")
    expect(jump).to_have_text(re.compile(r"^\d+ new: jump to the newest$"))  # they came, and wait
    assert rows(page).evaluate_all("rows => rows.map(r => r.dataset.id)") == shown
    assert rowcount(page) == before
    jump.click()
    expect(rows(page).filter(has_text="RRQ missing-while-reading")).to_have_count(1)
    assert rowcount(page) > before


def test_on_a_phone_the_decoded_text_has_room_beside_nothing(
        browser: Browser, fresh_sockdash: harness.Sockdash) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        open_log(page, fresh_sockdash)
        chat_lines(fresh_sockdash, GBK_LINE)
        rows(page).filter(has_text="你好").click()
        text = page.locator("#text")
        expect(text).to_have_text(re.compile(r"^你好，世界\s*$"))
        expect(page.locator("#hex")).to_have_text("0000  c4 e3 ba c3 a3 ac ca c0\n0008  bd e7 0a")  # 8 bytes a line fit
        box = text.bounding_box()
        assert box is not None and box["width"] > 200, box  # it was 0 px wide
        hex_box = page.locator("#hex").bounding_box()
        assert hex_box is not None and box["y"] >= hex_box["y"] + hex_box["height"]  # under the hex
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out
    finally:
        context.close()


def test_the_left_out_note_says_what_the_server_keeps_and_loads_it(
        page: Page, tmp_path: Path) -> None:
    small = harness.start(tmp_path, "--packet-log-size", "3000")
    try:
        (small.root / "big.bin").write_bytes(b"z" * (512 * 4000))
        open_log(page, small)
        tftp_get(small, "big.bin", tmp_path / "big.bin")
        note = page.locator("#skipped")
        expect(note).to_contain_text("events were left out of this live view")
        expect(note).to_contain_text("The server keeps the newest 3,000 events of each service")
        expect(note).not_to_contain_text("have them all")
        page.get_by_role("button", name="Load them from the server").click()
        held = small.get_json("/api/packets?limit=10000")["events"]
        expect(page.locator("#log")).to_have_attribute("aria-rowcount", str(len(held) + 1))
        expect(note).to_be_hidden()  # they are in the list now
    finally:
        small.stop()


class FeedSwitch:
    """The page's /ws/packets through Playwright, so that a test can break it and let it back."""

    def __init__(self, page: Page) -> None:
        self.routes: list[WebSocketRoute] = []
        self.down = False
        page.route_web_socket(re.compile(r"/ws/packets$"), self._through)

    def _through(self, ws: WebSocketRoute) -> None:
        if self.down:
            ws.close()
            return
        ws.connect_to_server()
        self.routes.append(ws)

    def cut(self, page: Page) -> None:
        self.down = True
        for route in self.routes:
            route.close()
        expect(page.locator("#live-state")).to_have_attribute("data-state", "offline")

    def restore(self, page: Page) -> None:
        self.down = False
        expect(page.locator("#live-state")).to_have_text("live", timeout=30_000)  # its retries back off


def newest_row_id(page: Page) -> int:
    page.locator("#log-viewport").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    return int(rows(page).last.get_attribute("data-id") or "0")


def test_after_a_reconnect_the_page_fetches_what_it_missed_each_once(
        page: Page, fresh_sockdash: harness.Sockdash, tmp_path: Path) -> None:
    feed = FeedSwitch(page)
    (fresh_sockdash.root / "mid.bin").write_bytes(b"m" * (512 * 200))
    open_log(page, fresh_sockdash)
    chat_lines(fresh_sockdash, b"said while you were here\n")
    expect(rows(page).filter(has_text="said while you were here")).to_have_count(1)
    feed.cut(page)
    chat_lines(fresh_sockdash, b"said while you were away\n")
    tftp_get(fresh_sockdash, "mid.bin", tmp_path / "a.bin")  # 400 newer events: more than a reconnect's first batch
    feed.restore(page)
    # the feed's first batch (the newest 200) and the gap fetch overlap: each event joins once
    on_server = fresh_sockdash.get_json("/api/packets?limit=10000")["events"]
    expect(page.locator("#log")).to_have_attribute("aria-rowcount", str(len(on_server) + 1))
    expect(rows(page).filter(has_text="DATA #201 0 B")).to_have_count(1)
    page.get_by_label("Search").fill("while you were")
    expect(rows(page)).to_have_count(2)
    expect(page.locator("#skipped")).not_to_contain_text("offline")  # nothing was left out


def test_a_gap_longer_than_one_fetch_shows_the_newest_and_says_how_many_are_not_shown(
        page: Page, fresh_sockdash: harness.Sockdash, tmp_path: Path) -> None:
    feed = FeedSwitch(page)
    (fresh_sockdash.root / "big.bin").write_bytes(b"z" * (512 * 5500))
    open_log(page, fresh_sockdash)
    chat_lines(fresh_sockdash, b"before the outage\n")
    expect(rows(page).filter(has_text="before the outage")).to_have_count(1)
    before = rowcount(page)
    newest = newest_row_id(page)
    feed.cut(page)
    chat_lines(fresh_sockdash, b"early in the outage\n")
    tftp_get(fresh_sockdash, "big.bin", tmp_path / "a.bin")  # 11,000 TFTP events: more than one fetch (10,000)
    fetched = fresh_sockdash.get_json(f"/api/packets?after={newest}&limit=10000")["events"]
    left_out = fetched[0]["id"] - newest - 1
    assert left_out > 1000
    feed.restore(page)
    expect(page.locator("#skipped")).to_contain_text(
        f"{left_out:,} earlier events recorded while this page was offline are not shown "
        "(it fetched the newest 10,000).")
    expect(page.locator("#log")).to_have_attribute("aria-rowcount", str(before + 10000))  # each once
    expect(rows(page).filter(has_text="early in the outage")).to_have_count(0)
    page.get_by_role("button", name="Load them from the server").click()
    expect(page.locator("#skipped")).to_be_hidden()
    expect(page.locator("#log")).to_have_attribute("aria-rowcount", "10001")  # the newest the server has


def test_after_a_server_restart_the_page_shows_the_new_log_not_the_old_one(
        page: Page, tmp_path: Path) -> None:
    """The new process numbers its events from 1 again: the page must not take them for ones it has."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        http_port = str(probe.getsockname()[1])
    ports = ["--http-port", http_port, *harness.ALL_PORTS_ZERO[2:]]
    first = harness.start(tmp_path / "first", ports=ports)
    try:
        open_log(page, first)
        chat_lines(first, b"from the first run\n")
        for n in range(5):
            tftp_missing(first, f"first-{n}")
        expect(rows(page).filter(has_text="first-4")).to_have_count(1)
    finally:
        first.stop()
    expect(page.locator("#live-state")).to_have_attribute("data-state", "offline")
    second = harness.start(tmp_path / "second", ports=ports)
    try:
        chat_lines(second, b"from the second run\n")  # ids 1-4 again, which the page has seen
        expect(page.locator("#live-state")).to_have_text("live", timeout=30_000)  # its retries back off to 10 s
        expect(rows(page).filter(has_text="from the second run")).to_have_count(1)
        expect(rows(page).filter(has_text="from the first run")).to_have_count(0)
        expect(page.locator("#load-state")).to_have_text("sockdash restarted: the log starts anew.")
    finally:
        second.stop()


def test_a_visitor_sees_direct_messages_as_such_and_never_their_bytes(
        page: Page, fresh_sockdash: harness.Sockdash) -> None:
    open_log(page, fresh_sockdash)
    chat = fresh_sockdash.ports["tcp_chat"]
    with socket.create_connection((HOST, chat), timeout=5) as a, socket.create_connection((HOST, chat), timeout=5) as b:
        recv_until(a, b"/help")
        recv_until(b, b"/help")
        b.sendall(b"/nick bob\n")
        recv_until(b, b"bob")
        a.sendall(b"/msg bob the secret plan\n")
        recv_until(b, b"the secret plan")
        dm = rows(page).filter(has_text="direct message")
        expect(dm.first).to_be_visible()
    assert all(cell[-1] == "direct message" for cell in (cells(dm.nth(i)) for i in range(dm.count())))
    dm.first.click()
    expect(page.locator("#bytes-note")).to_have_text(
        re.compile(r"^Direct message: \d+ bytes, shown to the admin only\.$"))
    expect(page.locator("#dump")).to_be_hidden()
    expect(page.locator("#fields")).to_contain_text("shown to the admin only")
    assert "secret" not in page.locator("main").inner_text()


@pytest.fixture
def hidpi_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def test_at_1280x800_list_details_and_bytes_share_the_screen_coloured_with_sharp_charts(
        hidpi_page: Page, fresh_sockdash: harness.Sockdash) -> None:
    page = hidpi_page
    open_log(page, fresh_sockdash)
    chat_lines(fresh_sockdash, b"a chat line\n")
    tftp_missing(fresh_sockdash, "nothing.bin")
    rows(page).filter(has_text="a chat line").click()
    for pane in ("#log-viewport", "#details", "#bytes"):
        box = page.locator(pane).bounding_box()
        assert box is not None and box["height"] > 150 and box["y"] + box["height"] <= 800, (pane, box)
    expect(page.locator("#text")).to_have_text(re.compile(r"^a chat line\s*$"))

    def background(locator: Locator) -> str:
        return str(locator.evaluate("el => getComputedStyle(el).backgroundColor"))

    chat_row = rows(page).filter(has_text="tcp_chat").filter(has_text="⇢ open")
    tftp_row = rows(page).filter(has_text="RRQ nothing.bin")
    assert background(chat_row) != background(tftp_row)  # coloured by service
    in_arrow, out_arrow = (rows(page).filter(has_text="tftp").filter(has_text=d).locator(".dir")
                           for d in ("→ in", "← out"))
    color = "el => getComputedStyle(el).color"
    assert in_arrow.evaluate(color) != out_arrow.evaluate(color)
    # one small chart per service with traffic, drawn at the device's pixel density, on a clock axis
    expect(page.locator("#charts figure[data-service=tcp_chat]")).to_have_count(1, timeout=15_000)
    expect(page.locator("#charts figure[data-service=tftp]")).to_have_count(1)
    canvas = page.locator("#charts figure[data-service=tftp] canvas")
    size = canvas.evaluate("c => [c.width, c.clientWidth, c.height, c.clientHeight]")
    assert size[0] == round(size[1] * 2) and size[2] == round(size[3] * 2), size
    expect(canvas).to_have_attribute("aria-label", re.compile(r"^tftp, packets per second over the last 5 minutes"))
    page.get_by_label("Show").select_option("bytes")  # bytes/s instead, a choice that is kept
    expect(canvas).to_have_attribute("aria-label", re.compile(r"^tftp, bytes per second"))
    # a TFTP packet's fields, as Wireshark's dissector shows them
    tftp_row.click()
    fields = page.locator("#fields")
    expect(fields).to_contain_text("TFTP: RRQ nothing.bin octet")
    for name, value in (("Opcode", "Read Request (RRQ) (1)"), ("Source file", "nothing.bin"), ("Type", "octet")):
        expect(fields.locator("dt", has_text=name).locator("xpath=following-sibling::dd[1]")).to_have_text(value)
    page.reload()
    expect(page.get_by_label("Show")).to_have_value("bytes")


def test_ten_thousand_events_keep_the_dom_small_and_a_bulk_transfer_is_budgeted(
        page: Page, fresh_sockdash: harness.Sockdash, tmp_path: Path) -> None:
    (fresh_sockdash.root / "big.bin").write_bytes(b"z" * (512 * 6000))
    tftp_get(fresh_sockdash, "big.bin", tmp_path / "a.bin")
    # 12,000 TFTP packets in the log (its TFTP ring keeps the newest 10,000): the page loads them all
    open_log(page, fresh_sockdash)
    wait_rowcount_above(page, 10000)
    assert rows(page).count() < 80  # only the visible rows exist
    page.locator("#log-viewport").evaluate("el => { el.scrollTop = 0; }")
    expect(rows(page).first).to_contain_text("DATA #")
    # a search and back keeps the chosen packet in view, as Wireshark does when a filter changes
    chosen = rows(page).nth(2)
    chosen_id = chosen.get_attribute("data-id")
    chosen.click()
    expect(page.locator("#fields dt", has_text="Block")).to_have_count(1)  # a DATA or an ACK: its block number
    page.get_by_label("Search").fill("ACK #5999")
    expect(rows(page)).to_have_count(1)
    page.get_by_label("Search").fill("")
    expect(page.locator(f"#log-rows .log-row[data-id='{chosen_id}']")).to_have_attribute("aria-selected", "true")
    page.locator("#log-viewport").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    # a transfer at full speed while the page watches: batches are budgeted and the rest counted
    tftp_get(fresh_sockdash, "big.bin", tmp_path / "b.bin")
    expect(page.locator("#skipped")).to_contain_text("events were left out of this live view")
    expect(rows(page).last).to_contain_text("ACK #6001")


def test_with_a_bus_another_instances_events_are_labelled_with_their_instance(
        page: Page, tmp_path: Path, redis_server: RedisServer) -> None:  # noqa: F811
    a, b = (harness.start(tmp_path / name, "--bus", redis_server.url, "--instance-name", name) for name in "AB")
    try:
        open_log(page, b)
        chat_lines(b, b"said on B\n")  # B's own: no label
        tftp_missing(a, "on-a.bin")  # A's RRQ and ERROR, through Redis
        from_a = rows(page).filter(has_text="@A")
        expect(from_a).to_have_count(2)
        assert all("tftp @A" in cells(from_a.nth(i)) for i in range(2))
        expect(rows(page).filter(has_text="said on B")).to_have_count(1)
        assert "@" not in " ".join(cells(rows(page).filter(has_text="said on B")))
        from_a.first.click()
        expect(page.locator("#fields")).to_contain_text("InstanceA (another sockdash on the bus)")
    finally:
        a.stop()
        b.stop()
