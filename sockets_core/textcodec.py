"""Bytes from the network to text and back.

Native clients send UTF-8 (netcat on Linux, the course's scripts on macOS/Linux) or GBK
(the course's scripts on Chinese Windows, which `encode('gbk')`). Anything else is shown
with its undecodable bytes escaped as \\xNN, never raised.

Python hands over a file name (os.scandir) or a TFTP filename whose bytes are not UTF-8 as
a str carrying each bad byte as a lone surrogate (``surrogateescape``: 0xC4 -> U+DCC4).
Such a str cannot be encoded as UTF-8, so it must never reach JSON, a WebSocket or a log
file as is: ``readable`` turns it into text a person can read (UTF-8, else GBK, else
\\xNN), ``has_surrogates`` says whether that is needed.
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# lone surrogates that are not surrogateescape's stand-ins for the bytes 0x80-0xFF (they
# come from JSON "\\ud800" escapes): shown as \\uXXXX, they stand for no byte
_NOT_A_BYTE = re.compile("[\ud800-\udc7f\udd00-\udfff]")

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


def has_surrogates(text: str) -> bool:
    # isascii() is O(1) in CPython (a flag of the str) and covers nearly every message; the
    # UTF-8 encoder, in C, is ~30x faster than a regex scan over a 100 KB packet batch
    if text.isascii():
        return False
    try:
        text.encode(UTF8)
    except UnicodeEncodeError:
        return True
    return False


def readable(text: str) -> str:
    """``text`` with its surrogate-escaped bytes made readable: the whole read back as bytes
    and decoded as UTF-8, else GBK, else with the bad bytes as \\xNN. Text without
    surrogates (nearly all) is returned unchanged, at the cost of one regex search."""
    if not has_surrogates(text):
        return text
    cleaned = _NOT_A_BYTE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return decode(cleaned.encode(UTF8, "surrogateescape"))[0]
