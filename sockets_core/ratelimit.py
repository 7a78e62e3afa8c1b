"""A per-key (per-IP) limit of events per one-second window, with a bounded table."""

from __future__ import annotations

MAX_KEYS = 4096


class PerSecondLimit:
    def __init__(self, per_second: int, max_keys: int = MAX_KEYS) -> None:
        self.per_second = per_second
        self.max_keys = max_keys
        self._windows: dict[str, tuple[float, int]] = {}

    def check(self, key: str, now: float) -> int:
        """Count one event; 0 if it is allowed, else how many over the limit it is (1 for
        the first refused one in this second: the moment to log)."""
        start, count = self._windows.get(key, (now, 0))
        if now - start >= 1.0:
            start, count = now, 0
        count += 1
        self._windows[key] = (start, count)
        if len(self._windows) > self.max_keys:  # forget the idle ones
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < 1.0}
        return max(0, count - self.per_second)
