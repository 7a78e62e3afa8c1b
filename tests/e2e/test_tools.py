"""The admin's socket tools in the browser, against sockdash's own services and test peers."""

import json
import re
import socket
import threading
from pathlib import Path

from playwright.sync_api import Page, WebSocketRoute, expect

from tests import harness, wsclient
from tests.e2e.pages import log_lines, open_server, send, session
from tests.harness import chat_client, recv_until

HOST = "127.0.0.1"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def login(page: Page, proc: harness.Sockdash) -> None:
    page.goto(f"{proc.base_url}/?token={proc.token}")
    page.goto(f"{proc.base_url}/tools")
    expect(page.locator("#live-state")).to_have_text("live")


def udp_device() -> socket.socket:
    device = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    device.bind((HOST, 0))
    device.settimeout(5)
    return device


def test_visitors_get_a_page_that_says_what_to_do_and_no_websocket(page: Page, sockdash: harness.Sockdash) -> None:
    response = page.goto(f"{sockdash.base_url}/tools")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="The Tools page is for the admin")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()  # the dashboard's own look and menu
    expect(page.locator("main").get_by_role("link", name="Chat")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Admin:")
    expect(page.get_by_role("link", name="Tools")).to_have_count(0)
    with wsclient.connect("127.0.0.1", sockdash.ports["http"], "/ws/tools") as ws:
        assert ws.status == 403


def test_tcp_client_talks_to_the_chat_and_to_a_test_listener_and_survives_a_reload(
        page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    listener = socket.create_server((HOST, 0))
    received: list[bytes] = []
    checked = threading.Event()  # the page showed the reply, before and after a reload

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            while len(b"".join(received)) < 4 + 6:
                received.append(conn.recv(100))
            conn.sendall(b"pong\xff\r\n")
            checked.wait(30)  # the connection stays open while the page is checked

    threading.Thread(target=serve, daemon=True).start()
    form = page.locator("#open-tcp-client")
    form.locator("input[name=host]").fill(HOST)
    form.locator("input[name=port]").fill(str(listener.getsockname()[1]))
    form.get_by_role("button", name="Connect").click()
    panel = session(page, f"TCP client to {HOST}:{listener.getsockname()[1]}")
    send(panel, "68 69 0d 0a", kind="hex")
    send(panel, "x\\x00\\xffyz", line_ending="crlf")
    expect(log_lines(panel, "pong")).to_have_count(1)
    assert b"".join(received) == b"hi\r\nx\x00\xffyz\r\n"
    expect(log_lines(panel, "pong")).to_contain_text("70 6f 6e 67 ff 0d 0a")
    page.reload()
    expect(log_lines(session(page, "TCP client to"), "pong")).to_have_count(1)
    checked.set()
    listener.close()
    # and against sockdash's own TCP chat
    watcher = chat_client(fresh_sockdash, "watcher")
    form.locator("input[name=host]").fill(HOST)  # the reload emptied the form
    form.locator("input[name=port]").fill(str(fresh_sockdash.ports["tcp_chat"]))
    form.get_by_role("button", name="Connect").click()
    chat = session(page, f"TCP client to {HOST}:{fresh_sockdash.ports['tcp_chat']}")
    expect(log_lines(chat, "welcome to sockdash chat")).to_have_count(1)
    expect(chat.locator(".session-log li").first).to_contain_text("connected")  # the connect, then what came
    send(chat, "你好 from the tools", line_ending="lf", repeat=(50, 3))
    data = b""
    while data.count("你好 from the tools".encode()) < 3:
        data += recv_until(watcher, b"tools\n")
    watcher.close()


def test_tcp_server_lists_clients_sends_to_all_and_kicks(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    port = open_server(page, "#open-tcp-server", "Listen", "TCP server on port")
    panel = session(page, "TCP server on port")
    client = socket.create_connection((HOST, port), timeout=5)
    expect(panel.locator("select[name=client] option")).to_have_count(2)
    client.sendall(b"from a device")
    expect(log_lines(panel, "from a device")).to_have_count(1)
    send(panel, "to everyone", line_ending="lf")
    assert recv_until(client, b"\n") == b"to everyone\n"
    panel.locator("select[name=client]").select_option(index=1)
    panel.get_by_role("button", name=re.compile("^Kick client")).click()
    assert client.recv(100) == b""
    client.close()
    expect(panel.locator("select[name=client] option")).to_have_count(1)


def test_udp_listens_replies_and_sends_to_the_udp_chat(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    port = open_server(page, "#open-udp", "Open UDP socket", "UDP on port")
    panel = session(page, "UDP on port")
    device = udp_device()
    device.sendto("状态？".encode("gbk"), (HOST, port))
    expect(log_lines(panel, "→\u00a0in")).to_have_count(1)
    panel.get_by_label("Encoding").select_option("gbk")
    send(panel, "收到")  # no address: a reply to whoever spoke last, in the session's encoding
    assert device.recvfrom(100)[0] == "收到".encode("gbk")
    device.close()
    watcher = chat_client(fresh_sockdash, "udpwatch")
    panel.get_by_label("Encoding").select_option("utf-8")
    send(panel, "hello chat", to=f"{HOST}:{fresh_sockdash.ports['udp_chat']}")
    assert b"hello chat\n" in recv_until(watcher, b"hello chat\n")
    watcher.close()


def test_the_log_shows_text_in_the_sessions_encoding_and_keeps_it_after_a_reload(
        page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    port = open_server(page, "#open-udp", "Open UDP socket", "UDP on port")
    panel = session(page, "UDP on port")
    device = udp_device()
    device.sendto("状态？温度 21℃".encode("gbk"), (HOST, port))  # a Windows course script's encode('gbk')
    line = log_lines(panel, "→\u00a0in").locator(".text")
    expect(line).to_have_count(1)
    expect(line).not_to_have_text("状态？温度 21℃")  # UTF-8 is the default: GBK bytes are not text in it
    panel.get_by_label("Encoding").select_option("gbk")
    expect(line).to_have_text("状态？温度 21℃")
    send(panel, "收到")  # sent in the session's encoding; and the page's requests are handled in order
    assert device.recvfrom(100)[0] == "收到".encode("gbk")
    expect(log_lines(panel, "←\u00a0out").locator(".text")).to_have_text("收到")
    page.reload()
    panel = session(page, "UDP on port")
    expect(panel.get_by_label("Encoding")).to_have_value("gbk")  # the session keeps its encoding
    expect(log_lines(panel, "→\u00a0in").locator(".text")).to_have_text("状态？温度 21℃")
    device.sendto("第二条".encode("gbk"), (HOST, port))
    expect(log_lines(panel, "第二条")).to_have_count(1)
    device.close()


def test_tftp_and_closed_sessions_show_no_send_form(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    form = page.locator("#open-tftp")
    form.locator("input[name=server]").fill(f"{HOST}:{fresh_sockdash.ports['tftp']}")
    form.locator("input[name=remote]").fill("hello.txt")
    form.locator("input[name=local]").fill("copy.txt")
    form.get_by_role("button", name="Start transfer").click()
    job = session(page, "TFTP get hello.txt")
    expect(log_lines(job, "done:")).to_have_count(1)
    expect(job.locator("form.session-send")).to_be_hidden()
    expect(job.get_by_role("button", name=re.compile("^Send"))).to_have_count(0)
    listener = socket.create_server((HOST, 0))
    client_form = page.locator("#open-tcp-client")
    client_form.locator("input[name=host]").fill(HOST)
    client_form.locator("input[name=port]").fill(str(listener.getsockname()[1]))
    client_form.get_by_role("button", name="Connect").click()
    panel = session(page, "TCP client to")
    expect(panel.locator("form.session-send")).to_be_visible()
    conn, _ = listener.accept()
    conn.close()  # the peer ends the connection
    listener.close()
    expect(log_lines(panel, "closed by the peer")).to_have_count(1)
    expect(panel.locator(".session-state")).to_have_text("closed")
    expect(panel.locator("form.session-send")).to_be_hidden()
    expect(panel.get_by_role("button", name=re.compile("^Remove"))).to_be_visible()


def deliver_the_start_with_what_follows(route: WebSocketRoute) -> None:
    """Between /ws/tools and the page: the batch with a TFTP job's "started" is held and
    delivered in one batch with the next, as a busy server sends them when the job fails
    before the feed's next flush."""
    server = route.connect_to_server()
    held: list[dict] = []  # type: ignore[type-arg]

    def from_server(message: str | bytes) -> None:
        data = json.loads(message)
        if data.get("type") == "updates":
            if not held and any(u.get("event", {}).get("info") == "started" for u in data["updates"]):
                held.extend(data["updates"])
                return
            data = {**data, "updates": [*held, *data["updates"]]}
            held.clear()
        route.send(json.dumps(data))

    server.on_message(from_server)


def test_a_failed_tftp_job_lists_started_before_failed(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    page.route_web_socket(re.compile(r"/ws/tools$"), deliver_the_start_with_what_follows)
    login(page, fresh_sockdash)
    form = page.locator("#open-tftp")
    form.locator("input[name=server]").fill(f"{HOST}:{fresh_sockdash.ports['tftp']}")
    form.locator("input[name=remote]").fill("no-such-file.bin")
    form.get_by_role("button", name="Start transfer").click()  # sockdash answers ERROR 1 at once
    job = session(page, "TFTP get no-such-file.bin")
    expect(job.locator(".session-log li")).to_have_text(
        [re.compile("started"), re.compile("failed: .*not found", re.IGNORECASE)])
    page.reload()
    expect(session(page, "TFTP get no-such-file.bin").locator(".session-log li")).to_have_text(
        [re.compile("started"), re.compile("failed")])


def test_a_new_session_opens_in_view_with_its_data_field_focused(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        login(page, fresh_sockdash)
        page.locator("#open-udp").get_by_role("button", name="Open UDP socket").click()
        expect(page.locator(".session")).not_to_have_count(0)
        newest = page.locator(".session").first
        expect(newest.locator(".session-title")).to_have_text(re.compile("UDP on port"))
        expect(newest.locator(".session-head")).to_be_in_viewport()
        expect(newest.get_by_label("Data")).to_be_focused()
        expect(newest.get_by_label("Data")).to_be_in_viewport()
    page.keyboard.type("typed at once")
    expect(page.locator(".session").first.get_by_label("Data")).to_have_value("typed at once")


def test_errors_show_next_to_their_form_and_go_when_fixed(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    rules_form = page.locator("#autoreply-form")
    status = page.locator("#autoreply-status")
    page.locator("#autoreply-target").select_option("udp_chat")
    page.get_by_label("Rules").fill("any => 收到")
    page.get_by_role("button", name="Save rules").click()
    expect(status).to_have_text("saved")
    page.get_by_label("Rules").fill("regex ( => broken")
    page.get_by_role("button", name="Save rules").click()
    expect(rules_form.get_by_role("alert")).to_contain_text("bad regex")
    expect(status).to_have_text("")  # no stale "saved" next to a refused save
    page.get_by_label("Rules").fill("no arrow here")  # refused by the page before it is sent
    page.get_by_role("button", name="Save rules").click()
    expect(rules_form.get_by_role("alert")).to_contain_text("write MATCH [PATTERN] => REPLY")
    page.get_by_label("Rules").fill("contains ping => pong")
    page.get_by_role("button", name="Save rules").click()
    expect(status).to_have_text("saved")
    expect(rules_form.get_by_role("alert")).to_have_text("")
    page.locator("#autoreply-target").select_option("tcp_chat")
    expect(status).to_have_text("")  # "saved" was about the UDP chat's rules
    # a listener may not take one of sockdash's own ports: said next to Listen, gone after a good try
    server_form = page.locator("#open-tcp-server")
    server_form.locator("input[name=port]").fill(str(fresh_sockdash.ports["tcp_chat"]))
    server_form.get_by_role("button", name="Listen").click()
    expect(server_form.get_by_role("alert")).to_contain_text("one of sockdash's own services")
    expect(page.locator("#open-udp").get_by_role("alert")).to_have_text("")
    server_form.locator("input[name=port]").fill("0")
    server_form.get_by_role("button", name="Listen").click()
    expect(page.locator(".session-title", has_text="TCP server on port")).to_have_count(1)
    expect(server_form.get_by_role("alert")).to_have_text("")
    expect(page.locator("#tools-error")).to_have_text("")
    # a send refused by the server: said in that session's pane
    panel = session(page, "TCP server on port")
    send(panel, "nobody is connected")
    expect(panel.get_by_role("alert")).to_have_text("no client is connected")
    send(panel, "bad \\q escape")
    expect(panel.get_by_role("alert")).to_contain_text("bad escape at position 4")


def test_display_toggles_counters_and_clear(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    port = open_server(page, "#open-udp", "Open UDP socket", "UDP on port")
    panel = session(page, "UDP on port")
    device = udp_device()
    device.sendto(b"hi\r\n", (HOST, port))
    device.sendto(b"\x01\x02", (HOST, port))
    first = log_lines(panel, "→\u00a0in").first
    expect(first.locator(".text")).to_have_text("hi")
    expect(first.locator(".hex")).to_be_hidden()  # text only, as NetAssist starts
    expect(first.locator(".time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$"))
    panel.get_by_label("Hex", exact=True).check()
    expect(first.locator(".hex")).to_be_visible()
    expect(first.locator(".hex")).to_have_text("68 69 0d 0a")
    expect(first.locator(".length")).to_have_text("4 B")
    panel.get_by_label("Text", exact=True).uncheck()
    expect(first.locator(".text")).to_be_hidden()
    panel.get_by_label("Time", exact=True).uncheck()
    expect(first.locator(".time")).to_be_hidden()
    expect(panel.locator(".rx")).to_have_text("RX 6 B (2)")
    send(panel, "ok")
    expect(panel.locator(".tx")).to_have_text("TX 2 B (1)")
    assert device.recvfrom(10)[0] == b"ok"
    page.reload()  # the toggles chosen last are the next pane's; the counters are the server's
    panel = session(page, "UDP on port")
    expect(panel.get_by_label("Hex", exact=True)).to_be_checked()
    expect(panel.get_by_label("Text", exact=True)).not_to_be_checked()
    expect(panel.locator(".rx")).to_have_text("RX 6 B (2)")
    panel.get_by_role("button", name=re.compile("^Clear log and counters")).click()
    expect(panel.locator(".session-log li")).to_have_count(0)
    expect(panel.locator(".rx")).to_have_text("RX 0 B (0)")
    expect(panel.locator(".tx")).to_have_text("TX 0 B (0)")
    page.reload()
    panel = session(page, "UDP on port")
    expect(panel.locator(".rx")).to_have_text("RX 0 B (0)")
    expect(panel.locator(".session-log li")).to_have_count(0)
    device.sendto(b"new", (HOST, port))
    expect(panel.locator(".rx")).to_have_text("RX 3 B (1)")
    device.close()


def test_repeat_is_an_explicit_switch_and_can_be_stopped(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    open_server(page, "#open-udp", "Open UDP socket", "UDP on port")
    panel = session(page, "UDP on port")
    device = udp_device()
    target = f"{HOST}:{device.getsockname()[1]}"
    expect(panel.locator("input[name=count]")).to_be_hidden()  # off: a send is one send
    send(panel, "once", to=target)
    expect(panel.locator(".tx")).to_have_text("TX 4 B (1)")
    send(panel, "tick", to=target, repeat=(20, 10_000))
    stop = panel.get_by_role("button", name=re.compile("^Stop repeating"))
    expect(stop).to_be_visible()
    expect(log_lines(panel, "tick")).not_to_have_count(0)
    stop.click()
    expect(stop).to_be_hidden()
    expect(log_lines(panel, "stopped 1 repeat")).to_have_count(1)
    sent = int(re.search(r"\((\d+)\)", panel.locator(".tx").inner_text()).group(1))  # type: ignore[union-attr]
    send(panel, "last", to=target)  # the repeat is over: this is the only send still to come
    expect(panel.locator(".tx")).to_have_text(re.compile(rf"\({sent + 1}\)$"))
    send(panel, "tock", to=target, repeat=(20, 10_000))
    expect(stop).to_be_visible()
    panel.get_by_role("switch", name="Repeat").uncheck()  # switching it off stops it
    expect(stop).to_be_hidden()
    expect(log_lines(panel, "stopped 1 repeat")).to_have_count(2)
    device.close()


def test_a_closed_udp_port_is_reported_at_once(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    open_server(page, "#open-udp", "Open UDP socket", "UDP on port")
    panel = session(page, "UDP on port")
    port = harness.free_udp_port()  # bound and closed: nothing listens
    send(panel, "anyone there?", to=f"{HOST}:{port}")
    expect(log_lines(panel, "port unreachable")).to_have_text(
        re.compile(f"nothing listens on {HOST}:{port}"), timeout=1000)  # the ICMP answer, not a timeout


def test_tftp_client_tool_gets_from_and_puts_to_tftpd_hpa(page: Page, fresh_sockdash: harness.Sockdash,
                                                          tftpd_hpa: tuple[int, Path]) -> None:
    port, peer_root = tftpd_hpa
    (peer_root / "switch.cfg").write_bytes(b"hostname sw1\n" * 5000)
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
    page.get_by_label("Rules").fill("contains ping => pong to {peer}")
    page.get_by_role("button", name="Save rules").click()
    expect(page.locator("#autoreply-status")).to_have_text("saved")
    expect(page.get_by_label("Rules")).to_have_value("contains ping => pong to {peer}")
    with socket.create_connection((HOST, port), timeout=5) as device:
        device.sendall(b"ping\r\n")
        assert recv_until(device, b"pong").startswith(b"pong to 127.0.0.1:")
