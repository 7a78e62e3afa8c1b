"""The room limits of one client: how many rooms it is in, how many it opened, and the cap
on rooms in the table. Nothing a client does grows the table without bound (limits.py);
a refusal tells the client which limit it hit and logs a throttled WARNING.

Members of other instances (chat/remote.py) sit in the same table, so they count as
"someone else in the room"; their own instance checks their budgets.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..logthrottle import ThrottledWarning
from .limits import WARNING_INTERVAL, ChatLimits
from .names import ChatError
from .rooms import DEFAULT_ROOM, RoomLimitError, RoomTable

if TYPE_CHECKING:
    from .hub import Member

log = logging.getLogger("sockets_core.chat.hub")  # the hub's warnings, as before the split


class RoomBudget:
    def __init__(self, room_table: RoomTable[Member], limits: ChatLimits) -> None:
        self.room_table = room_table
        self.limits = limits
        self._warnings = ThrottledWarning(log, WARNING_INTERVAL)

    def opened_rooms(self, member: Member) -> set[str]:
        """The rooms it opened that no one else is in: they count against its budget until
        they close (``room_ttl`` after the last one leaves) or someone else comes."""
        return {r for r in member.opened if self.room_table.members_other_than(r, member) == 0}

    def check(self, member: Member, room: str, switching: bool, now: float) -> None:
        """A client is in at most ``rooms_per_client`` rooms and has at most as many open
        that it opened; a new room needs space in the table. ChatError says which bit."""
        cap = self.limits.rooms_per_client
        if not switching and len(member.rooms) >= cap:
            self._refuse(member, room, now, f"is in {len(member.rooms)} rooms (limit {cap})",
                         f"you are in {len(member.rooms)} rooms, the limit; leave one first")
        if room in self.room_table:
            return
        opened = self.opened_rooms(member)
        if len(opened) >= cap:
            self._refuse(member, room, now, f"opened {len(opened)} rooms still open (limit {cap})",
                         f"you opened {len(opened)} rooms that are still open, the limit (a room closes "
                         f"{self.limits.room_ttl:.0f} s after the last one leaves it); join an existing room "
                         "or wait")
        leaving_frees_one = switching and any(
            r != DEFAULT_ROOM and self.room_table.members_other_than(r, member) == 0 for r in member.rooms)
        if not self.room_table.has_space() and not leaving_frees_one:
            self._refuse(member, room, now, f"found all {len(self.room_table)} rooms (limit) in use",
                         f"the chat has {len(self.room_table)} rooms, the limit, and none is empty: "
                         "join an existing room")

    def _refuse(self, member: Member, room: str, now: float, logged: str, told: str) -> None:
        self._warnings.warn("chat: %s (%s) %s: refused #%s", member.peer, member.nick, logged, room,
                            key=logged.split(" ", 1)[0] + ":" + member.peer, now=now)
        raise ChatError(told)

    def open(self, member: Member, room: str, now: float) -> None:
        try:
            evicted = self.room_table.open(room, member, now)
        except RoomLimitError:  # check() looked first; only a logic error gets here
            raise ChatError(f"the chat has {len(self.room_table)} rooms, the limit: join an existing room") from None
        member.opened.add(room)
        if evicted is not None:
            name, opener = evicted
            if opener is not None:
                opener.opened.discard(name)
            self._warnings.warn("chat: %d rooms (limit): closed the empty #%s early for #%s of %s",
                                len(self.room_table), name, room, member.peer, key="max-rooms-evict", now=now)
