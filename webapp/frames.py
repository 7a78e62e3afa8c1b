"""The one way every WebSocket route sends a JSON message: compact, UTF-8 kept as is."""

from __future__ import annotations

import json
from typing import Any


def to_json(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def send_json(ws: Any, message: dict[str, Any]) -> None:
    ws.send(to_json(message))
