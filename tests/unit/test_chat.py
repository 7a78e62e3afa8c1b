import json
from pathlib import Path

import pytest

from sockets_core.bus import Bus
from sockets_core.chat.commands import HELP, handle_line
from sockets_core.chat.history import PENDING_BYTES, ChatHistory
from sockets_core.chat.hub import CHAT_TOPIC, ChatError, ChatEvent, ChatHub, Member
from sockets_core.chat.limits import ChatLimits, RecentIds


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
    _b, b_in = member(hub, "bob", "udp")
    _c, c_in = member(hub, "carol", "web", room="other")
    hub.say(a, "hello", 1.0)
    assert [e.text for e in b_in if e.kind == "message"] == ["hello"]
    assert not [e for e in a_in if e.kind == "message"] and not [e for e in c_in if e.kind == "message"]
    # on the bus as a JSON-able dict (what a Redis bus carries between instances)
    said = [item for _, item in sub.get_batch(timeout=0).items if item["kind"] == "message"]
    assert said == [json.loads(json.dumps(said[0]))] and said[0]["instance"] == "local"


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
    _b, b_in = member(hub, "bob", "web", room="elsewhere")
    hub.direct(a, "BOB", "psst", 1.0)
    assert [(e.kind, e.nick, e.to, e.text) for e in b_in if e.kind == "dm"] == [("dm", "alice", "bob", "psst")]
    with pytest.raises(ChatError):
        hub.direct(a, "nobody", "x", 1.0)


def test_commands_of_native_clients() -> None:
    hub = ChatHub()
    a, _ = member(hub, "1.2.3.4:5")
    _b, b_in = member(hub, "bob")
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
    _a, a_in = member(hub, "alice")
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
    history._pending.append((None, "lobby", 2.0, "a", "tcp", "message", "kept by a failed flush"))
    history.flush = lambda: 0  # type: ignore[method-assign]  # a flush that failed
    history.clear("lobby")
    assert history._pending == []


# -- nothing grows without bound (issue #10 item 4) ------------------------------------------------
def limited_hub(history: ChatHistory | None = None, **limits: float) -> ChatHub:
    return ChatHub(history=history, limits=ChatLimits(**limits))  # type: ignore[arg-type]


def test_an_empty_room_expires_after_its_ttl_but_never_the_lobby_or_an_occupied_room() -> None:
    hub = limited_hub(room_ttl=60)
    a, _ = member(hub, "alice")
    b, _ = member(hub, "bob")
    hub.switch(a, "games", 10.0)
    hub.switch(b, "quiet", 10.0)
    hub.switch(a, "lobby", 20.0)  # games empty since 20
    assert hub.rooms() == {"games": 0, "lobby": 1, "quiet": 1}
    hub.expire(80.0)
    assert "games" in hub.rooms()  # 60 s, not more
    hub.expire(80.5)
    assert hub.rooms() == {"lobby": 1, "quiet": 1}
    hub.leave(a, 100.0)
    hub.expire(10_000.0)
    assert hub.rooms() == {"lobby": 0, "quiet": 1}


def test_a_join_refreshes_the_room_list_without_a_timer() -> None:
    hub = limited_hub(room_ttl=60)
    a, _ = member(hub, "alice")
    hub.switch(a, "games", 0.0)
    hub.switch(a, "lobby", 1.0)
    version = hub.rooms_version
    hub.switch(a, "chess", 500.0)  # any join expires what is due
    assert hub.rooms() == {"chess": 1, "lobby": 0} and hub.rooms_version != version


def test_an_expired_room_shows_its_history_when_reopened(tmp_path: Path) -> None:
    history = ChatHistory(tmp_path / "chat.sqlite3")
    hub = limited_hub(history, room_ttl=60)
    a, _ = member(hub, "alice")
    hub.switch(a, "games", 0.0)
    hub.say(a, "remember me", 1.0)
    hub.switch(a, "lobby", 2.0)
    hub.expire(1_000.0)
    assert "games" not in hub.rooms()
    b, _ = member(hub, "bob")
    hub.switch(b, "games", 1_001.0)
    assert [e.text for e in history.recent("games")] == ["remember me"]
    history.close()


