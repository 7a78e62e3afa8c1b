"""The chat in the browser, meeting netcat, the course's scripts and UDP clients."""

import socket
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests import harness
from tests.integration.test_services_live import recv_until

HOST = "127.0.0.1"


def join(page: Page, proc: harness.Sockdash, nick: str) -> None:
    page.goto(f"{proc.base_url}/chat")
    page.get_by_label("Your nickname").fill(nick)
    page.get_by_role("button", name="Join the chat").click()
    expect(page.locator("#me")).to_have_text(f"you are {nick}")


def say(page: Page, text: str) -> None:
    page.get_by_role("textbox", name="Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def shown(page: Page, nick: str, text: str) -> None:
    expect(page.locator("#messages li", has=page.locator(".nick", has_text=nick)).filter(
        has=page.locator(".text", has_text=text)).last).to_be_visible()


def test_browsers_netcat_course_script_and_udp_talk_in_every_direction(
        browser: Browser, fresh_sockdash: harness.Sockdash) -> None:
    proc = fresh_sockdash
    a, b = browser.new_context().new_page(), browser.new_context().new_page()
    join(a, proc, "web-a")
    join(b, proc, "web-b")
    nc = socket.create_connection((HOST, proc.ports["tcp_chat"]), timeout=5)
    recv_until(nc, b"/help")
    nc.sendall(b"/nick nc-user\n")
    recv_until(nc, b"you are now nc-user")
    course = socket.create_connection((HOST, proc.ports["tcp_chat"]), timeout=5)
    recv_until(course, b"/help")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.settimeout(5)
    udp_server = (HOST, proc.ports["udp_chat"])
    udp.sendto(b"/nick udp-user", udp_server)
    assert udp.recvfrom(1024)[0] == b"* you are now udp-user\n"

    def udp_until(needle: bytes) -> bytes:
        data = b""
        while needle not in data:
            data += udp.recvfrom(65536)[0]
        return data

    # course script: GBK, no newline, then it waits in recv(1024)
    course.send("课程脚本：你好".encode("gbk"))
    course_nick = f"127.0.0.1:{course.getsockname()[1]}"
    for page in (a, b):
        shown(page, course_nick, "课程脚本：你好")
    assert f"<{course_nick}> 课程脚本：你好\n".encode("utf-8") in recv_until(nc, "你好\n".encode("utf-8"))
    assert f"<{course_nick}> 课程脚本：你好\n".encode("utf-8") in udp_until("你好\n".encode("utf-8"))

    say(a, "from web a, 中文 too")
    shown(b, "web-a", "from web a, 中文 too")
    assert "<web-a> from web a, 中文 too\n".encode("utf-8") in recv_until(nc, b"too\n")
    assert "<web-a> from web a, 中文 too\n".encode("gbk") in recv_until(course, "too\n".encode("gbk"))
    assert b"<web-a> from web a" in udp_until(b"too\n")

    nc.sendall(b"from netcat\n")
    for page in (a, b):
        shown(page, "nc-user", "from netcat")
    assert "<nc-user> from netcat\n".encode("gbk") in recv_until(course, b"netcat\n")
    assert b"<nc-user> from netcat\n" in udp_until(b"netcat\n")

    udp.sendto("来自UDP".encode("gbk"), udp_server)
    for page in (a, b):
        shown(page, "udp-user", "来自UDP")
    assert "<udp-user> 来自UDP\n".encode("utf-8") in recv_until(nc, "UDP\n".encode("utf-8"))
    assert "<udp-user> 来自UDP\n".encode("gbk") in recv_until(course, "UDP\n".encode("gbk"))

    say(b, "from web b")
    shown(a, "web-b", "from web b")
    assert b"<web-b> from web b\n" in recv_until(nc, b"web b\n")
    assert b"<web-b> from web b\n" in recv_until(course, b"web b\n")
    assert b"<web-b> from web b\n" in udp_until(b"web b\n")
    # members of every transport are listed with their badges
    members = a.locator("#member-list li")
    expect(members).to_have_count(5)
    expect(a.locator("#member-list")).to_contain_text("udp")
    for s in (nc, course, udp):
        s.close()


def test_netcat_xss_line_renders_as_text_and_links_are_safe(page: Page, sockdash: harness.Sockdash) -> None:
    join(page, sockdash, "xss-watcher")
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    xss = "<img src=x onerror=alert(1)>"
    with socket.create_connection((HOST, sockdash.ports["tcp_chat"]), timeout=5) as s:
        recv_until(s, b"/help")
        s.sendall(xss.encode() + b" see http://example.test/a?b=<c>\n")
        item = page.locator("#messages li .text").last
        expect(item).to_contain_text(xss)
    assert page.locator("#messages img").count() == 0 and alerts == []
    link = page.locator("#messages li .text a").last
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("href", "http://example.test/a?b=")


def test_direct_messages_unread_counts_and_rooms(browser: Browser, fresh_sockdash: harness.Sockdash) -> None:
    page = browser.new_context().new_page()
    join(page, fresh_sockdash, "teacher")
    with socket.create_connection((HOST, fresh_sockdash.ports["tcp_chat"]), timeout=5) as s:
        recv_until(s, b"/help")
        s.sendall(b"/nick student\n/msg teacher may I ask something?\n")
        expect(page.get_by_role("button", name="student, 1 unread")).to_be_visible()
        expect(page).to_have_title("(1) sockdash — chat")
        page.get_by_role("button", name="student, 1 unread").click()
        shown(page, "student", "may I ask something?")
        expect(page).to_have_title("sockdash — chat")
        say(page, "of course")
        assert b"(private) <teacher> of course\n" in recv_until(s, b"of course\n")
        # a new room, joined by the TCP client: messages there count as unread in the lobby view
        page.get_by_label("Join or create").fill("lab1")
        page.get_by_role("button", name="Join", exact=True).click()
        expect(page.locator("#conv-title")).to_have_text("#lab1")
        page.get_by_role("button", name="#lobby").click()
        s.sendall(b"/join lab1\nin the lab\n")
        expect(page.get_by_role("button", name="#lab1, 1 unread")).to_be_visible()


def test_history_after_restart_and_a_message_typed_while_disconnected(
        browser: Browser, tmp_path: Path) -> None:
    proc = harness.start(tmp_path)
    ports = proc.ports
    page = browser.new_context().new_page()
    join(page, proc, "keeper")
    say(page, "written before the restart")
    with socket.create_connection((HOST, ports["tcp_chat"]), timeout=5) as s:
        recv_until(s, b"/help")
        s.sendall(b"/nick oldtimer\nnative history line\n")
        shown(page, "oldtimer", "native history line")
    time.sleep(0.8)  # the history is written every 0.5 s
    assert proc.stop() == 0
    expect(page.locator("#live-state")).to_have_attribute("data-state", "offline")
    say(page, "typed while the server was down")
    expect(page.locator("#messages li[data-state=pending]")).to_contain_text("sending")
    argv = ["--http-port", str(ports["http"]), "--tcp-chat-port", str(ports["tcp_chat"]),
            "--udp-chat-port", str(ports["udp_chat"]), "--file-port", str(ports["file"]),
            "--tftp-port", str(ports["tftp"])]
    again = harness.start(tmp_path, ports=argv)
    try:
        expect(page.locator("#live-state")).to_have_text("live", timeout=20_000)
        expect(page.locator("#messages li[data-state=pending]")).to_have_count(0)
        shown(page, "keeper", "typed while the server was down")
        fresh = browser.new_context().new_page()
        join(fresh, again, "newcomer")
        shown(fresh, "keeper", "written before the restart")
        shown(fresh, "oldtimer", "native history line")
        shown(fresh, "keeper", "typed while the server was down")
    finally:
        again.stop()


def test_messages_typed_after_a_reload_are_delivered(page: Page, sockdash: harness.Sockdash) -> None:
    with socket.create_connection((HOST, sockdash.ports["tcp_chat"]), timeout=5) as s:
        recv_until(s, b"/help")
        join(page, sockdash, "reloader")
        say(page, "before the reload")
        recv_until(s, b"before the reload\n")
        page.reload()
        expect(page.locator("#me")).to_have_text("you are reloader")
        say(page, "after the reload")
        assert b"<reloader> after the reload\n" in recv_until(s, b"after the reload\n")
