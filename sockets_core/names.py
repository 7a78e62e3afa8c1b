"""File names as bytes, and the one lossless way to write any of them in JSON and URLs.

A name on disk is bytes. Most are UTF-8; a zip made on Chinese Windows unpacks to GBK
names (``你好.txt`` as ``C4 E3 BA C3 .txt``), a TFTP client may ask for ``FF FE .bin``.
Inside sockdash a name is a str as Python gives it (``os.fsdecode``: every byte that is
not UTF-8 becomes a lone surrogate, U+DC80-U+DCFF), which FileStore opens byte-exact.

The wire form (``to_wire`` / ``from_wire``) is how such a name travels in JSON and URLs,
path component by path component:

- a component whose bytes are UTF-8 is written as that text (``子目录``, ``hello.txt``);
- any other component is ``~b64:`` followed by its bytes in URL-safe base64 without
  padding (``~b64:xOO6wy50eHQ`` is ``C4 E3 BA C3 .txt``); so is a UTF-8 component that
  itself starts with ``~b64:``, which keeps the form unambiguous.

In a URL the wire form is percent-encoded as usual; raw bytes percent-encoded
(``/files/%C4%E3%BA%C3.txt``, what curl sends) decode to the same name, so both work.
``display`` is what people read: each component as UTF-8, else GBK, else with \\xNN
escapes, and which of the three it took.
"""

from __future__ import annotations

import base64
import binascii
import re

from .files import UnsafePath
from .textcodec import ESCAPED, GBK, UTF8, decode, has_surrogates, printable, readable

B64_MARK = "~b64:"
_B64_BODY = re.compile(r"[A-Za-z0-9_-]*")


def to_bytes(name: str) -> bytes:
    """The bytes on disk of a name. Raises UnsafePath for a lone surrogate that stands
    for no byte (one can arrive in JSON as "\\ud800")."""
    try:
        return name.encode(UTF8, "surrogateescape")
    except UnicodeEncodeError:
        raise UnsafePath("not a valid name (a lone UTF-16 surrogate)") from None


def from_bytes(raw: bytes) -> str:
    return raw.decode(UTF8, "surrogateescape")


def to_wire(name: str) -> str:
    return "/".join(_component_to_wire(part) for part in name.split("/"))


def _component_to_wire(part: str) -> str:
    if not has_surrogates(part) and not part.startswith(B64_MARK):
        return part
    try:
        raw = to_bytes(part)
    except UnsafePath:  # no file can have this name (it stands for no bytes): show, never raise
        return readable(part)
    return B64_MARK + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def from_wire(text: str) -> str:
    """The name a wire form (or a percent-decoded URL's raw bytes) stands for. Raises
    UnsafePath for a malformed ``~b64:`` part or a part that decodes to a "/"."""
    parts = []
    for part in text.split("/"):
        if part.startswith(B64_MARK):
            body = part[len(B64_MARK):]
            if not _B64_BODY.fullmatch(body):
                raise UnsafePath(f"{B64_MARK} must be followed by URL-safe base64")
            try:
                raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            except (binascii.Error, ValueError):
                raise UnsafePath(f"{B64_MARK} followed by base64 of a wrong length") from None
            if b"/" in raw:
                raise UnsafePath(f"a {B64_MARK} part holds a '/'")
            parts.append(from_bytes(raw))
        else:
            parts.append(part)
    # one spelling per name: bytes that arrived split between escapes and text (part
    # percent-encoded, part raw) are read back together
    return from_bytes(to_bytes("/".join(parts)))


def display(name: str) -> tuple[str, str]:
    """(readable text, encoding): every component decoded on its own as UTF-8, else GBK,
    else with \\xNN escapes; the encoding is the least readable one among them."""
    if not has_surrogates(name):
        return printable(name), UTF8
    texts, worst = [], UTF8
    for part in name.split("/"):
        try:
            text, encoding = decode(to_bytes(part))
        except UnsafePath:  # a surrogate that stands for no byte: never raise while showing
            text, encoding = readable(part), ESCAPED
        texts.append(printable(text))
        if encoding == ESCAPED or (encoding == GBK and worst == UTF8):
            worst = encoding
    return "/".join(texts), worst
