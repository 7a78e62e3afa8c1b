"""The one way every WebSocket route and every JSON response is encoded: compact, UTF-8
kept as is, and never a lone surrogate.

A file or TFTP name that is not UTF-8 reaches Python as a str with surrogate escapes; in
JSON that is either an encoding error (one such name cut the packet export and made
/ws/files fail at connect) or a string the browser cannot use (``encodeURIComponent``
throws on it). Producers send names in the wire form and summaries readable
(sockets_core.names, textcodec.readable); this is the net under them: a message that
still holds a surrogate is sent with every string made readable instead.

Requests come the other way through ``parse_request``, the one parser of client frames on
every WebSocket route: a JSON object or a FrameError whose text says what is wrong.
"""

from __future__ import annotations

import json
from typing import Any

from flask.json.provider import DefaultJSONProvider

from sockets_core.textcodec import has_surrogates, readable


def readable_tree(value: Any) -> Any:
    """``value`` with every string in it (keys too) passed through textcodec.readable."""
    if isinstance(value, str):
        return readable(value)
    if isinstance(value, dict):
        return {readable_tree(k): readable_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [readable_tree(v) for v in value]
    return value


def to_json(message: dict[str, Any]) -> str:
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    if has_surrogates(text):  # one regex scan; the rebuild happens only for such messages
        text = json.dumps(readable_tree(message), ensure_ascii=False, separators=(",", ":"))
    return text


def send_json(ws: Any, message: dict[str, Any]) -> None:
    ws.send(to_json(message))


# flask-sock already refuses bigger messages (app.WS_MAX_MESSAGE); this holds for any caller
MAX_REQUEST = 64 * 1024


class FrameError(ValueError):
    """A client frame that is not a request; the text is fit to send back to the page."""


def parse_request(text: str | bytes | None, max_size: int = MAX_REQUEST) -> dict[str, Any]:
    """A client's text frame as a dict. Binary frames must be UTF-8."""
    if text is None:
        raise FrameError("an empty request")
    if len(text) > max_size:
        raise FrameError(f"a request is at most {max_size} bytes; this one has {len(text)}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError("a request is UTF-8 text") from None
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise FrameError(f"a request is JSON: {getattr(exc, 'msg', exc)} at character "
                         f"{getattr(exc, 'pos', 0)}") from None
    if not isinstance(message, dict):
        raise FrameError("a request is a JSON object")
    return message


def expect(message: dict[str, Any], key: str, kind: type, default: Any = None) -> Any:
    """``message[key]`` if it is a ``kind`` (``default`` when absent); FrameError otherwise."""
    value = message.get(key, default)
    if value is default or (isinstance(value, kind) and not (kind is int and isinstance(value, bool))):
        return value
    raise FrameError(f"{key!r} must be {_KIND_NAMES.get(kind, kind.__name__)}, not {type(value).__name__}")


_KIND_NAMES = {str: "a string", int: "a whole number", dict: "an object", list: "a list", bool: "true or false"}


class ReadableJSONProvider(DefaultJSONProvider):
    """Flask's JSON (``jsonify``) with the same guarantee. UTF-8 is sent as is rather than
    as \\u escapes, so that a surrogate left in a string is found, not escaped."""

    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        text = super().dumps(obj, **kwargs)
        if has_surrogates(text):
            text = super().dumps(readable_tree(obj), **kwargs)
        return text
