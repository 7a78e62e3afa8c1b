"""Bytes from the network to text and back.

Native clients send UTF-8 (netcat on Linux, the course's scripts on macOS/Linux) or GBK
(the course's scripts on Chinese Windows, which `encode('gbk')`). Anything else is shown
with its undecodable bytes escaped as \\xNN, never raised.
"""

from __future__ import annotations

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
