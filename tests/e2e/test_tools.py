"""The admin's socket tools in the browser, against sockdash's own services and test peers."""

import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from playwright.sync_api import Page, expect

from tests import harness
from tests.integration.test_services_live import chat_client, recv_until
from tests.integration.test_websocket_origin import handshake

HOST = "127.0.0.1"


def login(page: Page, proc: harness.Sockdash) -> None:
    page.goto(f"{proc.base_url}/?token={proc.token}")
    page.goto(f"{proc.base_url}/tools")
    expect(page.locator("#live-state")).to_have_text("live")


def session(page: Page, label: str):  # type: ignore[no-untyped-def]
    return page.locator(".session", has=page.locator(".session-title", has_text=label))


def open_server(page: Page, form: str, button: str, label: str) -> int:
    """Open a listening tool; return the port it got."""
    page.locator(form).get_by_role("button", name=button).click()
    title = page.locator(".session-title", has_text=label)
    expect(title).to_have_count(1)
    return int(re.search(r"port (\d+)", title.inner_text()).group(1))  # type: ignore[union-attr]


def send(panel, text: str, *, kind: str = "text", line_ending: str = "none", to: str | None = None,  # type: ignore[no-untyped-def]
         count: int = 1, every_ms: int = 1000) -> None:
    panel.locator("input[name=text]").fill(text)
    panel.locator("select[name=kind]").select_option(kind)
    panel.locator("select[name=line_ending]").select_option(line_ending)
    if to is not None:
        panel.locator(".to input").fill(to)
    panel.locator("input[name=count]").fill(str(count))
    panel.locator("input[name=every_ms]").fill(str(every_ms))
    panel.locator("form.session-send button[type=submit]").click()


def test_visitors_get_neither_the_page_nor_its_websocket(page: Page, sockdash: harness.Sockdash) -> None:
    response = page.goto(f"{sockdash.base_url}/tools")
    assert response is not None and response.status == 403
    expect(page.get_by_role("link", name="Tools")).to_have_count(0)
    head, s = handshake(sockdash, None, "/ws/tools")
    s.close()
    assert head.startswith(b"HTTP/1.1 403")