def test_a_client_has_at_most_n_rooms_and_is_told_why() -> None:
    hub = limited_hub(rooms_per_client=3, room_ttl=60)
    a, _ = member(hub, "alice")
    for room in ("r1", "r2", "r3"):  # each /join leaves an empty room it opened behind
        assert handle_line(hub, a, f"/join {room}", 0.0).replies[0].startswith(f"you are in #{room}")
    reply = handle_line(hub, a, "/join r4", 0.0).replies[0]
    assert reply.startswith("error: you opened 3 rooms that are still open, the limit") and "60 s" in reply
    assert a.room == "r3" and a.rooms == {"r3"}  # a refused /join leaves the client where it was
    assert set(hub.rooms()) == {"lobby", "r1", "r2", "r3"}
    assert handle_line(hub, a, "/join lobby", 0.0).replies[0].startswith("you are in #lobby")  # existing: fine
    assert handle_line(hub, a, "/join r1", 0.0).replies[0].startswith("you are in #r1")
    hub.switch(a, "lobby", 1.0)
    hub.expire(62.0)  # r1..r3 closed: the budget is back
    assert handle_line(hub, a, "/join r4", 62.0).replies[0].startswith("you are in #r4")


def test_a_web_client_in_many_rooms_at_once_has_the_same_budget() -> None:
    hub = limited_hub(rooms_per_client=3)
    w, _ = member(hub, "web1", "web")
    hub.enter(w, "a", 0.0)
    hub.enter(w, "b", 0.0)
    hub.switch(member(hub, "other")[0], "existing", 0.0)
    for room in ("c", "existing"):  # new or not: three at once is the limit
        with pytest.raises(ChatError, match="you are in 3 rooms, the limit; leave one first"):
            hub.enter(w, room, 0.0)
    assert w.rooms == {"lobby", "a", "b"}
    hub.exit(w, "a", 1.0)
    hub.enter(w, "existing", 1.0)


def test_a_room_someone_else_occupies_does_not_count_against_its_opener() -> None:
    hub = limited_hub(rooms_per_client=2)
    a, _ = member(hub, "alice")
    b, _ = member(hub, "bob")
    hub.switch(a, "mine", 0.0)
    hub.switch(b, "mine", 0.0)
    hub.switch(a, "second", 0.0)
    assert hub.opened_rooms(a) == {"second"}  # "mine" is bob's now, while he is there
    hub.switch(a, "third", 0.0)
    assert hub.opened_rooms(a) == {"second", "third"}
    assert handle_line(hub, a, "/join fourth", 0.0).replies[0].startswith("error: you opened 2 rooms")
    hub.switch(b, "lobby", 1.0)
    assert hub.opened_rooms(a) == {"mine", "second", "third"}  # empty again: counts again until it closes


def test_the_rooms_in_total_are_capped_closing_the_longest_empty_first(caplog: pytest.LogCaptureFixture) -> None:
    hub = limited_hub(max_rooms=4)
    a, _ = member(hub, "alice")
    b, _ = member(hub, "bob")
    hub.switch(a, "old", 1.0)
    hub.switch(a, "newer", 2.0)  # "old" empty since 2
    hub.switch(b, "busy", 3.0)  # lobby, old, newer, busy: full
    hub.switch(a, "fresh", 4.0)  # closes "old" (empty longest), not "newer" (empty since 4)
    assert set(hub.rooms()) == {"lobby", "newer", "busy", "fresh"}
    assert any("4 rooms (limit)" in r.getMessage() and "#old" in r.getMessage() for r in caplog.records)
    c, _ = member(hub, "carol")
    hub.switch(c, "newer", 5.0)  # now every room has someone or is the lobby
    d, _ = member(hub, "dave")
    reply = handle_line(hub, d, "/join another", 6.0).replies[0]
    assert reply == "error: the chat has 4 rooms, the limit, and none is empty: join an existing room"
    assert d.rooms == {"lobby"}
    hub.switch(b, "another", 6.0)  # bob leaves "busy" empty: that one makes the space
    assert set(hub.rooms()) == {"lobby", "newer", "another", "fresh"}


