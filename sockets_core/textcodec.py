"""Bytes from the network to text and back.

Native clients send UTF-8 (netcat on Linux, the course's scripts on macOS/Linux) or GBK
(the course's scripts on Chinese Windows, which `encode('gbk')`). Anything else is shown
with its undecodable bytes escaped as \\xNN, never raised.
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")

UTF8 = "utf-8"
GBK = "gbk"
ESCAPED = "escaped"


def decode(data: bytes) -> tuple[str, str]:
    """Return (text, encoding) where encoding is utf-8, gbk or escaped."""
    try:
        return data.decode(UTF8), UTF8
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(GBK), GBK
    except UnicodeDecodeError:
        pass
    return data.decode(UTF8, "backslashreplace"), ESCAPED


def encode(text: str, encoding: str) -> bytes:
    """Encode for a client that last spoke ``encoding``; GBK clients get '?' for what GBK lacks."""
    if encoding == GBK:
        return text.encode(GBK, "replace")
    return text.encode(UTF8)


def printable(text: str) -> str:
    """Control characters (NUL, ESC, newlines, ...; not tab) shown as \\xNN, so that one
    client's bytes cannot blank another's terminal or break the one-line message format."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
