"""The Syslog page in a browser: live lines, filters, pause, hostile text, TFTP beside syslog."""

from __future__ import annotations

import re
import socket
import subprocess
import uuid
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests import harness
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (fixture)


def send(sockdash: harness.Sockdash, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for data in datagrams:
            sender.sendto(data, ("127.0.0.1", sockdash.ports["syslog"]))


def open_page(page: Page, sockdash: harness.Sockdash) -> None:
    page.goto(sockdash.base_url + "/syslog")
    expect(page.locator("#live-state")).to_have_text("live")


def test_a_live_line_appears_coloured_by_severity(page: Page, sockdash: harness.Sockdash) -> None:
    open_page(page, sockdash)
    tag = uuid.uuid4().hex[:8]
    send(sockdash, f"<11>Mar  1 00:00:00 sw-{tag} ifmgr: Gi0/1 down {tag}".encode())
    row = page.locator("#s-rows tr", has_text=f"Gi0/1 down {tag}")
    expect(row).to_have_count(1)
    expect(row).to_have_class("sev-err")
    expect(row.locator("td").nth(1)).to_have_text(f"sw-{tag}")
    expect(row.locator("td.sev")).to_have_text("err")


def test_a_hostile_message_is_shown_as_text(page: Page, sockdash: harness.Sockdash) -> None:
    open_page(page, sockdash)
    page.evaluate("window.pwned = false")
    hostile = "<img src=x onerror=\"window.pwned=true\"><script>window.pwned=true</script>"
    send(sockdash, f"<12>{hostile}".encode())
    expect(page.locator("#s-rows td.msg", has_text="<img src=x")).to_have_text(hostile)
    assert page.locator("#s-rows img, #s-rows script").count() == 0
    assert page.evaluate("window.pwned") is False


def test_filters_by_host_severity_and_text(page: Page, sockdash: harness.Sockdash) -> None:
    open_page(page, sockdash)
    tag = uuid.uuid4().hex[:8]
    page.fill("#s-host", f"sw-a-{tag}")
    send(sockdash, f"<14>Mar  1 00:00:00 sw-a-{tag} app: info from a".encode(),
         f"<11>Mar  1 00:00:00 sw-a-{tag} app: error from a".encode(),
         f"<11>Mar  1 00:00:00 sw-b-{tag} app: error from b".encode())
    rows = page.locator("#s-rows tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("info from a")
    page.select_option("#s-severity", "3")  # err or worse
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("error from a")
    page.fill("#s-host", "")
    page.fill("#s-text", "from b")
    expect(page.locator("#s-rows tr", has_text="error from b")).to_have_count(1)
    expect(page.locator("#s-rows tr", has_text="from a")).to_have_count(0)
    expect(page.locator("#s-export-log")).to_have_attribute("href", "/api/syslog.log?severity=3&q=from+b")


def test_pause_counts_what_arrives_and_resume_shows_it(page: Page, sockdash: harness.Sockdash) -> None:
    open_page(page, sockdash)
    tag = uuid.uuid4().hex[:8]
    page.fill("#s-text", tag)
    expect(page.locator("#s-rows tr")).to_have_count(0)
    page.click("#s-pause")
    expect(page.locator("#s-pause")).to_have_attribute("aria-pressed", "true")
    send(sockdash, *[f"<14>paused {tag} {i}".encode() for i in range(3)])
    expect(page.locator("#s-paused")).to_have_text("paused: 3 arrived")
    expect(page.locator("#s-rows tr")).to_have_count(0)
    page.click("#s-pause")
    expect(page.locator("#s-rows tr")).to_have_count(3)
    expect(page.locator("#s-paused")).to_have_text("")


def test_a_hosts_tftp_transfers_show_beside_its_syslog(page: Page, sockdash: harness.Sockdash) -> None:
    name = f"c2960-{uuid.uuid4().hex[:6]}.bin"
    (sockdash.root / name).write_bytes(b"\x01" * 3000)
    subprocess.run(["curl", "-s", "-o", "/dev/null", f"tftp://127.0.0.1:{sockdash.ports['tftp']}/{name}"],
                   check=True, timeout=20)
    open_page(page, sockdash)
    expect(page.locator("#s-transfers")).to_be_hidden()
    page.fill("#s-host", "127.0.0.1")
    expect(page.locator("#s-transfers")).to_be_visible()
    expect(page.locator("#s-transfer-list li", has_text=name)).to_contain_text("TFTP download")
    expect(page.locator("#s-transfer-list li", has_text=name)).to_contain_text("ok")


def test_a_burst_shows_the_newest_and_counts_the_rest(page: Page, sockdash: harness.Sockdash) -> None:
    open_page(page, sockdash)
    tag = uuid.uuid4().hex[:8]
    page.fill("#s-text", f"burst-{tag}")
    expect(page.locator("#syslog-filters")).to_have_attribute("data-applied", re.compile(f"burst-{tag}"))
    send(sockdash, *[f"<14>burst-{tag} {i:04d}".encode() for i in range(1_000)])
    expect(page.locator("#s-more")).to_contain_text("more not shown")
    expect(page.locator("#s-rows tr").last).to_contain_text(f"burst-{tag} 0999")  # the newest are shown
    shown = page.locator("#s-rows tr").count()
    more = int(page.locator("#s-more").inner_text().split()[0])
    assert shown < 1_000 and shown + more == 1_000


def test_with_a_bus_another_instances_messages_are_labelled_with_their_instance(
        page: Page, tmp_path: Path, redis_server: RedisServer) -> None:  # noqa: F811
    a, b = (harness.start(tmp_path / name, "--bus", redis_server.url, "--instance-name", name) for name in "AB")
    try:
        open_page(page, b)
        tag = uuid.uuid4().hex[:8]
        send(b, f"<14>Mar  1 00:00:00 sw-b-{tag} app: said on B {tag}".encode())  # B's own: no label
        send(a, f"<11>Mar  1 00:00:00 sw-a-{tag} app: said on A {tag}".encode())  # A's, through Redis
        from_a = page.locator("#s-rows tr", has_text=f"said on A {tag}")
        expect(from_a).to_have_count(1)
        expect(from_a.locator("td").nth(1)).to_have_text(f"sw-a-{tag} @A")
        expect(from_a.locator("td .instance")).to_have_attribute("title", "recorded by instance A")
        from_b = page.locator("#s-rows tr", has_text=f"said on B {tag}")
        expect(from_b).to_have_count(1)
        expect(from_b.locator("td").nth(1)).to_have_text(f"sw-b-{tag}")
        expect(from_b.locator(".instance")).to_have_count(0)
        # the label keeps AA contrast on every severity's row (the a11y test has no bus, so no label)
        send(a, *[f"<{severity}>Mar  1 00:00:00 sw-a-{tag} app: colour {severity} {tag}".encode()
                  for severity in range(8)])
        expect(page.locator("#s-rows tr .instance")).to_have_count(9)
        contrast = Axe().run(page, options={"runOnly": ["color-contrast"]}).response["violations"]
        assert contrast == [], [n["target"] for v in contrast for n in v["nodes"]]
    finally:
        a.stop()
        b.stop()
