"""The direct messages of each browser tab, kept in memory so that a reload shows them again.

A tab is known by the client secret the server issued it (webapp/chat_identity.py), which
only that tab holds and which survives its reloads; the direct messages it sent and received
are kept under that secret and replayed to it alone in its next ``welcome``. Nothing goes to
disk (the history file holds room messages only): a restart issues new secrets anyway, so
what was kept under the old ones could never be asked for again. Native clients do not
reload; they got their copies as the messages came. With --bus a copy is also kept in Redis
(webapp/chat_shared.py), so a reload on another instance shows them too.

Bounded three ways, like everything a client can make the server keep: ``per_client``
messages per tab (its oldest go first), ``max_bytes`` in all (the tab used least recently
goes first: ``add`` returns how long ago it was used, for a warning when that was recent)
and a tab unused for ``ttl`` seconds is forgotten. Time is passed in.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from .events import ChatEvent

# bytes an entry holds besides its text and nicks: the event object, its strings, the tuple;
# measured by bench/chat_private.py, so that max_bytes bounds the memory really held
ENTRY_OVERHEAD = 512


@dataclass(eq=False)
class _Tab:
    used: float
    entries: deque[tuple[str, ChatEvent, int]] = field(default_factory=deque)  # (partner, event, size)
    size: int = 0


def _size(partner: str, event: ChatEvent) -> int:
    return len(event.text.encode("utf-8", "replace")) + len(event.nick) + len(partner) + ENTRY_OVERHEAD


class PrivateMessages:
    def __init__(self, per_client: int = 200, max_bytes: int = 16 << 20, ttl: float = 3600.0) -> None:
        self.per_client = per_client
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.size = 0
        self._tabs: OrderedDict[str, _Tab] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return sum(len(tab.entries) for tab in self._tabs.values())

    def add(self, client: str, partner: str, event: ChatEvent, now: float) -> float | None:
        """Keep ``event`` for ``client``'s conversation with ``partner``. Returns how long
        ago the tab dropped by the byte bound was used, if one was (None otherwise)."""
        self._expire(now)
        tab = self._use(client, now)
        if any(kept is event for _, kept, _ in tab.entries):  # a message to oneself arrives twice
            return None
        size = _size(partner, event)
        tab.entries.append((partner, event, size))
        tab.size += size
        self.size += size
        while len(tab.entries) > self.per_client:
            self._drop_oldest(tab)
        idle = None
        while self.size > self.max_bytes:
            oldest_client, oldest = next(iter(self._tabs.items()))
            if oldest is tab:  # this tab alone is over the bound: its own oldest go
                self._drop_oldest(tab)
                continue
            idle = now - oldest.used
            del self._tabs[oldest_client]
            self.size -= oldest.size
        return idle

    def replay(self, client: str, now: float) -> list[tuple[str, ChatEvent]]:
        """The tab's kept messages, oldest first, each with the other party's nick."""
        self._expire(now)
        if client not in self._tabs:
            return []
        return [(partner, event) for partner, event, _ in self._use(client, now).entries]

    def _use(self, client: str, now: float) -> _Tab:
        tab = self._tabs.pop(client, None) or _Tab(now)
        tab.used = now
        self._tabs[client] = tab
        return tab

    def _drop_oldest(self, tab: _Tab) -> None:
        _, _, size = tab.entries.popleft()
        tab.size -= size
        self.size -= size

    def _expire(self, now: float) -> None:
        while self._tabs:
            client, tab = next(iter(self._tabs.items()))
            if now - tab.used <= self.ttl:
                break
            del self._tabs[client]
            self.size -= tab.size
