"""Mixed text and escapes, as typed into a Packet Sender / NetAssist-style tool, to bytes.

``hello\\r\\n\\x00\\xff`` is the text "hello", CR LF, and the bytes 00 and ff. Text parts are
encoded in the chosen encoding (UTF-8, GBK, Latin-1); ``\\xNN`` is always one raw byte.
Escapes: \\r \\n \\t \\0 \\\\ \\xNN. Anything else after a backslash is an error that
names its position, never a guess. A "hex" input is pairs of hex digits, spaces allowed.
"""

from __future__ import annotations

import re

ENCODINGS = {"utf-8": "utf-8", "gbk": "gbk", "latin-1": "latin-1"}
LINE_ENDINGS = {"none": b"", "lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}
_SIMPLE = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}
_HEX_PAIR = re.compile(r"[0-9a-fA-F]{2}")


class PayloadError(ValueError):
    """Input that cannot be turned into bytes; the message says where and why."""


def parse_text(text: str, encoding: str = "utf-8") -> bytes:
    codec = ENCODINGS.get(encoding)
    if codec is None:
        raise PayloadError(f"unknown encoding {encoding!r}: choose {', '.join(ENCODINGS)}")
    out = bytearray()
    plain: list[str] = []

    def flush() -> None:
        if plain:
            try:
                out.extend("".join(plain).encode(codec))
            except UnicodeEncodeError as exc:
                raise PayloadError(f"{exc.object[exc.start]!r} cannot be written in {encoding}") from None
            plain.clear()

    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\":
            plain.append(char)
            i += 1
            continue
        flush()
        code = text[i + 1:i + 2]
        if code in _SIMPLE:
            out.extend(_SIMPLE[code])
            i += 2
        elif code == "x" and _HEX_PAIR.fullmatch(text[i + 2:i + 4]):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        else:
            raise PayloadError(f"bad escape at position {i}: use \\r \\n \\t \\0 \\\\ or \\xNN")
    flush()
    return bytes(out)


def parse_hex(text: str) -> bytes:
    digits = "".join(text.split())
    if len(digits) % 2 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise PayloadError("hex input is pairs of hex digits, e.g. 68 65 6c 6c 6f 0d 0a")
    return bytes.fromhex(digits)


def build(text: str, *, kind: str = "text", encoding: str = "utf-8", line_ending: str = "none") -> bytes:
    """The bytes to send for one tool input."""
    if line_ending not in LINE_ENDINGS:
        raise PayloadError(f"unknown line ending {line_ending!r}: choose {', '.join(LINE_ENDINGS)}")
    body = parse_hex(text) if kind == "hex" else parse_text(text, encoding)
    return body + LINE_ENDINGS[line_ending]
