"""The chat's commands for a client in one room (TCP, UDP) and in several (a browser), the ids
of messages, and the direct messages kept for a browser tab's reload."""

from pathlib import Path

import pytest

from sockets_core.chat.commands import WEB_HELP, handle_line, run_command
from sockets_core.chat.history import ChatHistory
from sockets_core.chat.hub import ChatError, ChatEvent, ChatHub, Member
from sockets_core.chat.presence import ID_SLOTS
from sockets_core.chat.private import ENTRY_OVERHEAD, PrivateMessages


def member(hub: ChatHub, nick: str, transport: str = "tcp") -> tuple[Member, list[ChatEvent]]:
    inbox: list[ChatEvent] = []
    m = Member(nick, transport, inbox.append)
    hub.join(m, 0.0)
    return m, inbox


def test_a_native_client_leaves_a_room_for_the_lobby_and_cannot_leave_the_lobby() -> None:
    hub = ChatHub()
    a, _ = member(hub, "alice")
    _, b_in = member(hub, "bob")
    handle_line(hub, a, "/join games", 1.0)
    assert handle_line(hub, a, "/leave", 2.0).replies == ["you left #games; you are in #lobby: alice (tcp), bob (tcp)"]
    assert a.rooms == {"lobby"} and [(e.kind, e.room) for e in b_in][-1] == ("join", "lobby")
    assert handle_line(hub, a, "/leave", 3.0).replies[0].startswith("error: you are in #lobby, where everyone starts")
    assert handle_line(hub, a, "/leave games", 3.0).replies == ["error: you are not in #games"]
    assert handle_line(hub, a, "/who games", 3.0).replies == ["in #games: nobody"]
    assert handle_line(hub, a, "/join", 3.0).replies == ["error: usage: /join ROOM"]
    assert handle_line(hub, a, "/" + "x" * 5000, 3.0).replies[0].startswith("error: unknown command /" + "x" * 39 + ";")


def test_a_browser_joins_rooms_besides_its_own_and_leaves_the_one_it_typed_in() -> None:
    hub = ChatHub()
    web, _ = member(hub, "wendy", "web")
    _, b_in = member(hub, "bob")
    assert run_command(hub, web, "/join lab", 1.0, room="lobby", several_rooms=True).entered == "lab"
    assert web.rooms == {"lobby", "lab"}  # a native /join would have left the lobby
    assert run_command(hub, web, "/who", 1.0, room="lab", several_rooms=True).replies == ["in #lab: wendy (web)"]
    action = run_command(hub, web, "/me waves", 1.0, room="lobby", several_rooms=True).event
    assert action is not None and action.room == "lobby" and b_in[-1] is action
    left = run_command(hub, web, "/leave", 2.0, room="lobby", several_rooms=True)
    assert left.left == "lobby" and left.entered is None and web.rooms == {"lab"}
    assert run_command(hub, web, "/help", 2.0, room="lab", several_rooms=True).replies == [WEB_HELP]
    with pytest.raises(ChatError, match="private conversation: use /me in a room"):
        run_command(hub, web, "/me waves", 2.0, room=None, several_rooms=True)
    with pytest.raises(ChatError, match="unknown command /quit"):  # a tab leaves by closing; 'bye' is a message
        run_command(hub, web, "/quit", 2.0, room="lab", several_rooms=True)
    dm = run_command(hub, web, "/msg BOB hi bob", 3.0, room=None, several_rooms=True)
    assert dm.replies == ["-> bob: hi bob"] and dm.event is not None and b_in[-1] is dm.event


def test_message_ids_rise_across_a_restart_even_after_the_history_was_cleared(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    history = ChatHistory(path)
    hub = ChatHub(history=history)
    a, _ = member(hub, "alice")
    ids = [hub.say(a, f"m{i}", 1_000.0).id for i in range(3)]
    # the time in ms, then one more each, times ID_SLOTS plus this instance's slot (0 alone)
    assert ids == [1_000_000 * ID_SLOTS, 1_000_001 * ID_SLOTS, 1_000_002 * ID_SLOTS]
    assert hub.direct(a, "alice", "note to self", 1_000.0).id == 1_000_003 * ID_SLOTS  # direct messages too
    assert [e.id for e in history.recent("lobby")] == ids  # stored under their ids
    history.close()
    reopened = ChatHistory(path)
    # a clock behind: still above what is stored
    assert ChatHub(history=reopened)._new_id(10.0) == 1_000_003 * ID_SLOTS
    reopened.clear("lobby")
    assert ChatHub(history=reopened)._new_id(2_000.0) == 2_000_000 * ID_SLOTS  # a cleared store: the clock
    reopened.close()


def test_a_message_of_several_lines_is_a_line_each_for_native_clients() -> None:
    event = ChatEvent("message", "lobby", "web1", "web", "one\n  two", 0.0)
    assert [line.split(" ", 1)[1] for line in event.as_line().splitlines()] == ["#lobby <web1> one",
                                                                               "#lobby <web1>   two"]
    dm = ChatEvent("dm", "", "web1", "web", "a\nb", 0.0, to="bob")
    assert dm.as_line().count("(private) <web1> ") == 2


def dm(n: int, text: str = "x", nick: str = "bob") -> ChatEvent:
    return ChatEvent("dm", "", nick, "tcp", text, float(n), to="tab-owner", id=n + 1)


def test_private_messages_are_kept_per_tab_bounded_in_count_bytes_and_time() -> None:
    # three short messages of tab1, then 3,500 characters each for tab2 and tab3: one byte too many
    bound = 3 * (1 + 3 + 3 + ENTRY_OVERHEAD) + (3_500 + 5 + 5 + ENTRY_OVERHEAD) + (3_500 + 4 + 4 + ENTRY_OVERHEAD) - 1
    kept = PrivateMessages(per_client=3, max_bytes=bound, ttl=100.0)
    for n in range(5):
        assert kept.add("tab1", "bob", dm(n), float(n)) is None
    assert [e.id for _, e in kept.replay("tab1", 5.0)] == [3, 4, 5]  # the last three
    assert kept.replay("tab2", 5.0) == []  # another tab sees none of them
    # the byte bound: the tab used least recently goes, and how long ago it was used is told
    assert kept.add("tab2", "carol", dm(10, "y" * 3_500, "carol"), 50.0) is None
    idle = kept.add("tab3", "dave", dm(11, "z" * 3_500, "dave"), 60.0)
    assert idle == pytest.approx(55.0) and kept.replay("tab1", 60.0) == [] and len(kept) == 2
    assert kept.size <= bound
    # a tab unused for the ttl is forgotten
    assert kept.replay("tab2", 200.0) == [] and kept.replay("tab3", 200.0) == [] and kept.size == 0


def test_a_message_to_oneself_is_kept_once() -> None:
    kept = PrivateMessages()
    event = dm(1, nick="me")
    kept.add("tab", "me", event, 1.0)
    kept.add("tab", "me", event, 1.0)  # sent and received by the same tab
    assert len(kept.replay("tab", 2.0)) == 1
