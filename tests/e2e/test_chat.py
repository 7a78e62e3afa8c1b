"""The chat in the browser, meeting netcat, the course's scripts and UDP clients."""

import socket
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests import harness
from tests.e2e.pages import join, notice, say, shown
from tests.harness import chat_client, recv_until

HOST = "127.0.0.1"


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
    assert f"<{course_nick}> 课程脚本：你好\n".encode() in recv_until(nc, "你好\n".encode())
    assert f"<{course_nick}> 课程脚本：你好\n".encode() in udp_until("你好\n".encode())

    say(a, "from web a, 中文 too")
    shown(b, "web-a", "from web a, 中文 too")
    assert "<web-a> from web a, 中文 too\n".encode() in recv_until(nc, b"too\n")
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
    assert "<udp-user> 来自UDP\n".encode() in recv_until(nc, b"UDP\n")
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
        # a line says where the connection came back; what the page had is not shown twice
        divider = page.locator("#messages li.reconnected")
        expect(divider).to_have_count(1)
        expect(divider).to_contain_text("reconnected at")
        expect(page.locator("#messages li.message", has_text="native history line")).to_have_count(1)
        expect(page.locator("#messages li.message", has_text="written before the restart")).to_have_count(1)
        expect(page.locator("#messages li.reconnected + li")).to_contain_text("typed while the server was down")
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


# -- issue #11, second pass: commands, private messages after a reload, a new nick ------------------
def test_slash_commands_typed_in_the_page_are_commands_not_messages(
        browser: Browser, fresh_sockdash: harness.Sockdash) -> None:
    """Bug 2: /msg, /nick, /join, /who typed in the page went to the whole room and its history."""
    proc = fresh_sockdash
    page, watcher = browser.new_context().new_page(), browser.new_context().new_page()
    join(page, proc, "typist")
    join(watcher, proc, "watcher")
    alice = chat_client(proc, "alice")
    try:
        say(page, "/msg alice just between us")
        assert b"(private) <typist> just between us\n" in recv_until(alice, b"between us\n")
        notice(page, "-> alice: just between us")
        expect(page.locator("#dm-list")).to_contain_text("alice")
        say(page, "/who")
        notice(page, "in #lobby: alice (tcp), typist (web), watcher (web)")
        say(page, "/bogus")
        expect(page.locator("#messages li.notice.error").last).to_contain_text("unknown command /bogus")
        say(page, "/join lab7")
        expect(page.locator("#conv-title")).to_have_text("#lab7")
        say(page, "/nick typist2")
        expect(page.locator("#me")).to_have_text("you are typist2")
        say(page, "/me waves in the lab")
        shown(page, "typist2", "waves in the lab")
        page.get_by_role("button", name="#lobby", exact=True).click()
        say(page, "//etc/hosts is a path")
        heard = recv_until(alice, b"is a path\n").decode()
        assert "<typist2> /etc/hosts is a path\n" in heard and "typist is now known as typist2" in heard
        for command in ("/who", "/bogus", "/join", "/nick", "/msg", "waves in the lab"):
            assert command not in heard, command
        shown(watcher, "typist2", "/etc/hosts is a path")
        for command in ("/who", "/bogus", "/join", "/nick", "/msg", "between us"):
            expect(watcher.locator("#messages")).not_to_contain_text(command)
        late = browser.new_context().new_page()  # and the history has none of them
        join(late, proc, "late")
        shown(late, "typist2", "/etc/hosts is a path")
        expect(late.locator("#messages li.message")).to_have_count(1)
    finally:
        alice.close()


def test_private_messages_are_still_there_after_a_reload(browser: Browser, sockdash: harness.Sockdash) -> None:
    """Bug 9: the conversation with someone vanished on reload."""
    page = browser.new_context().new_page()
    join(page, sockdash, "reader9")
    with chat_client(sockdash, "writer9") as writer:
        writer.sendall(b"/msg reader9 are you there?\n")
        page.get_by_role("button", name="writer9, 1 unread").click()
        shown(page, "writer9", "are you there?")
        say(page, "yes, here")
        assert b"(private) <reader9> yes, here\n" in recv_until(writer, b"here\n")
        expect(page.locator("#messages li[data-state]")).to_have_count(0)  # acked
        page.reload()
        expect(page.locator("#me")).to_have_text("you are reader9")
        expect(page.locator("#conv-title")).to_have_text("private: writer9")  # back where it was
        shown(page, "writer9", "are you there?")
        shown(page, "reader9", "yes, here")
        expect(page.locator("#messages li.message")).to_have_count(2)  # once each
        writer.sendall(b"/msg reader9 still here after your reload?\n")
        shown(page, "writer9", "still here after your reload?")
    other = browser.new_context().new_page()  # another browser has its own conversations
    join(other, sockdash, "reader9b")
    expect(other.locator("#dm-list li")).to_have_count(0)


def test_the_nick_can_be_changed_after_joining(page: Page, sockdash: harness.Sockdash) -> None:
    """Bug 9: there was no way to change nick after joining."""
    with chat_client(sockdash, "holder9") as holder:
        join(page, sockdash, "before9")
        page.get_by_role("button", name="Change nick").click()
        page.get_by_label("New nick").fill("holder9")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#rename-error")).to_have_text("nick holder9 is taken")
        page.get_by_label("New nick").fill("after9")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#me")).to_have_text("you are after9")
        expect(page.get_by_label("New nick")).to_be_hidden()
        assert b"before9 is now known as after9" in recv_until(holder, b"after9")
        page.reload()  # the browser remembers the new nick
        expect(page.locator("#me")).to_have_text("you are after9")
        say(page, "renamed and reloaded")
        assert b"<after9> renamed and reloaded\n" in recv_until(holder, b"reloaded\n")
