import re
import socket
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from sockets_core.netinfo import lan_addresses
from tests import harness
from tests.e2e.traffic import chat_clients, slow_tftp_download
from webapp.advertise import advertised_hosts

SERVICES = ("http", "tcp_chat", "udp_chat", "file", "tftp", "syslog")


def test_home_shows_every_service_running_with_its_port(page: Page, sockdash: harness.Sockdash) -> None:
    page.goto(sockdash.base_url + "/")
    expect(page.locator("#live-state")).to_have_text("live")
    for name in SERVICES:
        card = page.locator(f"#card-{name}")
        expect(card.locator('[data-field="state"]')).to_have_text("running")
        expect(card.locator('[data-field="port"]')).to_have_text(str(sockdash.ports[name]))
    tftp_hints = page.locator("#card-tftp pre").all_text_contents()
    assert any("-c get" in h and str(sockdash.ports["tftp"]) in h for h in tftp_hints)


def test_counters_move_when_a_native_tcp_client_connects_and_sends(page: Page, sockdash: harness.Sockdash) -> None:
    page.goto(sockdash.base_url + "/")
    expect(page.locator("#live-state")).to_have_text("live")
    card = page.locator("#card-tcp_chat")
    clients_before = int(card.locator('[data-field="clients"]').inner_text())
    packets_before = int(card.locator('[data-field="packets_in"]').inner_text())

    def packets_in() -> int:
        return int(sockdash.status()["services"]["tcp_chat"]["packets_in"])

    with socket.create_connection(("127.0.0.1", sockdash.ports["tcp_chat"]), timeout=5) as s:
        s.recv(1024)
        expect(card.locator('[data-field="clients"]')).to_have_text(str(clients_before + 1))
        for i in range(3):  # three packets: each is sent once the server has read the one before
            seen = packets_in()
            s.sendall(f"message {i}\n".encode())
            sockdash.wait_for(lambda seen=seen: packets_in() > seen, what=f"message {i} read by the server")
        expect(card.locator('[data-field="packets_in"]')).not_to_have_text(str(packets_before))
        assert int(card.locator('[data-field="packets_in"]').inner_text()) >= packets_before + 3
    expect(card.locator('[data-field="clients"]')).to_have_text(str(clients_before))