def test_tcp_client_talks_to_the_chat_and_to_a_test_listener_and_survives_a_reload(
        page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    listener = socket.create_server((HOST, 0))
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            while len(b"".join(received)) < 4 + 6:
                received.append(conn.recv(100))
            conn.sendall(b"pong\xff\r\n")
            time.sleep(1)

    threading.Thread(target=serve, daemon=True).start()
    form = page.locator("#open-tcp-client")
    form.locator("input[name=host]").fill(HOST)
    form.locator("input[name=port]").fill(str(listener.getsockname()[1]))
    form.get_by_role("button", name="Connect").click()
    panel = session(page, f"TCP client to {HOST}:{listener.getsockname()[1]}")
    send(panel, "68 69 0d 0a", kind="hex")
    send(panel, "x\\x00\\xffyz", line_ending="crlf")
    expect(panel.locator(".session-log li", has_text="pong")).to_have_count(1)
    assert b"".join(received) == b"hi\r\nx\x00\xffyz\r\n"
    expect(panel.locator(".session-log li", has_text="pong")).to_contain_text("70 6f 6e 67 ff 0d 0a")
    page.reload()
    expect(session(page, "TCP client to").locator(".session-log li", has_text="pong")).to_have_count(1)
    listener.close()
    # and against sockdash's own TCP chat
    watcher = chat_client(fresh_sockdash, "watcher")
    form.locator("input[name=host]").fill(HOST)  # the reload emptied the form
    form.locator("input[name=port]").fill(str(fresh_sockdash.ports["tcp_chat"]))
    form.get_by_role("button", name="Connect").click()
    chat = session(page, f"TCP client to {HOST}:{fresh_sockdash.ports['tcp_chat']}")
    expect(chat.locator(".session-log li", has_text="welcome to sockdash chat")).to_have_count(1)
    send(chat, "你好 from the tools", line_ending="lf", count=3, every_ms=50)
    data = b""
    while data.count("你好 from the tools".encode()) < 3:
        data += recv_until(watcher, b"tools\n")
    watcher.close()


def test_tcp_server_lists_clients_sends_to_all_and_kicks(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    port = open_server(page, "#open-tcp-server", "Listen", "TCP server on port")
    panel = session(page, "TCP server on port")
    client = socket.create_connection((HOST, port), timeout=5)
    expect(panel.locator(".to-client option")).to_have_count(2)
    client.sendall(b"from a device")
    expect(panel.locator(".session-log li", has_text="from a device")).to_have_count(1)
    send(panel, "to everyone", line_ending="lf")
    assert recv_until(client, b"\n") == b"to everyone\n"
    panel.locator(".to-client select").select_option(index=1)
    panel.get_by_role("button", name="Kick client").click()
    assert client.recv(100) == b""
    client.close()
    # a listener may not take one of sockdash's own ports
    page.locator("#open-tcp-server input[name=port]").fill(str(fresh_sockdash.ports["tcp_chat"]))
    page.locator("#open-tcp-server").get_by_role("button", name="Listen").click()
    expect(page.locator("#tools-error")).to_contain_text("one of sockdash's own services")


def test_udp_listens_replies_and_sends_to_the_udp_chat(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    port = open_server(page, "#open-udp", "Open UDP socket", "UDP on port")
    panel = session(page, "UDP on port")
    device = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    device.settimeout(5)
    device.sendto("状态？".encode("gbk"), (HOST, port))
    expect(panel.locator(".session-log li", has_text="→ in")).to_have_count(1)
    panel.locator("select[name=encoding]").select_option("gbk")
    send(panel, "收到")  # no address: a reply to whoever spoke last
    assert device.recvfrom(100)[0] == "收到".encode("gbk")
    device.close()
    watcher = chat_client(fresh_sockdash, "udpwatch")
    panel.locator("select[name=encoding]").select_option("utf-8")
    send(panel, "hello chat", to=f"{HOST}:{fresh_sockdash.ports['udp_chat']}")
    assert b"hello chat\n" in recv_until(watcher, b"hello chat\n")
    watcher.close()


def test_tftp_client_tool_gets_from_and_puts_to_tftpd_hpa(page: Page, fresh_sockdash: harness.Sockdash,
                                                          tmp_path: Path) -> None:
    binary = shutil.which("in.tftpd") or "/usr/sbin/in.tftpd"
    assert Path(binary).exists(), "tftpd-hpa is missing: run make test"
    peer_root = tmp_path / "peer"
    peer_root.mkdir()
    peer_root.chmod(0o777)
    (peer_root / "switch.cfg").write_bytes(b"hostname sw1\n" * 5000)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    tftpd = subprocess.Popen([binary, "-L", "-s", "-c", "-a", f"{HOST}:{port}", str(peer_root)])
    try:
        time.sleep(0.3)
        login(page, fresh_sockdash)
        form = page.locator("#open-tftp")
        form.locator("input[name=server]").fill(f"{HOST}:{port}")
        form.locator("input[name=remote]").fill("switch.cfg")
        form.locator("input[name=blksize]").fill("1468")
        form.get_by_role("button", name="Start transfer").click()
        expect(page.locator(".session-log li", has_text="done: 65000 bytes")).to_have_count(1)
        expect(page.get_by_role("progressbar", name="Progress of TFTP get switch.cfg")).to_have_attribute("value", "65000")
        assert (fresh_sockdash.root / "switch.cfg").read_bytes() == (peer_root / "switch.cfg").read_bytes()
        form.locator("select[name=action]").select_option("put")
        form.locator("input[name=remote]").fill("uploaded.txt")
        form.locator("input[name=local]").fill("hello.txt")
        form.get_by_role("button", name="Start transfer").click()
        expect(page.locator(".session-log li", has_text="done:")).to_have_count(2)
        assert (peer_root / "uploaded.txt").read_bytes() == (fresh_sockdash.root / "hello.txt").read_bytes()
        # and from sockdash's own TFTP server, windowed
        form.locator("select[name=action]").select_option("get")
        form.locator("input[name=server]").fill(f"{HOST}:{fresh_sockdash.ports['tftp']}")
        form.locator("input[name=remote]").fill("switch.cfg")
        form.locator("input[name=local]").fill("copy.cfg")
        form.locator("input[name=windowsize]").fill("16")
        form.get_by_role("button", name="Start transfer").click()
        expect(page.locator(".session-log li", has_text="done:")).to_have_count(3)
        assert (fresh_sockdash.root / "copy.cfg").read_bytes() == (peer_root / "switch.cfg").read_bytes()
    finally:
        tftpd.terminate()
        tftpd.wait(5)


def test_auto_responses_for_the_udp_chat_and_a_tool_server(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    page.locator("#autoreply-target").select_option("udp_chat")
    page.get_by_label("Rules").fill("any => 收到")
    page.get_by_role("button", name="Save rules").click()
    expect(page.locator("#autoreply-status")).to_have_text("saved")
    course = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # seed 002's UDP client
    course.settimeout(5)
    course.sendto(b"hello", (HOST, fresh_sockdash.ports["udp_chat"]))
    assert course.recv(1024).decode("utf-8") == "收到"
    course.close()
    port = open_server(page, "#open-tcp-server", "Listen", "TCP server on port")
    title = page.locator(".session-title", has_text="TCP server on port")
    page.locator("#autoreply-target").select_option(label=title.inner_text())
    page.get_by_label("Rules").fill("contains ping => pong to {peer}\nregex ( => broken")
    page.get_by_role("button", name="Save rules").click()
    expect(page.locator("#tools-error")).to_contain_text("bad regex")
    page.get_by_label("Rules").fill("contains ping => pong to {peer}")
    page.get_by_role("button", name="Save rules").click()
    expect(page.locator("#autoreply-status")).to_have_text("saved")
    with socket.create_connection((HOST, port), timeout=5) as device:
        device.sendall(b"ping\r\n")
        assert recv_until(device, b"pong").startswith(b"pong to 127.0.0.1:")
