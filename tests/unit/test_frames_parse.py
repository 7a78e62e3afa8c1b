"""webapp.frames.parse_request, the one parser of client JSON frames on every WebSocket
route (chat, tools, packets, files, syslog): a dict, or a FrameError saying what is wrong;
and the routes answer or ignore bad frames through it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness import FakeWebSocket, make_app
from webapp.chat_ws import ChatSession
from webapp.frames import MAX_REQUEST, FrameError, expect, parse_request
from webapp.ws import _packet_filter, _watch_request


def test_a_json_object_as_text_or_utf8_bytes_is_a_dict() -> None:
    assert parse_request('{"type": "hello", "nick": "小明"}') == {"type": "hello", "nick": "小明"}
    assert parse_request(b'{"a": [1]}') == {"a": [1]}


@pytest.mark.parametrize(("frame", "says"), [
    ("[1, 2]", "a request is a JSON object"),
    ('"text"', "a request is a JSON object"),
    ("{not json", "a request is JSON: Expecting property name enclosed in double quotes at character 1"),
    ("", "a request is JSON: Expecting value at character 0"),
    (b"\xff\xfe{}", "a request is UTF-8 text"),
    (None, "an empty request"),
    ("x" * (MAX_REQUEST + 1), f"a request is at most {MAX_REQUEST} bytes; this one has {MAX_REQUEST + 1}"),
])
def test_what_is_wrong_is_said(frame: str | bytes | None, says: str) -> None:
    with pytest.raises(FrameError) as caught:
        parse_request(frame)
    assert str(caught.value) == says and isinstance(caught.value, ValueError)


def test_a_field_of_the_wrong_type_is_named() -> None:
    message = parse_request(json.dumps({"filter": "tftp", "count": True, "watch": "docs"}))
    assert expect(message, "watch", str) == "docs" and expect(message, "missing", dict) is None
    with pytest.raises(FrameError, match="'filter' must be an object, not str"):
        expect(message, "filter", dict)
    with pytest.raises(FrameError, match="'count' must be a whole number, not bool"):
        expect(message, "count", int)


def test_the_feeds_keep_their_state_on_a_bad_frame() -> None:
    current = {"service": "tftp"}
    assert _packet_filter("{oops", current) is current
    assert _packet_filter('{"filter": "udp_chat"}', current) is current
    assert _packet_filter('{"filter": {"service": "udp_chat", "bogus": 1}}', current) == {"service": "udp_chat"}
    assert _watch_request('{"watch": 5}') is None and _watch_request('{"watch": "/docs/"}') == "docs"


class ScriptedWebSocket(FakeWebSocket):
    """Receives the given frames, then is closed by the peer."""

    def __init__(self, frames: list[str | bytes]) -> None:
        super().__init__()
        self.incoming = list(frames)

    def receive(self, timeout: float | None = None) -> str | bytes | None:
        if not self.incoming:
            self.connected = False
            return None
        return self.incoming.pop(0)


def test_the_chat_answers_each_bad_frame_with_what_is_wrong_and_goes_on(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    ws = ScriptedWebSocket(["{oops", "[1]", b"\xff", json.dumps({"type": "hello", "nick": "ann", "rooms": ["lobby"]})])
    with app.test_request_context("/ws/chat", environ_base={"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "42000"}):
        session = ChatSession(ws)
    session.run()
    errors = [f["text"] for f in ws.of_type("error")]
    assert errors == ["a request is JSON: Expecting property name enclosed in double quotes at character 1",
                      "a request is a JSON object", "a request is UTF-8 text"]
    assert ws.of_type("welcome")  # the good frame after them was served
