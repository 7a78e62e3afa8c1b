"""tftp-hpa's filename remapping (``in.tftpd -m FILE``, tftpd(8) "FILENAME REMAPPING"), sans I/O.

A map has one rule a line: flags, a POSIX extended regex, an optional replacement; ``#``
starts a comment, ``\\`` keeps whitespace and ``#`` inside a field. Flags:

- ``r`` replace the match with the replacement; ``g`` repeat the rule until it no longer
  matches; ``i`` match case-insensitively (ASCII, as tftpd in the C locale);
- ``e`` stop after this rule if it matched; ``s`` start over from the first rule;
  ``a`` refuse the request (the replacement, if any, is the message sent);
- ``G`` reads only, ``P`` writes only, ``4`` IPv4 clients only, ``6`` IPv6 clients only;
- ``~`` the rule applies when the regex does *not* match (never with ``r``).

Replacement escapes: ``\\0``-``\\9`` the match and its subexpressions, ``\\i`` the client's
address (``192.0.2.169``, ``2001:db8::1``), ``\\x`` the same in upper-case hex (8 or 32
digits), ``\\U``/``\\L``/``\\E`` upper, lower, as-is from here on; ``\\`` before anything
else is that character (``\\\\``, ``\\ ``, ``\\#``).

As tftpd, rules work on the name's bytes (a non-UTF-8 name, carried as surrogates by
``names.from_bytes``, comes back byte-exact), ``.`` is one byte, case folding is ASCII. The
name is matched as the client sent it: a leading ``/`` is part of it (``r ^/ ...`` sees it)
and stays in the result; what a leading ``/`` means is the server's business (tftpd -s: the
root). Where tftp-hpa 5.2 (Debian's in.tftpd) and its current source differ, this follows
the documented behaviour that current tftp-hpa implements: ``s`` restarts at the very first
rule (5.2 resumed at the second) and a ``g`` repetition counts as a step, so a rule like
``rg a a`` is refused after MAX_STEPS instead of spinning forever. Flags 5.2 accepts keep
its precedence (``ra`` refuses, ``es`` ends); current tftp-hpa's ``E``/``j``/labels are
refused with a clear error. A client from ``::ffff:10.0.0.1`` is the IPv4 client 10.0.0.1.
"""

from __future__ import annotations

import bisect
import logging
import os
import time
from collections.abc import Callable

from .posix_regex import PosixPattern, PosixRegexError
from .remap_escapes import client_address, expand

log = logging.getLogger(__name__)

MAX_STEPS = 4096  # tftp-hpa's DAEMON_DEFAULT_MAP_STEPS: rule tests + g repetitions per name
STAT_INTERVAL = 1.0  # RemapFile looks at the file at most this often (seconds)
LOOP_MESSAGE = "Remap table failure"  # what tftpd sends when a map does not terminate
_FLAGS = frozenset("rgiesaGP46~")
_NEWER_FLAGS = {"E": "E (needs a file check)", "j": "j (jumps)", ":": "':' (labels)"}


class RemapSyntaxError(ValueError):
    """A map that cannot be used; the message names the file and line."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        super().__init__(f"{source} line {line}: {problem}")
        self.source, self.line, self.problem = source, line, problem


class RemapRefused(Exception):
    """The map refuses this name: an ``a`` rule matched (``line`` is its line) or the rules did
    not finish within max_steps (``line`` is None). ``str()`` is the message for ERROR 2."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message, self.line = message, line

    @property
    def looped(self) -> bool:
        """The map did not finish (a limit that bit: worth a WARNING), not a rule's refusal."""
        return self.line is None and self.message == LOOP_MESSAGE


class _Rule:
    """One line of the map, its flags as attributes (apply reads them for every rule)."""

    def __init__(self, line: int, flags: str, regex: PosixPattern, replacement: bytes) -> None:
        self.line, self.flags, self.regex, self.replacement = line, frozenset(flags), regex, replacement
        self.rewrite, self.repeat, self.icase = "r" in flags, "g" in flags, "i" in flags
        self.end, self.restart, self.refuse, self.inverse = "e" in flags, "s" in flags, "a" in flags, "~" in flags
        self.needle = regex.needle.lower() if self.icase else regex.needle

    def applies(self, write: bool, version: int) -> bool:
        kind_ok = not (("G" in self.flags and write) or ("P" in self.flags and not write))
        family_ok = not (("4" in self.flags and version != 4) or ("6" in self.flags and version != 6))
        return kind_ok and family_ok


