"""Turn a native client's byte stream into chat messages (sans-I/O: time is passed in).

A message ends at a newline (\\n or \\r\\n), or when the sender pauses IDLE_FLUSH seconds
without one: the course scripts ``send()`` a message with no newline and then block in
``recv(1024)``, so waiting for a newline would hang them forever. A line longer than
MAX_LINE bytes is cut there; the cut is reported so the sender can be told.
"""

from __future__ import annotations

from dataclasses import dataclass

IDLE_FLUSH = 0.3
MAX_LINE = 8 * 1024


@dataclass(frozen=True)
class Line:
    data: bytes
    truncated: bool = False


class LineFramer:
    def __init__(self, idle_flush: float = IDLE_FLUSH, max_line: int = MAX_LINE) -> None:
        self.idle_flush = idle_flush
        self.max_line = max_line
        self._buffer = bytearray()
        self._last_data: float | None = None
        self._discarding = False  # inside an over-long line, after its first MAX_LINE bytes

    def receive_data(self, data: bytes, now: float) -> list[Line]:
        lines: list[Line] = []
        start = 0
        while True:
            newline = data.find(b"\n", start)
            chunk = data[start:] if newline < 0 else data[start:newline]
            self._append(chunk, lines)
            if newline < 0:
                break
            line = self._take()
            if line is not None:
                lines.append(line)
            self._discarding = False
            start = newline + 1
        self._last_data = now if (self._buffer or self._discarding) else None
        return lines

    def _append(self, chunk: bytes, lines: list[Line]) -> None:
        if self._discarding:
            return
        room = self.max_line - len(self._buffer)
        if len(chunk) <= room:
            self._buffer += chunk
            return
        self._buffer += chunk[:room]
        lines.append(Line(self._pop(), truncated=True))
        self._discarding = True

    def _pop(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data.removesuffix(b"\r")

    def _take(self) -> Line | None:
        if self._discarding:
            self._buffer.clear()
            return None
        return Line(self._pop())

    def get_timer(self) -> float | None:
        """When an unterminated message will be flushed, or None."""
        return None if self._last_data is None else self._last_data + self.idle_flush

    def handle_timer(self, now: float) -> list[Line]:
        deadline = self.get_timer()
        if deadline is None or now < deadline:
            return []
        self._last_data = None
        self._discarding = False
        return [Line(self._pop())] if self._buffer else []

    def close(self) -> list[Line]:
        """The peer closed: whatever is buffered is a last message."""
        self._last_data = None
        return [Line(self._pop())] if self._buffer and not self._discarding else []
