import re
import socket
import time
from pathlib import Path

from playwright.sync_api import Page, expect

from tests import harness

SERVICES = ("http", "tcp_chat", "udp_chat", "file", "tftp")


def test_home_shows_every_service_running_with_its_port(page: Page, sockdash: harness.Sockdash) -> None:
    page.goto(sockdash.base_url + "/")
    expect(page.locator("#live-state")).to_have_text("live")
    for name in SERVICES:
        card = page.locator(f"#card-{name}")
        expect(card.locator('[data-field="state"]')).to_have_text("running")
        expect(card.locator('[data-field="port"]')).to_have_text(str(sockdash.ports[name]))
    tftp_hints = page.locator("#card-tftp pre").all_inner_texts()
    assert any("-c get" in h and str(sockdash.ports["tftp"]) in h for h in tftp_hints)


def test_counters_move_when_a_native_tcp_client_connects_and_sends(page: Page, sockdash: harness.Sockdash) -> None:
    page.goto(sockdash.base_url + "/")
    expect(page.locator("#live-state")).to_have_text("live")
    card = page.locator("#card-tcp_chat")
    clients_before = int(card.locator('[data-field="clients"]').inner_text())
    packets_before = int(card.locator('[data-field="packets_in"]').inner_text())
    with socket.create_connection(("127.0.0.1", sockdash.ports["tcp_chat"]), timeout=5) as s:
        s.recv(1024)
        expect(card.locator('[data-field="clients"]')).to_have_text(str(clients_before + 1))
        for i in range(3):
            s.sendall(f"message {i}\n".encode())
            time.sleep(0.05)
        expect(card.locator('[data-field="packets_in"]')).not_to_have_text(str(packets_before))
        assert int(card.locator('[data-field="packets_in"]').inner_text()) >= packets_before + 3
    expect(card.locator('[data-field="clients"]')).to_have_text(str(clients_before))


def test_admin_can_stop_and_start_a_service_visitors_cannot(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    page.goto(fresh_sockdash.base_url + "/")
    expect(page.get_by_role("button", name="Stop UDP chat")).to_have_count(0)
    page.goto(f"{fresh_sockdash.base_url}/?token={fresh_sockdash.token}")
    expect(page.locator("#live-state")).to_have_text("live")
    page.get_by_role("button", name="Stop UDP chat").click()
    expect(page.locator('#card-udp_chat [data-field="state"]')).to_have_text("stopped")
    page.get_by_role("button", name="Start UDP chat").click()
    expect(page.locator('#card-udp_chat [data-field="state"]')).to_have_text("running")


def test_phone_width_has_no_horizontal_scroll_and_every_control_is_named(browser, sockdash: harness.Sockdash) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(sockdash.base_url + "/")
    expect(page.locator("#card-tftp")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    unnamed = page.evaluate("""() => [...document.querySelectorAll('button, a, input, select, textarea')]
        .filter(el => !(el.getAttribute('aria-label') || el.textContent.trim() || el.getAttribute('title')))
        .map(el => el.outerHTML)""")
    assert unnamed == []
    context.close()


def test_copy_button_copies_the_command(browser, sockdash: harness.Sockdash) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(sockdash.base_url + "/")
    button = page.get_by_role("button", name="Copy netcat command for TCP chat")
    button.click()
    expect(button).to_have_text("Copied")
    expected = page.locator("#card-tcp_chat pre").first.inner_text()
    assert expected.startswith("nc ") and page.evaluate("navigator.clipboard.readText()") == expected
    context.close()


def test_network_text_is_shown_as_text_on_the_packet_page(page: Page, sockdash: harness.Sockdash) -> None:
    page.goto(sockdash.base_url + "/packets")
    expect(page.locator("#live-state")).to_have_text("live")
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    xss = "<img src=x onerror=alert(2)>"
    with socket.create_connection(("127.0.0.1", sockdash.ports["tcp_chat"]), timeout=5) as s:
        s.recv(1024)
        s.sendall(xss.encode() + b"\n")
        expect(page.locator("#log-rows .summary", has_text=xss).first).to_be_visible()
    assert page.locator("#log-rows img").count() == 0 and alerts == []


IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-f]{0,4}:)*:(?::?[0-9a-f]{1,4})*(?![\w:])|(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}", re.I)


def addresses_on(page: Page) -> set[str]:
    """Every IPv4 or IPv6 address in the page's text and in what its copy buttons copy."""
    copied = page.evaluate("[...document.querySelectorAll('[data-copy]')].map(b => b.dataset.copy).join('\\n')")
    text = page.locator("main").inner_text() + "\n" + copied
    return set(IPV4.findall(text)) | {a for a in IPV6.findall(text) if "::" in a or a.count(":") == 7}


def test_pages_advertise_only_the_address_the_services_are_bound_to(page: Page, tmp_path: Path) -> None:
    """--host 127.0.0.2 on a machine with a LAN address: connecting to that LAN address is
    refused, so Home, Chat and Files must show 127.0.0.2 and nothing else."""
    proc = harness.start(tmp_path, host="127.0.0.2")
    try:
        page.goto(f"{proc.base_url}/?token={proc.token}")
        expect(page.locator("#live-state")).to_have_text("live")
        home = addresses_on(page)
        page.goto(proc.base_url + "/chat")
        chat = addresses_on(page)
        page.goto(proc.base_url + "/files")
        page.get_by_role("button", name="How to fetch hello.txt").click()
        expect(page.locator("tr.details pre").first).to_be_visible()
        files = addresses_on(page)
        assert (home, chat, files) == ({"127.0.0.2"},) * 3
    finally:
        proc.stop()
