"""A per-key (per-IP) limit of events per one-second window, with a bounded table."""

from __future__ import annotations

from collections import OrderedDict

MAX_KEYS = 4096


class PerSecondLimit:
    def __init__(self, per_second: int, max_keys: int = MAX_KEYS) -> None:
        self.per_second = per_second
        self.max_keys = max_keys
        # least recently seen first: a flood of new (spoofed) addresses pushes out the oldest
        # in constant time per datagram, never a rebuild of the table on the hub
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def check(self, key: str, now: float) -> int:
        """Count one event; 0 if it is allowed, else how many over the limit it is (1 for
        the first refused one in this second: the moment to log)."""
        start, count = self._windows.get(key, (now, 0))
        if now - start >= 1.0:
            start, count = now, 0
        count += 1
        self._windows[key] = (start, count)
        self._windows.move_to_end(key)
        while len(self._windows) > self.max_keys:
            self._windows.popitem(last=False)
        return max(0, count - self.per_second)

