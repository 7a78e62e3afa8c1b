"""Warnings about refused requests that a flood of them cannot turn into a flood of log lines.

One line per peer per ``interval`` at most, carrying how many were refused since that peer's
last line; the table of peers is bounded, and so is the number of lines per interval overall
(a scan from many addresses writes at most ``max_lines`` lines, then the rest are only counted).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

MAX_PEERS = 4096


class ThrottledWarning:
    def __init__(self, logger: logging.Logger, interval: float = 10.0, max_lines: int = 20,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.max_lines = max_lines
        self.clock = clock
        self._peers: dict[str, tuple[float, int]] = {}  # peer -> (time of its last line, refused since)
        self._window = (float("-inf"), 0)  # (start of the overall window, lines written in it)

    def refused(self, peer: str, message: str, *args: object) -> bool:
        """Count one refusal from ``peer``; log ``message % args`` plus the count when it is time.
        Returns whether a line was written."""
        now = self.clock()
        last, count = self._peers.get(peer, (float("-inf"), 0))
        count += 1
        if now - last < self.interval or not self._line_allowed(now):
            self._remember(peer, last, count, now)
            return False
        self._remember(peer, now, 0, now)
        self.logger.warning(message + " (%d refused from %s in the last %.0f s)",
                            *args, count, peer, self.interval)
        return True

    def _line_allowed(self, now: float) -> bool:
        start, lines = self._window
        if now - start >= self.interval:
            start, lines = now, 0
        if lines >= self.max_lines:
            return False
        self._window = (start, lines + 1)
        return True

    def _remember(self, peer: str, last: float, count: int, now: float) -> None:
        self._peers[peer] = (last, count)
        if len(self._peers) > MAX_PEERS:  # forget peers quiet for a whole interval
            self._peers = {p: v for p, v in self._peers.items() if now - v[0] < self.interval}
            if len(self._peers) > MAX_PEERS:  # all busy: keep only the newest
                self._peers = dict(list(self._peers.items())[-MAX_PEERS // 2:])
