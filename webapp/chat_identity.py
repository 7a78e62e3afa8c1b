"""The web chat's client secret: what lets a browser tab take its nick back after a reconnect.

A tab that reconnects before the server has noticed its old connection is gone finds its
nick still held; it may take it over only by presenting the secret the server gave it in
``welcome``. So the secret must be unguessable and seen by no one else:

- the server issues it (``secrets``, 144 random bits) and never adopts an id a client made
  up: a presented value that this process did not issue is replaced by a new secret. Issued
  secrets are recognised without keeping a list: each is ``RANDOM.MAC``, the MAC an HMAC of
  RANDOM under a key made at start (a restart issues new ones, as it forgets the nicks too).
  With --bus the key is the cluster's (webapp/chat_shared.py), passed in as ``key``, so a tab
  that reconnects to another instance keeps its secret;
- the frames that carry it (the browser's ``hello``, the server's ``welcome``) are recorded
  in the packet log with the value masked by ``*`` of the same byte length (so the recorded
  length stays true), and no page or API shows it (members are listed as nick and transport).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

LOCAL_KEY = secrets.token_bytes(32)  # this process's: embedded mode, or until Redis answers
_CLIENT_FIELD = re.compile(r'("client"\s*:\s*")((?:[^"\\]|\\.)*)(")')


def _mac(nonce: str, key: bytes) -> str:
    digest = hmac.new(key, nonce.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(digest).decode()


def issue(key: bytes = LOCAL_KEY) -> str:
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_mac(nonce, key)}"


def issued_here(presented: str, key: bytes = LOCAL_KEY) -> bool:
    nonce, dot, mac = presented.partition(".")
    return bool(nonce and dot) and hmac.compare_digest(mac.encode(), _mac(nonce, key).encode())


def accept(presented: str, key: bytes = LOCAL_KEY) -> str:
    """The secret this session goes by: the presented one if it was issued under ``key``
    (this process's, or with --bus the cluster's)."""
    return presented if issued_here(presented, key) else issue(key)


def same_secret(a: str, b: str) -> bool:
    return bool(a and b) and hmac.compare_digest(a.encode(), b.encode())


def _stars(text: str, errors: str) -> str:
    return "*" * len(text.encode("utf-8", errors))


def mask_text(text: str, secret: str, errors: str = "surrogatepass") -> str:
    """A frame as the packet log may keep it: every ``"client"`` value, and the session's
    secret wherever else it appears, replaced by ``*`` of the same length in bytes."""
    text = _CLIENT_FIELD.sub(lambda m: m.group(1) + _stars(m.group(2), errors) + m.group(3), text)
    return text.replace(secret, _stars(secret, errors)) if secret else text


def masked_bytes(frame: str | bytes, secret: str) -> bytes:
    if isinstance(frame, bytes):  # a binary frame: masked as text, its other bytes kept as they are
        text = frame.decode("utf-8", "surrogateescape")
        return mask_text(text, secret, "surrogateescape").encode("utf-8", "surrogateescape")
    return mask_text(frame, secret).encode("utf-8", "surrogatepass")
