"""POSIX extended regular expressions (egrep, glibc ``regcomp(REG_EXTENDED)``) as Python ``re``.

tftp-hpa compiles a map's regexes with glibc in the C locale, so they work on bytes and
mean something else than the same text does for Python ``re``. ``translate`` rewrites one
into a bytes pattern that ``re`` reads the POSIX way:

- a bracket expression takes ``\\`` literally and knows ``[:digit:]``, ``[=a=]``, ``[.-.]``
  (in ``re`` ``[\\d]`` is a digit class, in ERE a backslash or a "d");
- ``\\c`` outside brackets is the character c, except glibc's own escapes (``\\w \\W \\s \\S
  \\b \\B \\< \\> \\` \\'`` and back-references ``\\1``-``\\9``): ``\\d`` is a "d", not a digit;
- ``$`` is the end of the string only (``re``'s ``$`` also matches before a final newline),
  ``.`` matches a newline too;
- quantifiers stack (``a**``, ``a+?`` is ``(a+)?``: greedy, never ``re``'s lazy ``+?``);
- an unmatched ``)`` is an ordinary character; a bad interval, class, range or a ``*`` with
  nothing before it is an error, as with glibc.

What this cannot copy: POSIX takes the longest of the matches starting leftmost, ``re``
the first its backtracking finds. ``PosixPattern.search`` makes the whole match the
longest one, and its ``\\1``..``\\9`` are glibc's too for all but degenerate regexes: a
group repeated by ``*`` that can match empty (``(b||ba)*`` on "ba": glibc's ``\\1`` is "ba",
re's is empty), an empty alternative beside a group (``|()``). A fuzz of 100,000 regexes
over ``ab()|*?`` found no other difference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

RE_DUP_MAX = 0x7FFF  # glibc's bound on an interval's numbers

# The C locale's classes (tftpd never calls setlocale), as byte ranges for a Python class.
_CLASSES: dict[str, bytes] = {
    "alpha": rb"A-Za-z", "digit": rb"0-9", "alnum": rb"0-9A-Za-z", "upper": rb"A-Z",
    "lower": rb"a-z", "space": rb"\t\n\x0b\x0c\r ", "blank": rb"\t ", "xdigit": rb"0-9A-Fa-f",
    "punct": rb"!-/:-@\[-`{-~", "print": rb" -~", "graph": rb"!-~", "cntrl": rb"\x00-\x1f\x7f",
}
END_MARK = b"\x00END\x00"  # where a "$" goes; filled in per variant (no name holds NUL)
_WORD, _NOT_WORD = rb"[0-9A-Za-z_]", rb"[^0-9A-Za-z_]"
_GNU_ESCAPES: dict[int, tuple[bytes, bool]] = {  # byte -> (re text, is an anchor)
    ord("w"): (_WORD, False), ord("W"): (_NOT_WORD, False),
    ord("s"): (rb"[\t\n\x0b\x0c\r ]", False), ord("S"): (rb"[^\t\n\x0b\x0c\r ]", False),
    ord("b"): (rb"\b", True), ord("B"): (rb"\B", True),
    ord("<"): (rb"\b(?=[0-9A-Za-z_])", True), ord(">"): (rb"\b(?<=[0-9A-Za-z_])", True),
    ord("`"): (rb"\A", True), ord("'"): (END_MARK, True),
}
_INTERVAL = re.compile(rb"\{(\d*)(,?)(\d*)\}")


class PosixRegexError(ValueError):
    pass


@dataclass
class _Group:
    branches: list[list[tuple[bytes, str]]] = field(default_factory=lambda: [[]])

    def text(self) -> bytes:
        return b"|".join(b"".join(atom for atom, _ in branch) for branch in self.branches)


def translate(ere: bytes) -> tuple[bytes, bytes, bool]:
    """The Python bytes pattern for ``ere`` (END_MARK for each ``$``), a literal every match
    holds, and whether the match must start with that literal at the start of the string
    (a cheap test that most rules of a long map fail). Raises PosixRegexError."""
    stack = [_Group()]
    i, n = 0, len(ere)
    while i < n:
        c = ere[i]
        branch = stack[-1].branches[-1]
        if c == ord("("):
            stack.append(_Group())
            i += 1
        elif c == ord(")") and len(stack) > 1:
            group = stack.pop()
            stack[-1].branches[-1].append((b"(" + group.text() + b")", "atom"))
            i += 1
        elif c == ord("|"):
            stack[-1].branches.append([])
            i += 1
        elif c in b"*+?{":
            if c == ord("{"):
                m = _INTERVAL.match(ere, i)
                if not m or not (m.group(1) or m.group(2)):
                    raise PosixRegexError("invalid interval {...}")
                low = int(m.group(1) or 0)  # glibc reads {,n} as {0,n}
                high = low if not m.group(2) else (int(m.group(3)) if m.group(3) else None)
                if low > RE_DUP_MAX or (high is not None and (high > RE_DUP_MAX or high < low)):
                    raise PosixRegexError("invalid interval {...}")
                quantifier = b"{%d,%s}" % (low, b"" if high is None else b"%d" % high)
                i = m.end()
            else:
                quantifier = bytes([c])
                i += 1
            if not branch or branch[-1][1] == "anchor":
                raise PosixRegexError(f"'{quantifier.decode()}' with nothing to repeat")
            atom, kind = branch.pop()
            if kind == "quantified":  # a** and a+? stack in ERE; re would refuse or go lazy
                atom = b"(?:" + atom + b")"
            branch.append((atom + quantifier, "quantified"))
        elif c == ord("["):
            text, i = _bracket(ere, i + 1)
            branch.append((text, "atom"))
        elif c == ord("\\"):
            if i + 1 >= n:
                raise PosixRegexError("trailing backslash")
            e = ere[i + 1]
            i += 2
            if ord("1") <= e <= ord("9"):
                branch.append((b"(?:\\" + bytes([e]) + b")", "atom"))
            elif e in _GNU_ESCAPES:
                text, anchor = _GNU_ESCAPES[e]
                branch.append((text, "anchor" if anchor else "atom"))
            else:
                branch.append((re.escape(bytes([e])), "literal"))
        elif c == ord("^"):
            branch.append((b"^", "anchor"))
            i += 1
        elif c == ord("$"):
            branch.append((END_MARK, "anchor"))
            i += 1
        elif c == ord("."):
            branch.append((b".", "atom"))
            i += 1
        else:
            branch.append((re.escape(bytes([c])), "literal"))
            i += 1
    if len(stack) > 1:
        raise PosixRegexError("unmatched (")
    needle, anchored = _required_literal(stack[0])
    return stack[0].text(), needle, anchored


def _required_literal(top: _Group) -> tuple[bytes, bool]:
    """The longest run of plain characters in a regex without a top-level '|', and whether it
    directly follows a leading '^'."""
    if len(top.branches) != 1:
        return b"", False
    atoms = top.branches[0]
    best, best_at, run, run_at = b"", -1, b"", 0
    for index, (text, kind) in enumerate([*atoms, (b"", "end")]):
        if kind == "literal":
            run_at = index if not run else run_at
            run += text[-1:]  # re.escape only puts a backslash before the byte
            continue
        if len(run) > len(best):
            best, best_at = run, run_at
        run = b""
    anchored = best_at == 1 and atoms[0] == (b"^", "anchor")
    return best, anchored


def _bracket(ere: bytes, i: int) -> tuple[bytes, int]:
    """A bracket expression starting after its '['; returns (re class, index after ']')."""
    n = len(ere)
    negate = i < n and ere[i] == ord("^")
    i += negate
    items: list[bytes] = []
    first = True
    while True:
        if i >= n:
            raise PosixRegexError("unmatched [")
        c = ere[i]
        if c == ord("]") and not first:
            break
        first = False
        if c == ord("[") and i + 1 < n and ere[i + 1] in b":=.":
            kind = ere[i + 1]
            end = ere.find(bytes([kind]) + b"]", i + 2)
            if end < 0:
                raise PosixRegexError("unmatched [")
            name = ere[i + 2:end]
            i = end + 2
            if kind == ord(":"):
                try:
                    items.append(_CLASSES[name.decode("ascii")])
                except (KeyError, UnicodeDecodeError):
                    raise PosixRegexError(f"invalid character class [:{name.decode('latin-1')}:]") from None
                continue
            if len(name) != 1:  # [=a=] and [.-.] name one character in the C locale
                raise PosixRegexError(f"invalid collating element {name.decode('latin-1')!r}")
            low = name[0]
        else:
            low = c
            i += 1
        if i + 1 < n and ere[i] == ord("-") and ere[i + 1] != ord("]"):
            if ere[i + 1] == ord("[") and i + 2 < n and ere[i + 2] == ord("."):
                end = ere.find(b".]", i + 3)
                if end < 0 or end != i + 4:
                    raise PosixRegexError("invalid range end")
                high, i = ere[i + 3], end + 2
            else:
                high, i = ere[i + 1], i + 2
            if high < low or (i + 1 < n and ere[i] == ord("-") and ere[i + 1] != ord("]")):
                raise PosixRegexError("invalid range end")  # z-a, or a-c-e (glibc refuses both)
            items.append(b"\\x%02x-\\x%02x" % (low, high))
        else:
            items.append(b"\\x%02x" % low)
    return b"[" + (b"^" if negate else b"") + b"".join(items) + b"]", i + 1


class PosixPattern:
    """A compiled ERE with POSIX's leftmost-longest whole match."""

    def __init__(self, ere: bytes, ignore_case: bool = False) -> None:
        text, self.needle, self.anchored = translate(ere)
        flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
        try:
            self._regex = re.compile(text.replace(END_MARK, rb"\Z"), flags)
            # the same for a match that must end before the string does: "$" cannot match there
            self._inner = re.compile(text.replace(END_MARK, rb"(?!)"), flags)
        except re.error as exc:
            raise PosixRegexError(str(exc)) from None
        # only a regex that can match in more than one way may have a longer match than re's
        # (a word boundary cannot be tested at a cut-off end: such a regex keeps re's match)
        self._ambiguous = (any(ch in text for ch in (b"*", b"+", b"?", b"{", b"|"))
                           and not any(ch in text for ch in (rb"\b", rb"\B")))
        self.groups = self._regex.groups

    def search(self, data: bytes) -> re.Match[bytes] | None:
        m = self._regex.search(data)
        if m is None or not self._ambiguous or m.end() == len(data):
            return m
        start = m.start()
        whole = self._regex.fullmatch(data, start)  # the longest there is: to the end
        if whole is not None:
            return whole
        for end in range(len(data) - 1, m.end(), -1):
            longer = self._inner.fullmatch(data, start, end)
            if longer is not None:
                return longer
        return m
