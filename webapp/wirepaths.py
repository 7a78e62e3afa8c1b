"""File names out of a request, byte-exact, whatever the bytes.

Werkzeug decodes the URL path as UTF-8 with errors replaced (``%C4%E3`` becomes U+FFFD
U+FFFD: the name is lost) and leaves undecodable ``%XX`` in the query as the literal text
``%XX``. So names are read from the raw request instead: PATH_INFO (per PEP 3333 one
char per byte, already percent-decoded) and the raw query string, percent-decoded to
bytes here. Either way the bytes are then read as a name in the wire form
(sockets_core.names), so ``/files/%C4%E3%BA%C3.txt`` (curl) and
``/files/~b64:xOO6wy50eHQ`` (the page) name the same file.

A query string whose raw bytes are not UTF-8 (``?path=\\xff``, sent unencoded) is refused
with 400 before any route sees it: werkzeug would fail on it with a 500.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from flask import abort, request

from sockets_core.files import UnsafePath
from sockets_core.names import display, from_bytes, from_wire


def refuse_undecodable_query() -> None:
    try:
        request.query_string.decode("utf-8")
    except UnicodeDecodeError:
        abort(400, description="the query string holds bytes that are not UTF-8: percent-encode them (%FF)")


def _wire(text: str) -> str:
    try:
        return from_wire(text)
    except UnsafePath as exc:
        abort(400, description=f"bad name: {exc}")


def query_name(key: str, default: str = "") -> str:
    """The name in the query parameter ``key``, percent-decoded to exact bytes."""
    for pair in request.query_string.split(b"&"):
        field, _, value = pair.partition(b"=")
        if unquote_to_bytes(field.replace(b"+", b" ")) == key.encode():
            return _wire(from_bytes(unquote_to_bytes(value.replace(b"+", b" "))))
    return default


def route_name(prefix: str) -> str:
    """The rest of the URL path after ``prefix`` (e.g. "/files/"), as exact bytes."""
    raw = request.environ.get("PATH_INFO", "").encode("latin-1")
    if not raw.startswith(prefix.encode()):  # the route matched, so it cannot happen
        abort(404)
    return _wire(from_bytes(raw[len(prefix):]))


def json_names(*keys: str) -> list[str]:
    """The names under ``keys`` of a JSON object body; 400 unless each is a string."""
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description=f"send a JSON object with {', '.join(repr(k) for k in keys)}")
    names = []
    for key in keys:
        value = body.get(key)
        if not isinstance(value, str):
            abort(400, description=f"{key!r} must be a string (a path under the file root)")
        names.append(_wire(value))
    return names


def shown(name: str) -> str:
    """A name for an error text or a log line: readable, in quotes, relative to the root."""
    return f"'{display(name)[0]}'"
