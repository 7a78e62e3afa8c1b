"""Per-second rates from the services' counters, and the last five minutes of them.

A greenlet reads every tap's counters once a ``interval`` and keeps the difference as
packets/s and bytes/s, so status() is cheap enough to push to every browser each second;
each sample is appended to ``history`` (the Home page's graph) and announced on the bus
under STATUS_TOPIC (the /ws/status feed wakes on it).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import gevent

from .bus import Bus
from .traffic import ServiceTap

STATUS_TOPIC = "status"
RATE_HISTORY = 300  # one sample a second: the last five minutes
NO_RATE = {"packets_per_s": 0.0, "bytes_per_s": 0.0}


class RateSampler:
    def __init__(self, taps: Callable[[], dict[str, ServiceTap]], bus: Bus, interval: float = 1.0) -> None:
        self._taps = taps  # read at every sample: a tap added later is sampled too
        self._bus = bus
        self.interval = interval
        self.rates: dict[str, dict[str, float]] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=RATE_HISTORY)
        self._greenlet: gevent.Greenlet[[], None] | None = None

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def rate_of(self, name: str) -> dict[str, float]:
        return self.rates.get(name, NO_RATE)

    def _run(self) -> None:
        previous = {name: tap.counters.as_dict() for name, tap in self._taps().items()}
        while True:
            gevent.sleep(self.interval)
            self.sample(previous)

    def sample(self, previous: dict[str, dict[str, int]]) -> None:
        """One sample: rates since ``previous`` (updated in place), history, the bus told."""
        for name, tap in self._taps().items():
            now = tap.counters.as_dict()
            before = previous.get(name, now)
            self.rates[name] = {
                "packets_per_s": (now["packets_in"] + now["packets_out"]
                                  - before["packets_in"] - before["packets_out"]) / self.interval,
                "bytes_per_s": (now["bytes_in"] + now["bytes_out"]
                                - before["bytes_in"] - before["bytes_out"]) / self.interval,
            }
            previous[name] = now
        self.history.append({"t": round(time.time(), 1), "services": {
            name: [rate["packets_per_s"], rate["bytes_per_s"]] for name, rate in self.rates.items()}})
        self._bus.publish(STATUS_TOPIC, None)