def test_admin_can_stop_and_start_a_service_visitors_cannot(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    page.goto(fresh_sockdash.base_url + "/")
    expect(page.get_by_role("button", name="Stop UDP chat")).to_have_count(0)
    page.goto(f"{fresh_sockdash.base_url}/?token={fresh_sockdash.token}")
    expect(page.locator("#live-state")).to_have_text("live")
    page.get_by_role("button", name="Stop UDP chat").click()
    page.get_by_role("dialog").get_by_role("button", name="Stop UDP chat").click()
    expect(page.locator('#card-udp_chat [data-field="state"]')).to_have_text("stopped")
    page.get_by_role("button", name="Start UDP chat").click()  # starting drops nobody: no question
    expect(page.locator('#card-udp_chat [data-field="state"]')).to_have_text("running")


def test_stop_asks_first_and_says_how_many_clients_it_drops(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    proc = fresh_sockdash
    page.goto(f"{proc.base_url}/?token={proc.token}")
    with chat_clients(proc, "alice", "bob") as clients:
        expect(page.locator('#card-tcp_chat [data-field="clients"]')).to_have_text("2")
        page.get_by_role("button", name="Stop TCP chat").click()
        dialog = page.get_by_role("dialog", name="Stop TCP chat?")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("2 connected clients will be disconnected.")
        expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
        expect(page.get_by_role("button", name="Stop TCP chat")).to_be_focused()
        expect(page.locator('#card-tcp_chat [data-field="state"]')).to_have_text("running")
        clients[0].sendall(b"still here\n")  # Cancel dropped nobody
        page.get_by_role("button", name="Stop TCP chat").click()
        dialog.get_by_role("button", name="Stop TCP chat").click()
        expect(page.locator('#card-tcp_chat [data-field="state"]')).to_have_text("stopped")
        for client in clients:
            client.settimeout(5)
            while client.recv(4096):  # what was queued, then the close
                pass


def test_phone_width_has_no_horizontal_scroll_and_every_control_is_named(
        browser: Browser, sockdash: harness.Sockdash) -> None:
    long_name = "a-firmware-image-with-a-very-long-name-that-would-overflow-v1.2.3.bin"
    (sockdash.root / long_name).write_bytes(b"x" * 100_000)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{sockdash.base_url}/?token={sockdash.token}")
    with chat_clients(sockdash, "a-rather-long-nickname-here"), \
            slow_tftp_download(sockdash, long_name):
        expect(page.locator("#running li")).to_have_count(1)
        expect(page.locator("#who-list")).to_contain_text("a-rather-long-nickname-here")
        for details in page.locator("details.connect").all():
            details.locator("summary").click()
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        unnamed = page.evaluate("""() => [...document.querySelectorAll('button, a, input, select, textarea, summary')]
            .filter(el => !(el.getAttribute('aria-label') || el.textContent.trim() || el.getAttribute('title')))
            .map(el => el.outerHTML)""")
        assert unnamed == []
    context.close()


def test_connect_snippets_are_folded_per_service_and_copy(browser: Browser, sockdash: harness.Sockdash) -> None:
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(sockdash.base_url + "/")
    button = page.get_by_role("button", name="Copy netcat command for TCP chat")
    expect(button).to_be_hidden()  # folded: the live activity comes first
    page.locator("#card-tcp_chat summary").click()
    expect(page.locator("#card-udp_chat pre").first).to_be_hidden()  # one service's snippets at a time
    button.click()
    expect(button).to_have_text("Copied")
    expected = page.locator("#card-tcp_chat pre").first.inner_text()
    assert expected == f"nc 127.0.0.1 {sockdash.ports['tcp_chat']}"
    assert page.evaluate("navigator.clipboard.readText()") == expected
    context.close()


def test_home_shows_who_is_connected_running_transfers_and_a_sparkline_first(
        page: Page, fresh_sockdash: harness.Sockdash) -> None:
    proc = fresh_sockdash
    (proc.root / "switch.img").write_bytes(b"i" * 300_000)
    page.goto(proc.base_url + "/")
    expect(page.locator("#who-list li")).to_have_text(["Nobody is in the chat."])
    expect(page.locator("#running-none")).to_be_visible()
    with chat_clients(proc, "alice", "bob"), slow_tftp_download(proc, "switch.img"):  # shown as they come
        who = page.locator("#who-list li")
        expect(who).to_have_count(2)
        expect(who.first).to_have_text("TCP alice #lobby")
        expect(page.locator("#who-summary")).to_contain_text("2 TCP chat clients")
        expect(page.locator("#who-summary")).to_contain_text("1 TFTP transfer")
        running = page.locator("#running li")
        expect(running).to_have_count(1)
        expect(running).to_contain_text("switch.img")
        expect(running).to_contain_text(re.compile(r"\d+% · [\d.]+ KiB of 293 KiB · [\d.]+ (B|KiB)/s · .* left"))
        expect(running.get_by_role("progressbar", name="Progress of switch.img")).to_be_visible()
        expect(page.locator("#running-none")).to_be_hidden()
        spark = page.get_by_role("img", name="TFTP: bytes per second over the last 5 minutes")
        expect(spark.locator("polyline")).to_have_attribute("points", re.compile(r"\d+,(?!40\b)\d"))  # above zero
        # the activity comes before the service cards, and links on
        assert page.evaluate("""() => document.querySelector('.activity').compareDocumentPosition(
            document.querySelector('.cards')) & Node.DOCUMENT_POSITION_FOLLOWING""")
        expect(page.get_by_role("link", name="Open the chat").first).to_have_attribute("href", "/chat")
        expect(page.get_by_role("link", name="Files and every transfer")).to_have_attribute("href", "/files#transfers")
    expect(page.locator("#who-list li")).to_have_text(["Nobody is in the chat."])


def test_uptime_reads_as_time_and_low_rates_keep_their_decimals(page: Page, sockdash: harness.Sockdash) -> None:
    page.goto(sockdash.base_url + "/")
    expect(page.locator("#uptime")).to_have_text(re.compile(r"^(\d+ s|\d+ min \d\d s|\d+ h \d\d min)$"))
    shown = page.evaluate("""async () => {
        const f = await import('/static/js/format.js');
        return [f.formatDuration(7384), f.formatDuration(90061), f.formatDuration(65), f.formatCount(0.4),
                f.formatCount(3.25), f.formatCount(1234.4), f.formatRate(0.5), f.formatRate(2048)];
    }""")
    assert shown == ["2 h 03 min", "1 d 1 h", "1 min 05 s", "0.4", "3.3", "1,234", "0.5 B/s", "2.0 KiB/s"]


def test_a_wildcard_bind_lists_every_lan_address_and_the_choice_changes_every_command(
        page: Page, tmp_path: Path) -> None:
    proc = harness.start(tmp_path, host="::")
    try:
        expected = advertised_hosts("::", "127.0.0.1", lan_addresses(include_ipv6=True))
        page.goto(proc.base_url + "/")
        if len(expected) == 1:  # a machine with one address: nothing to choose
            expect(page.locator("#host-pick")).to_have_count(0)
            assert addresses_on(page) == set(expected)
            return
        picker = page.get_by_label("Connect from the LAN to")
        assert picker.locator("option").all_inner_texts() == expected
        last = expected[-1]
        picker.select_option(last)
        page.locator("#card-tcp_chat summary").click()
        shown_host = f"[{last}]" if ":" in last else last
        expect(page.locator("#card-tcp_chat .hints:not([hidden]) pre").first).to_have_text(
            f"nc {last} {proc.ports['tcp_chat']}")
        expect(page.locator("#card-http .host-text")).to_have_text(shown_host)
        page.locator("#card-http summary").click()
        expect(page.locator("#card-http .hints:not([hidden]) pre")).to_contain_text(
            f"http://{shown_host}:{proc.ports['http']}/")
        page.goto(proc.base_url + "/files")  # the choice holds on the Files page
        expect(page.get_by_label("Address in commands")).to_have_value(last)
        page.get_by_role("button", name="How to fetch hello.txt").click()
        expect(page.locator("tr.details pre").first).to_contain_text(f"http://{shown_host}:{proc.ports['http']}/")
    finally:
        proc.stop()


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
IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-f]{0,4}:)*:(?::?[0-9a-f]{1,4})*(?![\w:])"  # with ::
                  r"|(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}", re.IGNORECASE)


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
