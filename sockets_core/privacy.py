"""Which chat bytes carry a direct message, so that the packet log can mark them private.

The packet log records what the sockets saw: recv chunks and send chunks, which do not
line up with chat lines: one recv may hold half a line or three. A small tracker maps
lines onto chunks:

- ``DirectMessageLines`` follows a native client's incoming byte stream the way
  ``LineFramer`` cuts it (a newline ends a line; so does the framer's pause, which the
  adapter reports with ``line_ended``) and says whether a chunk carries any byte of a
  ``/msg`` line. While a line's first bytes could still turn into ``/msg`` ("/", "/m",
  "  /ms") the chunk counts as private: hiding a little too much from a viewer without the
  admin token is the safe mistake.

It works on bytes, before any decoding, because the log records before the chat decodes.
"""

from __future__ import annotations

from .textcodec import printable

DM_COMMAND = b"/msg"

# What ``str.strip()`` removes from the start of a line once ``printable`` has escaped the
# control characters: space, tab and the Unicode blanks, as UTF-8 and as GBK (U+3000, the
# ideographic space a Chinese keyboard types, is A1 A1 in GBK).
_BLANK_CHARS = "\t \xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"
BLANKS: tuple[bytes, ...] = tuple(sorted(
    {c.encode("utf-8") for c in _BLANK_CHARS} | {"\u3000".encode("gbk")}, key=len, reverse=True))


def is_direct_message(text: str) -> bool:
    """The rule of chat.commands.handle_line, on a decoded line: its command is /msg."""
    return printable(text.rstrip("\r\n")).strip().partition(" ")[0].lower() == "/msg"


def classify_line_start(data: bytes) -> bool | None:
    """True when a line starting with ``data`` is a /msg line (or an unknown /msg… command),
    False when it cannot be one, None while more bytes are needed to tell."""
    return _classify(data)[0]


def _classify(data: bytes) -> tuple[bool | None, bytes]:
    """The verdict, and the bytes still undecided (the leading blanks skipped)."""
    offset = 0
    while True:
        for blank in BLANKS:
            if data.startswith(blank, offset):
                offset += len(blank)
                break
        else:
            break
    rest = data[offset:offset + len(DM_COMMAND)]
    start = rest.lower()
    if not start or any(len(start) < len(b) and b.startswith(start) for b in BLANKS):
        return None, rest  # only blanks so far, or the first bytes of a multi-byte blank
    if start == DM_COMMAND:
        return True, b""
    return (None, rest) if DM_COMMAND.startswith(start) else (False, b"")


def line_is_direct_message(line: bytes) -> bool:
    """For a complete line (a UDP datagram): is it a /msg line?"""
    return classify_line_start(line) is True


class DirectMessageLines:
    """Feed it every chunk received on one connection, in order."""

    def __init__(self) -> None:
        self._start = b""  # the current line's undecided first bytes (a few at most)
        self._verdict: bool | None = None  # of the current line

    def feed(self, data: bytes) -> bool:
        """Does this chunk carry any byte of a direct message line (or of a line that may
        still become one)?"""
        private = False
        for index, segment in enumerate(data.split(b"\n")):
            if index:
                self.line_ended()  # a newline ended the line before this segment
            if not segment:
                continue
            if self._verdict is None:
                # blanks already seen are dropped, so what is kept is a few bytes at most
                self._verdict, self._start = _classify(self._start + segment)
            if self._verdict is not False:
                private = True
        return private

    def line_ended(self) -> None:
        """The framer ended the line without a newline (the sender paused)."""
        self._start = b""
        self._verdict = None

