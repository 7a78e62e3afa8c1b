"""Greenlets of a cluster that never die silently.

A loop that talks to Redis meets more than connection errors: a replica promoted under it
answers READONLY, a full Redis (noeviction) OOM, a key of the wrong type WRONGTYPE. Each
loop catches what it expects; ``forever`` is the net under it: an unexpected exception is
logged (throttled: a loop failing every time cannot flood the log) and the loop starts
again after a capped, jittered backoff. Imports no Redis client (chat/instances.py uses it
in the embedded default too).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import gevent

from ..logthrottle import ThrottledWarning

log = logging.getLogger(__name__)

FIRST_DELAY = 0.05  # seconds before the first restart
MAX_DELAY = 1.0  # seconds between restarts at most

_warnings = ThrottledWarning(log)


class Backoff:
    """Capped, jittered exponential delays (instances do not retry in step)."""

    def __init__(self, first: float = FIRST_DELAY, cap: float = MAX_DELAY) -> None:
        self.first = first
        self.cap = cap
        self.delay = first

    def sleep(self) -> None:
        gevent.sleep(self.delay * (0.5 + random.random()))
        self.delay = min(self.delay * 2, self.cap)

    def reset(self) -> None:
        self.delay = self.first


def forever(name: str, loop: Callable[[], None], running: Callable[[], bool] = lambda: True) -> None:
    """Run ``loop`` until it returns while ``running()`` is false; restart it after an
    exception (logged, throttled per ``name``). GreenletExit (a kill) ends it."""
    backoff = Backoff()
    while running():
        try:
            loop()
        except Exception as exc:  # the net: one bad answer must not stop the cluster's work
            _warnings.warn("cluster: the %s loop failed (%s: %s); restarting it", name, type(exc).__name__, exc,
                           key=name)
            backoff.sleep()
            continue
        return


def spawn_forever(name: str, loop: Callable[[], None],
                  running: Callable[[], bool] = lambda: True) -> gevent.Greenlet[Any, Any]:
    return gevent.spawn(forever, name, loop, running)
