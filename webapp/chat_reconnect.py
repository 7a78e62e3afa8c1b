"""What lets a web chat tab (webapp/chat_ws.py) come back: the direct messages kept for its
reload (this instance's PrivateMessages, and with --bus the cluster's in Redis,
webapp/chat_shared.py) and, with --bus, the end of its old session here when it reconnected
to another instance (chat_takeover.py).

Apart from the session so chat_ws.py holds only what one connected tab does.
"""

from __future__ import annotations

import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

from sockets_core.chat.hub import ChatEvent, ChatHub, Member
from sockets_core.logthrottle import ThrottledWarning

from .chat_shared import SharedChatState
from .chat_talk import private_messages

if TYPE_CHECKING:
    from .chat_ws import ChatSession

log = logging.getLogger(__name__)

_sessions: weakref.WeakValueDictionary[int, ChatSession] = weakref.WeakValueDictionary()  # id(member) ->


def keep_dm(hub: ChatHub, shared: SharedChatState | None, client: str, partner: str, event: ChatEvent,
            peer: str, warnings: ThrottledWarning) -> None:
    """A direct message of the tab ``client``, kept for its reload here and in the cluster."""
    if not client:
        return
    now = time.time()
    kept = private_messages(hub)
    if shared is not None:  # for a reload on any instance
        shared.keep_dm(client, partner, event, kept.per_client, kept.ttl)
    idle = kept.add(client, partner, event, now)
    if idle is not None:
        warnings.warn("web chat: direct messages kept for reloads passed %d bytes (limit): forgot those of a "
                      "tab last used %.0f s ago; latest from %s", private_messages(hub).max_bytes, idle,
                      peer, key="private")


def kept_dms(hub: ChatHub, shared: SharedChatState | None, client: str) -> list[dict[str, Any]]:
    """The tab's direct messages kept for a reload: the cluster's if Redis answers, else this instance's."""
    local = private_messages(hub)
    dms = shared.dms(client, local.ttl) if shared is not None else None
    if dms is not None:
        return dms
    return [{**e.as_dict(), "with": partner} for partner, e in local.replay(client, time.time())]


def register(session: ChatSession, member: Member) -> None:
    """The session ``member`` is in, for drop_taken_over."""
    _sessions[id(member)] = session


def drop_taken_over(member: Member) -> None:
    """The tab reconnected to another instance (chat_takeover.py): its old session here
    leaves the chat at once and is closed."""
    session = _sessions.get(id(member))
    if session is None or session.member is not member:
        return
    session.member = None  # its nick is the new connection's now
    try:
        session.ws.close(reason=1000, message="reconnected elsewhere")
    except Exception as exc:  # a dead socket's close fails: its feed ends on its own
        log.debug("web chat: closing %s: %s", session.peer, exc)
