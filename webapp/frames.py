"""The one way every WebSocket route and every JSON response is encoded: compact, UTF-8
kept as is, and never a lone surrogate.

A file or TFTP name that is not UTF-8 reaches Python as a str with surrogate escapes; in
JSON that is either an encoding error (one such name cut the packet export and made
/ws/files fail at connect) or a string the browser cannot use (``encodeURIComponent``
throws on it). Producers send names in the wire form and summaries readable
(sockets_core.names, textcodec.readable); this is the net under them: a message that
still holds a surrogate is sent with every string made readable instead.
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


class ReadableJSONProvider(DefaultJSONProvider):
    """Flask's JSON (``jsonify``) with the same guarantee. UTF-8 is sent as is rather than
    as \\u escapes, so that a surrogate left in a string is found, not escaped."""

    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        text = super().dumps(obj, **kwargs)
        if has_surrogates(text):
            text = super().dumps(readable_tree(obj), **kwargs)
        return text