def _fields(line: str) -> list[str]:
    """tftp-hpa's readescstring, three times: fields end at unescaped whitespace; an unescaped
    '#' ends the line; backslashes stay (regex and replacement read them)."""
    fields: list[str] = []
    i, n = 0, len(line)
    while len(fields) < 3:
        while i < n and line[i] in " \t\n\v\f\r":
            i += 1
        start, escaped = i, False
        while i < n and (escaped or (line[i] not in " \t\n\v\f\r#")):
            escaped = not escaped and line[i] == "\\"
            i += 1
        if i == start:
            break
        fields.append(line[start:i])
    return fields


def _rule(fields: list[str], lineno: int, source: str) -> _Rule:
    flags = fields[0]
    for flag in flags:
        if flag in _NEWER_FLAGS:
            raise RemapSyntaxError(source, lineno, f"flag {_NEWER_FLAGS[flag]} of newer tftp-hpa is not supported")
        if flag not in _FLAGS:
            raise RemapSyntaxError(source, lineno, f"unknown flag {flag!r} (known: r g i e s a G P 4 6 ~)")
    if "r" in flags and "~" in flags:
        raise RemapSyntaxError(source, lineno, "flags r and ~ cannot be combined (nothing to replace)")
    if len(fields) < 2:
        raise RemapSyntaxError(source, lineno, "regex missing")
    try:
        regex = PosixPattern(_bytes(fields[1]), ignore_case="i" in flags)
    except PosixRegexError as exc:
        raise RemapSyntaxError(source, lineno, f"bad regex {fields[1]!r}: {exc}") from None
    replacement = _bytes(fields[2]) if len(fields) > 2 else b""
    return _Rule(lineno, flags, regex, replacement)


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class _Plan:
    """The rules one kind of request runs (read/write, IPv4/IPv6), in order, indexed so a long
    map is not scanned rule by rule: a rule whose regex starts with ``^literal`` can only match
    a name that starts so, which one dict look-up per literal length finds."""

    def __init__(self, rules: list[_Rule]) -> None:
        self.rules = rules
        self.always: list[int] = []  # rules to test whatever the name's start
        self.by_start: dict[tuple[bool, int], dict[bytes, list[int]]] = {}
        for index, rule in enumerate(rules):
            if rule.needle and rule.regex.anchored and not rule.inverse:
                table = self.by_start.setdefault((rule.icase, len(rule.needle)), {})
                table.setdefault(rule.needle, []).append(index)
            else:
                self.always.append(index)

    def candidates(self, current: bytes, lowered: bytes) -> list[int]:
        """The rules that may match ``current``, in order; the others cannot."""
        found = list(self.always)
        for (icase, length), table in self.by_start.items():
            hit = table.get((lowered if icase else current)[:length])
            if hit:
                found += hit
        found.sort()
        return found


