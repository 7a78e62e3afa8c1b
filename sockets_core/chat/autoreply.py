"""Auto-responses: rules that answer a message, as the course's servers do.

A rule has a match (``contains`` a word, a ``regex``, or ``any`` message) and a reply
template with {time}, {peer} and {text}. The first rule that matches answers; none, no
answer. The course's UDP server (seed 002) answers every datagram with 收到: one rule
``{"match": "any", "reply": "收到"}``. Its keyword lookup is one ``contains`` rule a word.
Rules come from the network (the admin's API), so they are checked: a bad regex is an
error, a regex is limited in size, and a reply is limited in length.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from ..ratelimit import PerSecondLimit

MATCHES = ("contains", "regex", "any")
MAX_RULES = 200
MAX_PATTERN = 200
MAX_REPLY = 2000
ANSWERS_PER_PEER = 20

log = logging.getLogger(__name__)


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    match: str
    pattern: str
    reply: str
    compiled: re.Pattern[str] | None = None

    def matches(self, text: str) -> bool:
        if self.match == "any":
            return True
        if self.match == "contains":
            return self.pattern in text
        assert self.compiled is not None
        return self.compiled.search(text) is not None

    def as_dict(self) -> dict[str, str]:
        return {"match": self.match, "pattern": self.pattern, "reply": self.reply}


def make_rule(data: dict[str, Any]) -> Rule:
    match = str(data.get("match", ""))
    pattern = str(data.get("pattern", ""))
    reply = str(data.get("reply", ""))
    if match not in MATCHES:
        raise RuleError(f"match must be one of {', '.join(MATCHES)}")
    if match != "any" and not pattern:
        raise RuleError(f"a {match} rule needs a pattern")
    if len(pattern) > MAX_PATTERN or len(reply) > MAX_REPLY:
        raise RuleError(f"pattern at most {MAX_PATTERN} characters, reply at most {MAX_REPLY}")
    if not reply:
        raise RuleError("a rule needs a reply")
    compiled = None
    if match == "regex":
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise RuleError(f"bad regex {pattern!r}: {exc}") from None
    return Rule(match, pattern, reply, compiled)


def render(template: str, text: str, peer: str, now: float) -> str:
    values = {"time": time.strftime("%H:%M:%S", time.localtime(now)), "peer": peer, "text": text}
    return re.sub(r"\{(time|peer|text)\}", lambda m: values[m.group(1)], template)


class AutoResponder:
    """The rules of one service; ``answer`` gives the reply to a message, or None.

    At most ANSWERS_PER_PEER answers a second to one peer: two responders with ``any``
    rules pointed at each other (a UDP tool talking to the UDP chat) would otherwise
    answer each other at network speed, for ever."""

    def __init__(self, per_peer: int = ANSWERS_PER_PEER) -> None:
        self.rules: list[Rule] = []
        self._limit = PerSecondLimit(per_peer)

    def set_rules(self, rules: list[dict[str, Any]]) -> None:
        if len(rules) > MAX_RULES:
            raise RuleError(f"at most {MAX_RULES} rules")
        self.rules = [make_rule(r) for r in rules]  # all or nothing

    def answer(self, text: str, peer: str, *, now: float, wall_time: float, key: str | None = None) -> str | None:
        """``now`` (time.monotonic) is what the per-peer limit counts seconds by: a step of
        the wall clock neither silences nor unleashes a responder. ``wall_time`` (time.time)
        is what {time} shows. ``key`` is what the limit counts by (the peer's IP: a sender
        that changes its source port is still one sender); ``peer`` goes into the template."""
        if not self.rules:
            return None
        over = self._limit.check(key or peer, now)
        if over:
            if over == 1:
                log.warning("auto-response: more than %d answers a second to %s (limit): not answering",
                            self._limit.per_second, peer)
            return None
        for rule in self.rules:
            if rule.matches(text):
                return render(rule.reply, text, peer, wall_time)
        return None
