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


class WarningGate:
    """Rate-limits a WARNING so that the log itself cannot be flooded: one line per key
    (an IP) per ``interval`` seconds and at most ``overall`` lines per interval for all keys
    together (a flood from many spoofed addresses), counting what it held back."""

    def __init__(self, interval: float = 10.0, overall: int = 20, max_keys: int = MAX_KEYS) -> None:
        self.interval = interval
        self.overall = overall
        self.max_keys = max_keys
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._window = (float("-inf"), 0)  # (start, lines logged in it) for all keys

    def allow(self, key: str, now: float) -> int | None:
        """None: stay quiet (the event is counted). Else log now: the number is how many
        events of this key were held back since its last line."""
        start, lines = self._window
        if now - start >= self.interval:
            start, lines = now, 0
        if now - self._last.get(key, float("-inf")) < self.interval or lines >= self.overall:
            self._held[key] = self._held.get(key, 0) + 1
            if len(self._held) > self.max_keys:  # a table of held counts stays bounded too
                self._held.clear()
            return None
        self._window = (start, lines + 1)
        self._last[key] = now
        if len(self._last) > self.max_keys:
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
        return self._held.pop(key, 0)
