"""WARNING lines that a flood of what they report cannot turn into a flood of log lines.

The one helper for every limit that logs when it bites (connection admission, accept
failures, HTTP timeouts, the chat's limits, refused Host headers and admin links):

- at most one line per key per ``interval`` (a peer, a limit's name; an unkeyed warning is
  the key ""); the occurrences in between are counted and the key's next line carries the
  count, this one included;
- at most ``max_lines`` lines per ``interval`` in all, so thousands of keys (a scan, a flood
  from many addresses or ports) write at most ``max_lines`` lines; past the cap occurrences
  are only counted, and each key's count goes with its next line;
- at most ``max_keys`` keys remembered, the least recently seen forgotten first (a forgotten
  key's count is lost; its next occurrence is treated as a first one, still under the cap).

Time is ``clock()`` (``time.monotonic`` unless injected), or ``now=`` for callers that pass
time in (the chat's sans-I/O core reads no clock). The count's wording is ``suffix``, a
``str.format`` template with ``count``, ``s`` ("" for 1, else "s"), ``key`` and ``interval``.

Every occurrence, logged or not, is also counted in ``LIMIT_HITS`` under the name of the
limit (``/metrics``' ``sockdash_limit_hits_total``): the flag the message names, in the
template or as an argument (``--tftp-max-per-peer`` -> "tftp_max_per_peer"), else the
logger's name. Only sockdash's own flags count as names, so what a client sends (a nick, a
file name) never becomes one, and the names are as few as the flags.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Callable

INTERVAL = 10.0
MAX_LINES = 20
MAX_KEYS = 4096

IN_THE_LAST = "{count} time{s} in the last {interval:.0f} s"
SINCE_LAST_REPORT = "{count} since the last report"
REFUSED_FROM = "{count} refused from {key} in the last {interval:.0f} s"

LIMIT_HITS: Counter[str] = Counter()  # limit name -> occurrences, process-wide
_FLAG = re.compile(r"--[a-z][a-z0-9-]*")
_flag_names: dict[str, str] = {}  # every flag sockdash has -> its name here, filled at first use
# per template, learnt at its first use: the name, or which argument holds the flag (-1: none)
_how_to_name: dict[str, str | int] = {}


def _learn(message: str, args: tuple[object, ...]) -> str | int:
    if not _flag_names:
        from .settings import build_parser  # late: only the first warning pays for it

        _flag_names.update((o, o[2:].replace("-", "_")) for action in build_parser()._actions
                           for o in action.option_strings if o.startswith("--") and o != "--help")
    named = [f for f in _FLAG.findall(message) if f in _flag_names]
    how: str | int = _flag_names[named[0]] if named else next(
        (i for i, a in enumerate(args) if isinstance(a, str) and a in _flag_names), -1)
    _how_to_name[message] = how
    return how


def limit_name(logger: logging.Logger, message: str, args: tuple[object, ...]) -> str:
    """The name a warning is counted under (see the module's doc); a dict lookup and, for a
    template that does not name its flag, one look at the argument that did before."""
    how = _how_to_name.get(message)
    if how is None:
        how = _learn(message, args)
    if isinstance(how, str):
        return how
    if 0 <= how < len(args):
        flag = args[how]
        if isinstance(flag, str) and flag in _flag_names:
            return _flag_names[flag]
    return logger.name


class ThrottledWarning:
    def __init__(self, logger: logging.Logger, interval: float = INTERVAL, max_lines: int = MAX_LINES,
                 max_keys: int = MAX_KEYS, suffix: str = IN_THE_LAST,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.max_lines = max_lines
        self.max_keys = max_keys
        self.suffix = suffix
        self.clock = clock
        # key -> (time of its last line, occurrences since), least recently seen first
        self._keys: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._window = (float("-inf"), 0)  # (start of the overall window, lines written in it)

    def warn(self, message: str, *args: object, key: str = "", now: float | None = None) -> bool:
        """Count one occurrence of ``key``; log ``message % args`` plus the count when it is
        time. Returns whether a line was written."""
        if now is None:
            now = self.clock()
        LIMIT_HITS[limit_name(self.logger, message, args)] += 1
        last, count = self._keys.pop(key, (float("-inf"), 0))
        count += 1
        logged = now - last >= self.interval and self._line_allowed(now)
        self._keys[key] = (now, 0) if logged else (last, count)
        if len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        if logged:
            self.logger.warning(message + " (%s)", *args, self.suffix.format(
                count=count, s="" if count == 1 else "s", key=key, interval=self.interval))
        return logged

    def _line_allowed(self, now: float) -> bool:
        start, lines = self._window
        if now - start >= self.interval:
            start, lines = now, 0
        if lines >= self.max_lines:
            return False
        self._window = (start, lines + 1)
        return True

    @property
    def keys_remembered(self) -> int:
        return len(self._keys)