def test_a_client_refused_in_a_loop_writes_one_warning_line(caplog: pytest.LogCaptureFixture) -> None:
    hub = limited_hub(rooms_per_client=1)
    a, _ = member(hub, "alice")
    a.address = "10.0.0.7:5000"
    hub.switch(a, "r0", 0.0)
    for i in range(1, 2_000):
        assert handle_line(hub, a, f"/join r{i}", 1.0).replies[0].startswith("error: you opened 1 rooms")
    lines = [r for r in caplog.records if "rooms still open (limit 1)" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "WARNING" and "10.0.0.7:5000" in lines[0].getMessage()
    assert hub.rooms() == {"lobby": 0, "r0": 1}


@pytest.mark.parametrize("name", ["x" * 33, "x" * 1_000_000])
def test_long_room_names_are_refused_without_being_echoed_whole(name: str) -> None:
    hub = ChatHub()
    a, _ = member(hub, "alice")
    reply = handle_line(hub, a, "/join " + name, 0.0).replies[0]
    assert reply.startswith("error: invalid room") and len(reply) < 200
    assert hub.rooms() == {"lobby": 1}


def test_room_and_people_lists_are_cut_to_fit_a_datagram() -> None:
    hub = limited_hub(rooms_per_client=1_000)
    people = [member(hub, f"p{i}")[0] for i in range(150)]
    assert handle_line(hub, people[0], "/who", 0.0).replies[0].endswith("… and 50 more")
    for i in range(130):
        handle_line(hub, people[i + 1], f"/join room{i}", 0.0)
    reply = handle_line(hub, people[0], "/rooms", 0.0).replies[0]
    assert reply.endswith("… and 31 more") and len(reply) < 2_000


def test_the_room_list_is_rebuilt_only_after_a_change() -> None:
    hub = ChatHub()
    a, _ = member(hub, "alice")
    version = hub.rooms_version
    assert hub.rooms() == hub.rooms() and hub.rooms_version == version
    handle_line(hub, a, "hello", 1.0)
    assert hub.rooms_version == version  # a message changes no room
    hub.switch(a, "games", 2.0)
    assert hub.rooms_version != version


def test_members_leaving_together_are_not_told_about_each_other() -> None:
    hub = ChatHub()
    _, watcher_in = member(hub, "watcher", "web")
    crowd = [member(hub, f"peer{i}", "udp") for i in range(300)]
    hub.leave_all([m for m, _ in crowd], 5.0)
    assert sum(len(inbox) for _, inbox in crowd) == sum(range(300))  # only the joins that came after each
    assert [e.kind for e in watcher_in].count("leave") == 300
    assert hub.rooms() == {"lobby": 1}


class RecordingFanout:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def deliver_many(self, event: ChatEvent, members: list[Member]) -> None:
        self.calls.append((event.kind, [m.nick for m in members]))


def test_members_with_a_fanout_get_each_room_event_in_one_call() -> None:
    hub = ChatHub()
    fanout = RecordingFanout()
    for i in range(3):
        hub.join(Member(f"u{i}", "udp", lambda e: None, fanout=fanout), 0.0)
    a, _ = member(hub, "alice")
    fanout.calls.clear()
    hub.say(a, "to all", 1.0)
    assert fanout.calls == [("message", ["u0", "u1", "u2"])]


def test_recent_ids_are_bounded_per_client_in_total_and_in_time() -> None:
    ids = RecentIds(per_client=3, total=5, ttl=100.0)
    for i in range(10):
        ids.remember("tab1", f"m{i}", float(i))
    assert len(ids) == 3 and ids.seen("tab1", "m9") and not ids.seen("tab1", "m6")
    assert ids.remember("tab2", "x", 10.0) is None and ids.remember("tab3", "y", 10.0) is None
    assert ids.remember("tab4", "z", 10.0) == pytest.approx(3.0)  # the total bound evicted tab1's m7
    assert len(ids) == 5 and not ids.seen("tab1", "m7")
    ids.remember("tab5", "late", 200.0)  # everything else is older than the ttl
    assert len(ids) == 1 and ids.seen("tab5", "late")


def test_history_keeps_the_last_n_messages_of_each_room(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    history = ChatHistory(tmp_path / "chat.sqlite3", per_room=50)
    for i in range(120):
        history.add(ChatEvent("message", "busy", "a", "tcp", f"m{i}", float(i)))
        if i % 7 == 0:
            history.flush()
    history.add(ChatEvent("message", "calm", "b", "tcp", "only one", 1.0))
    history.flush()
    assert [e.text for e in history.recent("busy", 1_000)] == [f"m{i}" for i in range(70, 120)]
    assert [e.text for e in history.recent("calm")] == ["only one"]
    assert any("#busy has more than 50 messages (limit)" in r.getMessage() for r in caplog.records)
    history.close()


def test_history_is_bounded_in_bytes_oldest_first_across_rooms(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    history = ChatHistory(path, max_bytes=200_000)
    for i in range(400):  # 400 KB of text in two rooms
        history.add(ChatEvent("message", f"room{i % 2}", "a", "tcp", f"{i:04d}" + "x" * 996, float(i)))
        history.flush()
    assert 150_000 < history.size <= 200_000
    oldest = [e.text[:4] for e in history.recent("room0", 1_000)]
    assert oldest[-1] == "0398" and oldest[0] > "0100"  # the oldest went, the newest stayed
    history.close()
    assert 150_000 < ChatHistory(path).size <= 200_000  # measured again on reopening


def test_history_writes_a_flood_at_once_instead_of_holding_it(tmp_path: Path) -> None:
    history = ChatHistory(tmp_path / "chat.sqlite3")
    for i in range(300):  # 2.4 MB between two ticks
        history.add(ChatEvent("message", "lobby", "a", "tcp", "y" * 8_000, float(i)))
    assert len(history._pending) < 140 and history._pending_bytes < PENDING_BYTES
    history.close()


def test_the_settings_defaults_are_the_chat_defaults() -> None:
    from sockets_core.settings import Settings, parse_settings

    assert ChatLimits.from_settings(Settings()) == ChatLimits()
    parsed = parse_settings(["--chat-max-rooms", "50", "--chat-rooms-per-client", "5", "--chat-room-ttl", "30",
                             "--chat-history-per-room", "100", "--chat-history-max", "1M"], environ={})
    assert ChatLimits.from_settings(parsed) == ChatLimits(50, 5, 30.0)
    assert (parsed.chat_history_per_room, parsed.chat_history_max) == (100, 1 << 20)
    assert parse_settings([], environ={"SOCKDASH_CHAT_MAX_ROOMS": "7"}).chat_max_rooms == 7


def test_a_refused_join_leaves_no_ghost_in_the_rooms_it_did_enter() -> None:
    hub = limited_hub(max_rooms=2)
    a, a_in = member(hub, "alice")
    web = Member("webby", "web", lambda e: None)
    with pytest.raises(ChatError, match="the chat has 2 rooms"):
        hub.join(web, 1.0, ["lobby", "one", "two"])  # "one" fits, "two" does not
    assert hub.find("webby") is None and hub.who("lobby") == [a] and hub.who("one") == []
    assert [(e.kind, e.room) for e in a_in] == [("join", "lobby"), ("leave", "lobby")]


def test_rooms_lists_no_room_that_has_expired_even_without_a_join_since() -> None:
    hub = limited_hub(room_ttl=60)
    a, _ = member(hub, "alice")
    hub.switch(a, "games", 0.0)
    hub.switch(a, "lobby", 1.0)
    assert handle_line(hub, a, "/rooms", 30.0).replies == ["rooms: #games (0), #lobby (1)"]
    assert handle_line(hub, a, "/rooms", 62.0).replies == ["rooms: #lobby (1)"]


def test_a_members_adapter_state_is_typed_fields() -> None:
    """What the adapters keep per member (address, encoding, the web client's secret, the UDP
    peer's last datagram and socket address) are fields with defaults, not a dict of anything."""
    web = Member("carol", "web", lambda event: None, client="secret", address="[::1]:5000")
    assert (web.peer, web.client, web.encoding, web.sockaddr, web.gone) == (
        "[::1]:5000", "secret", "utf-8", None, False)
    assert Member("dave", "tcp", lambda event: None).peer == "dave"  # no address: the nick names it in logs
    assert not hasattr(web, "extra")