class RemapRules:
    def __init__(self, rules: list[_Rule], max_steps: int = MAX_STEPS) -> None:
        self._rules = rules
        self.max_steps = max_steps
        # the rules each kind of request runs (the others cost no step, as in tftpd)
        self._plans = {(write, version): _Plan([r for r in rules if r.applies(write, version)])
                       for write in (False, True) for version in (4, 6)}

    @classmethod
    def parse(cls, text: str, source: str = "map", max_steps: int = MAX_STEPS) -> RemapRules:
        """Rules from a map's text (a file's bytes as ``names.from_bytes`` gives them).
        Raises RemapSyntaxError for the first bad line."""
        rules = []
        for lineno, line in enumerate(text.split("\n"), 1):
            fields = _fields(line.replace("\r", "").replace("\0", ""))
            if fields:
                rules.append(_rule(fields, lineno, source))
        return cls(rules, max_steps)

    def __len__(self) -> int:
        return len(self._rules)

    def apply(self, filename: str, client_ip: str, write: bool) -> str:
        """The name to serve for ``filename`` asked by ``client_ip``. Raises RemapRefused."""
        if not self._rules:
            return filename
        try:
            current = filename.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate that stands for no byte: no such file
            raise RemapRefused("not a valid file name", None) from None
        version, address = client_address(client_ip)
        plan = self._plans[(write, version)]
        rules = plan.rules
        steps, index = self.max_steps, 0
        lowered = current.lower()
        candidates = plan.candidates(current, lowered)
        at = 0  # candidates[at] is the next rule that may match
        while True:
            if at >= len(candidates):
                if steps - (len(rules) - index) < 0:  # tftpd would have tested them all
                    raise RemapRefused(LOOP_MESSAGE, None)
                break
            position = candidates[at]
            at += 1
            steps -= position - index + 1  # the rules passed over were tested and failed
            index = position + 1
            if steps < 0:
                raise RemapRefused(LOOP_MESSAGE, None)
            rule = rules[position]
            needle = rule.needle
            if needle and not rule.regex.anchored and needle not in (lowered if rule.icase else current):
                match = None
            else:
                match = rule.regex.search(current)
            if (match is None) != rule.inverse:
                continue
            if rule.refuse:
                message = expand(rule.replacement, match, current, address).decode("utf-8", "replace")
                raise RemapRefused(message or "Access denied", rule.line)
            changed = False
            while rule.rewrite and match is not None:
                current = (current[:match.start()] + expand(rule.replacement, match, current, address)
                           + current[match.end():])
                changed = True
                if not rule.repeat:
                    break
                match = rule.regex.search(current)
                if match is not None:  # g: each repetition is a step, so "rg a a" ends (5.2 spun)
                    steps -= 1
                    if steps < 0:
                        raise RemapRefused(LOOP_MESSAGE, None)
            if rule.end:
                break
            if rule.restart:
                index = 0
            if changed or rule.restart:
                if changed:
                    lowered = current.lower()
                    candidates = plan.candidates(current, lowered)
                at = bisect.bisect_left(candidates, index)
        return current.decode("utf-8", "surrogateescape")


class RemapFile:
    """A map file on disk, read again when it changes (or on ``reload``, for SIGHUP)."""

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic,
                 max_steps: int = MAX_STEPS) -> None:
        """Reads the file now. Raises RemapSyntaxError or OSError."""
        self.path, self._clock, self._max_steps = path, clock, max_steps
        self._signature: tuple[int, int, int, int] | None = self._stat()
        self._rules = self._read()
        self._checked = clock()

    def rules(self) -> RemapRules:
        now = self._clock()
        if now - self._checked >= STAT_INTERVAL:
            self._checked = now
            try:
                signature = self._stat()
            except OSError as exc:  # gone or unreadable for now: keep serving the rules we have
                if self._signature is not None:
                    log.warning("tftp map %s: %s; keeping the %d rules read before", self.path,
                                exc.strerror or exc, len(self._rules))
                self._signature = None
                return self._rules
            if signature != self._signature:
                self._signature = signature  # a broken version is reported once, not every second
                self._load()
        return self._rules

    def reload(self) -> None:
        try:
            self._signature = self._stat()
        except OSError:
            self._signature = None
        self._checked = self._clock()
        self._load()

    def _load(self) -> None:
        try:
            self._rules = self._read()
        except (RemapSyntaxError, OSError) as exc:
            log.warning("tftp map %s not reloaded, keeping the %d rules read before: %s",
                        self.path, len(self._rules), exc)
        else:
            log.info("tftp map %s reloaded: %d rules", self.path, len(self._rules))

    def _read(self) -> RemapRules:
        with open(self.path, "rb") as file:
            text = file.read().decode("utf-8", "surrogateescape")
        return RemapRules.parse(text, source=self.path, max_steps=self._max_steps)

    def _stat(self) -> tuple[int, int, int, int]:
        st = os.stat(self.path)
        return st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev
