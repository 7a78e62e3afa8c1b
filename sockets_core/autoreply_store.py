"""Where the chat services' auto-response rules live between runs.

The responders (one ``AutoResponder`` per chat service) answer in this process; a store
owns them and keeps their rules somewhere that outlives the process. ``AutoReplyStore``
holds everything but the storage: checking and applying rules, what one service's change
means for the whole set. A backend implements two methods, ``_read`` and ``_write``, so
a store shared by several instances (Redis) is a subclass, not a rewrite; such a backend
calls ``apply`` when another instance changed the rules.
``FileAutoReplyStore`` is the one-process default: ``autoreply.json`` in the data dir.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .chat.autoreply import AutoResponder, RuleError

log = logging.getLogger(__name__)

AUTOREPLY_FILE = "autoreply.json"
StoredRules = dict[str, list[dict[str, Any]]]  # service name -> its rules, as the API shows them


class AutoReplyStore(ABC):
    def __init__(self, services: Iterable[str]) -> None:
        self.responders: dict[str, AutoResponder] = {name: AutoResponder() for name in services}

    def load(self) -> None:
        """Apply the stored rules (an unreadable or bad store is logged; the rules stay empty)."""
        try:
            stored = self._read()
            if stored is not None:
                self.apply(stored)
        except (OSError, ValueError, RuleError) as exc:
            log.error("auto-responses in %s not loaded: %s", self.where(), exc)

    def apply(self, stored: Mapping[str, list[dict[str, Any]]]) -> None:
        """Rules read from the store (or announced by another instance): services not ours are ignored."""
        for name, rules in stored.items():
            if name in self.responders:
                self.responders[name].set_rules(rules)

    def set_rules(self, name: str, rules: list[dict[str, Any]]) -> None:
        """Replace a service's rules (RuleError names what is wrong; nothing changes then), then store all."""
        self.responders[name].set_rules(rules)
        self._write(self.snapshot())

    def snapshot(self) -> StoredRules:
        return {name: [r.as_dict() for r in responder.rules] for name, responder in self.responders.items()}

    @abstractmethod
    def _read(self) -> Mapping[str, list[dict[str, Any]]] | None:
        """The stored rules, None when nothing was ever stored."""

    @abstractmethod
    def _write(self, stored: StoredRules) -> None:
        """Store every service's rules at once (so a reader never sees half a change)."""

    @abstractmethod
    def where(self) -> str:
        """Where the rules are kept, for log lines."""


class FileAutoReplyStore(AutoReplyStore):
    def __init__(self, services: Iterable[str], data_dir: Path) -> None:
        super().__init__(services)
        self.path = data_dir / AUTOREPLY_FILE

    def _read(self) -> Mapping[str, list[dict[str, Any]]] | None:
        if not self.path.exists():
            return None
        stored = json.loads(self.path.read_text(encoding="utf-8"))
        if not isinstance(stored, dict):
            raise ValueError("not a JSON object of service -> rules")
        return stored

    def _write(self, stored: StoredRules) -> None:
        temp = self.path.with_name(self.path.name + ".part")  # written whole, then renamed over
        temp.write_text(json.dumps(stored, ensure_ascii=False, indent=1), encoding="utf-8")
        temp.replace(self.path)

    def where(self) -> str:
        return str(self.path)
