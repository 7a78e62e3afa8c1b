from pathlib import Path

import pytest

from sockets_core.bus import Bus
from sockets_core.chat.commands import HELP, handle_line
from sockets_core.chat.history import ChatHistory
from sockets_core.chat.hub import CHAT_TOPIC, ChatError, ChatEvent, ChatHub, Member


def member(hub: ChatHub, nick: str, transport: str = "tcp", room: str = "lobby") -> tuple[Member, list[ChatEvent]]:
    inbox: list[ChatEvent] = []
    m = Member(nick, transport, inbox.append, room=room)
    hub.join(m, 0.0)
    return m, inbox


def test_messages_reach_everyone_in_the_room_but_the_author() -> None:
    bus = Bus()
    sub = bus.subscribe([CHAT_TOPIC])
    hub = ChatHub(bus)
    a, a_in = member(hub, "alice")
    b, b_in = member(hub, "bob", "udp")
    c, c_in = member(hub, "carol", "web", room="other")
    hub.say(a, "hello", 1.0)
    assert [e.text for e in b_in if e.kind == "message"] == ["hello"]
    assert not [e for e in a_in if e.kind == "message"] and not [e for e in c_in if e.kind == "message"]
    assert any(item.kind == "message" for _, item in sub.get_batch(timeout=0).items)


def test_nicks_are_unique_across_transports_case_insensitively() -> None:
    hub = ChatHub()
    a, _ = member(hub, "Alice")
    with pytest.raises(ChatError):
        member(hub, "alice", "web")
    b, _ = member(hub, "bob")
    with pytest.raises(ChatError):
        hub.rename(b, "ALICE", 0.0)
    hub.rename(a, "alice2", 0.0)
    hub.rename(b, "alice", 0.0)
    assert hub.find("ALICE") is b


@pytest.mark.parametrize("nick", ["", "has space", "#room", "@x", "/cmd", "x" * 33, "a\x00b"])
def test_bad_nicks_are_refused(nick: str) -> None:
    with pytest.raises(ChatError):
        member(ChatHub(), nick)


def test_join_leave_and_nick_notices() -> None:
    hub = ChatHub()
    a, a_in = member(hub, "alice")
    b, _ = member(hub, "bob")
    hub.switch(b, "#Games", 2.0)
    hub.rename(a, "al", 3.0)
    hub.leave(a, 4.0)
    kinds = [(e.kind, e.nick, e.room) for e in a_in]
    assert kinds == [("join", "bob", "lobby"), ("leave", "bob", "lobby")]
    assert hub.rooms() == {"games": 1, "lobby": 0}
    line = ChatEvent("join", "games", "bob", "tcp", "", 0.0).as_line()
    assert line.endswith("#games * bob (tcp) joined\n")


def test_direct_messages_across_transports() -> None:
    hub = ChatHub()
    a, _ = member(hub, "alice", "tcp")
    b, b_in = member(hub, "bob", "web", room="elsewhere")
    hub.direct(a, "BOB", "psst", 1.0)
    assert [(e.kind, e.nick, e.to, e.text) for e in b_in if e.kind == "dm"] == [("dm", "alice", "bob", "psst")]
    with pytest.raises(ChatError):
        hub.direct(a, "nobody", "x", 1.0)


def test_commands_of_native_clients() -> None:
    hub = ChatHub()
    a, _ = member(hub, "1.2.3.4:5")
    b, b_in = member(hub, "bob")
    assert handle_line(hub, a, "/nick alice\r\n", 0).replies == ["you are now alice"]
    assert handle_line(hub, a, "/who", 0).replies == ["in #lobby: alice (tcp), bob (tcp)"]
    assert handle_line(hub, a, "/me waves", 0).replies == []
    assert b_in[-1].kind == "action" and b_in[-1].as_line().endswith("#lobby * alice waves\n")
    assert handle_line(hub, a, "/msg bob hi there", 0).replies == ["-> bob: hi there"]
    assert b_in[-1].kind == "dm" and b_in[-1].as_line().endswith("(private) <alice> hi there\n")
    assert handle_line(hub, a, "//etc is a path", 0).replies == []
    assert b_in[-1].text == "/etc is a path"
    assert handle_line(hub, a, "/join games", 0).replies == ["you are in #games: alice (tcp)"]
    assert handle_line(hub, a, "/rooms", 0).replies == ["rooms: #games (1), #lobby (1)"]
    assert handle_line(hub, a, "/help", 0).replies == [HELP]
    assert handle_line(hub, a, "/bogus", 0).replies[0].startswith("error: unknown command /bogus")
    assert handle_line(hub, a, "/nick bob", 0).replies == ["error: nick bob is taken"]
    assert handle_line(hub, a, "/msg", 0).replies == ["error: usage: /msg NICK TEXT"]
    for farewell in ("bye", "see you", "/quit", "BYE\r\n"):
        assert handle_line(hub, a, farewell, 0).quit


def test_history_survives_reopening_and_keeps_the_last_200(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    history = ChatHistory(path)
    hub = ChatHub(history=history)
    a, _ = member(hub, "alice")
    for i in range(250):
        hub.say(a, f"m{i}", float(i))
    hub.say(a, "emote", 300.0, action=True)
    history.close()
    reopened = ChatHistory(path)
    recent = reopened.recent("lobby")
    assert len(recent) == 200 and recent[0].text == "m51" and recent[-1].kind == "action"
    assert reopened.recent("elsewhere") == []
    assert reopened.clear("lobby") == 251 and reopened.recent("lobby") == []
    reopened.close()


def test_history_buffers_until_flush(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    history = ChatHistory(path)
    history.add(ChatEvent("message", "lobby", "a", "tcp", "buffered", 1.0))
    other = ChatHistory(path)  # another reader sees only what was flushed
    assert other._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0
    assert history.flush() == 1
    assert other._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1
    history.close()
    other.close()


def test_clear_tells_the_room() -> None:
    hub = ChatHub()
    a, a_in = member(hub, "alice")
    assert hub.clear("lobby", 5.0) == 0
    assert a_in[-1].kind == "clear" and "cleared" in a_in[-1].as_line()


def test_default_nicks_fit_even_for_ipv6_peers() -> None:
    hub = ChatHub()
    assert hub.default_nick("tcp", "127.0.0.1:5000", 5000) == "127.0.0.1:5000"
    long_v6 = "[2001:db8:85a3:8d3:1319:8a2e:370:7348]:54321"
    assert hub.default_nick("tcp", long_v6, 54321) == "tcp-54321"
    member(hub, "tcp-54321")
    assert hub.default_nick("tcp", long_v6, 54321) == "tcp-54321-2"


def test_a_member_that_left_can_neither_rename_nor_enter() -> None:
    hub = ChatHub()
    a, _ = member(hub, "alice")
    hub.leave(a, 1.0)
    with pytest.raises(ChatError):
        hub.rename(a, "bob", 2.0)
    with pytest.raises(ChatError):
        hub.enter(a, "games", 2.0)


def test_clearing_drops_rows_still_pending(tmp_path: Path) -> None:
    history = ChatHistory(tmp_path / "chat.sqlite3")
    history.add(ChatEvent("message", "lobby", "a", "tcp", "pending", 1.0))
    history._pending.append(("lobby", 2.0, "a", "tcp", "message", "kept by a failed flush"))
    history.flush = lambda: 0  # type: ignore[method-assign]  # a flush that failed
    history.clear("lobby")
    assert history._pending == []
