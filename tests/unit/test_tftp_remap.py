"""tftp-hpa filename remapping (sockets_core/tftp/remap.py, posix_regex.py)."""

from __future__ import annotations

import ctypes
import ctypes.util
import locale
import logging
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sockets_core.names import from_bytes
from sockets_core.tftp.posix_regex import PosixPattern, PosixRegexError
from sockets_core.tftp.remap import LOOP_MESSAGE, MAX_STEPS, RemapFile, RemapRefused, RemapRules, RemapSyntaxError
from sockets_core.tftp.remap_escapes import client_address, expand

# /usr/share/doc/tftpd-hpa/examples/sample.rules, the example map tftp-hpa ships
SAMPLE = r"""#
# Sample rule file for the -m (remapping option)
#
ri	^[a-z]:				# Remove "drive letters"
rg	\\		/		# Convert backslashes to slashes
rg	\#		@		# Convert hash marks to @ signs
rg	/../		/..no../	# Convert /../ to /..no../
e	^ok/				# These are always ok
r	^[^/]		/tftpboot/\0	# Convert non-absolute files
a	\.pvt$				# Reject requests for private files
"""


def remap(map_text: str, name: str, ip: str = "192.0.2.169", write: bool = False) -> str:
    return RemapRules.parse(map_text).apply(name, ip, write)


# -- the sample map and the man page's examples -------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("C:\\boot\\pxelinux.0", "/boot/pxelinux.0"),  # drive letter (ri), backslashes (rg)
    ("c:boot", "/tftpboot/boot"),
    ("a#b#c", "/tftpboot/a@b@c"),
    ("/x/../../y", "/x/..no../..no../y"),  # rg repeats until no match: both /../ go
    ("ok/secret.pvt", "ok/secret.pvt"),  # e: later rules (the a rule) are not run
    ("pxelinux.0", "/tftpboot/pxelinux.0"),
    ("/abs/file", "/abs/file"),
])
def test_sample_rules(name: str, expected: str) -> None:
    assert remap(SAMPLE, name) == expected


def test_sample_rules_refuse_private_files() -> None:
    with pytest.raises(RemapRefused) as caught:
        remap(SAMPLE, "keys.pvt")
    assert caught.value.line == 10 and str(caught.value) == "Access denied" and not caught.value.looped


@pytest.mark.parametrize("ip, i_text, x_text", [
    ("192.0.2.169", "192.0.2.169", "C00002A9"),  # tftpd(8)'s examples
    ("2001:db8::1", "2001:db8::1", "20010DB8000000000000000000000001"),
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::1", "20010DB8000000000000000000000001"),
    ("::ffff:10.0.0.1", "10.0.0.1", "0A000001"),  # an IPv4 client on a dual-stack socket
    ("fe80::1%eth0", "fe80::1", "FE800000000000000000000000000001"),
])
def test_client_address_escapes(ip: str, i_text: str, x_text: str) -> None:
    assert remap(r"r ^ \i/", "pxelinux.0", ip) == f"{i_text}/pxelinux.0"
    assert remap(r"r ^ \x/", "pxelinux.0", ip) == f"{x_text}/pxelinux.0"


# -- flags --------------------------------------------------------------------------------

def test_r_replaces_the_first_match_only_and_g_repeats() -> None:
    assert remap(r"r \\ /", "a\\b\\c") == "a/b\\c"
    assert remap(r"rg \\ /", "a\\b\\c") == "a/b/c"
    assert remap(r"g \\ /", "a\\b") == "a\\b"  # g without r does nothing, as in tftpd


def test_g_repeats_on_the_rewritten_name() -> None:
    # each pass matches the result of the last: "aaa" -> "aa" -> "a" (sed's s///g would give "aa")
    assert remap("rg aa a", "aaaa") == "a"


def test_i_matches_case_insensitively_ascii_only() -> None:
    assert remap(r"ri ^PXELINUX\.0$ pxelinux.0", "PxeLinux.0") == "pxelinux.0"
    assert remap(r"r ^PXELINUX\.0$ pxelinux.0", "PxeLinux.0") == "PxeLinux.0"
    assert remap("ri é x", "É") == "É"  # C locale: only ASCII letters fold


def test_e_ends_and_s_restarts_from_the_first_rule() -> None:
    rules = "r ^b c\ne ^a\nr a b\n"
    assert remap(rules, "ax") == "ax"  # e: the third rule is not run
    # s: after "a" -> "b" the first rule runs again ("b" -> "c"); tftp-hpa 5.2 resumed at rule 2
    assert remap("r ^b c\nrs ^a b\n", "ax") == "cx"


def test_a_refuses_with_the_replacement_as_message() -> None:
    with pytest.raises(RemapRefused) as caught:
        remap("r x y\n\n# no\na ^(secret)/(.*) \\1\\ files\\ are\\ private:\\ \\2\n", "secret/k")
    assert str(caught.value) == "secret files are private: k" and caught.value.line == 4


def test_G_and_P_choose_reads_or_writes() -> None:
    rules = "rG ^ get/\nrP ^ put/\n"
    assert remap(rules, "f", write=False) == "get/f"
    assert remap(rules, "f", write=True) == "put/f"
    with pytest.raises(RemapRefused):
        remap("aP .", "f", write=True)
    assert remap("aP .", "f", write=False) == "f"


def test_4_and_6_choose_the_address_family() -> None:
    rules = "r4 ^ v4/\nr6 ^ v6/\n"
    assert remap(rules, "f", "10.0.0.1") == "v4/f"
    assert remap(rules, "f", "::ffff:10.0.0.1") == "v4/f"
    assert remap(rules, "f", "2001:db8::7") == "v6/f"


def test_tilde_runs_a_rule_when_the_regex_does_not_match() -> None:
    with pytest.raises(RemapRefused):
        remap(r"a~ ^pxe", "etc/passwd")
    assert remap(r"a~ ^pxe", "pxelinux.0") == "pxelinux.0"
    assert remap("e~ ^pxe\nr ^ x/", "other") == "other"


# -- replacement escapes ------------------------------------------------------------------

@pytest.mark.parametrize("rule, name, expected", [
    (r"r ^(.*)\.(.*)$ \2.\1", "a.b", "b.a"),
    (r"r (x)|(y) [\1|\2]", "y", "[|y]"),  # a group that took no part is empty
    (r"r ^(.)(.)(.)(.)(.)(.)(.)(.)(.)(.) \9\8\7\6\5\4\3\2\1\0", "abcdefghij", "ihgfedcbaabcdefghij"),
    (r"r .* \U\0", "Boot/PXE.0", "BOOT/PXE.0"),
    (r"r .* \L\0", "Boot/PXE.0", "boot/pxe.0"),
    (r"r ^([^/]*)/(.*) \U\1\E/\2", "boot/pxe.0", "BOOT/pxe.0"),
    (r"r ^ \Uup-\i-", "f", "UP-192.0.2.169-f"),  # case applies to literal text too, as in tftpd
    (r"r ^ \L\x/", "f", "c00002a9/f"),
    (r"r x a\\b", "x", "a\\b"),
    (r"r x a\ b", "x", "a b"),
    (r"r x a\#b", "x", "a#b"),
    (r"r x a\qb", "x", "aqb"),  # an unknown escape is its character
    ("r x a\\", "x", "a\\"),  # a final lone backslash stays
    (r"r x", "axb", "ab"),  # no replacement: the match is removed
])
def test_replacement_escapes(rule: str, name: str, expected: str) -> None:
    assert remap(rule, name) == expected


# -- POSIX ERE where it differs from Python re ----------------------------------------------

@pytest.mark.parametrize("rule, name, expected", [
    (r"r [[:digit:]]+ N", "pxe42.0", "pxeN.0"),
    (r"r ^[[:upper:][:punct:]]+ X", "AB_C.d", "Xd"),
    (r"r [\d] X", "1d\\", "1X\\"),  # in a bracket a backslash is itself: [\d] is '\' or 'd'
    (r"r \d X", "1d", "1X"),  # outside, \d is a 'd' (no digit class in ERE)
    (r"r [[.-.]a] X", "-", "X"),
    (r"r []x]+ X", "]x]y", "Xy"),
    (r"r a+? X", "aaa", "X"),  # ERE stacks quantifiers, greedy; re's a+? would take one
    (r"r a** X", "aa", "X"),
    (r"r x) Y", "x)", "Y"),  # an unmatched ) is an ordinary character
    (r"r (a|ab)(c|bcd)? X", "abcd", "X"),  # POSIX: the longest match from the leftmost start
    (r"r ^(ab)?(abcd)? X", "abcd", "X"),
    (r"r a{,2} X", "aaa", "Xa"),
    ("r x$ Y", "x\n", "x\n"),  # $ is the very end (re's $ also matches before a final \n)
    ("r x.y Z", "x\ny", "Z"),  # . matches a newline
    (r"r \<b X", "a b", "a X"),  # glibc's word escapes
])
def test_posix_extended_syntax(rule: str, name: str, expected: str) -> None:
    assert remap(rule, name) == expected


@pytest.mark.parametrize("ere", ["*a", "a|*", "(", "a\\", "[a", "[[:digits:]]", "[z-a]", "[a-c-e]",
                                 "a{2,1}", "a{x}", "[[.ab.]]", "(a)\\2"])
def test_bad_regexes_are_refused(ere: str) -> None:
    with pytest.raises(PosixRegexError):
        PosixPattern(ere.encode())


def test_names_are_bytes_as_for_tftpd() -> None:
    gbk = from_bytes("你好.BIN".encode("gbk"))  # not UTF-8: carried as surrogates
    assert remap(r"ri \.bin$ .img", gbk) == from_bytes("你好.img".encode("gbk"))
    assert remap(r"r ^. X", "é") == from_bytes(b"X\xa9")  # . is one byte, in the C locale
    assert remap(r"r é e", "café") == "cafe"


def test_leading_slash_is_part_of_the_name() -> None:
    assert remap(r"r ^/ ", "/pxelinux.0") == "pxelinux.0"
    assert remap(r"r ^pxe x", "/pxelinux.0") == "/pxelinux.0"
    assert remap(r"r ^ /", "pxelinux.0") == "/pxelinux.0"


# -- the step bound -----------------------------------------------------------------------

def test_a_looping_map_is_refused_after_max_steps() -> None:
    for rules in ("rs ^a b\nrs ^b a\n", "rg a a\n"):
        with pytest.raises(RemapRefused) as caught:
            remap(rules, "a")
        assert str(caught.value) == LOOP_MESSAGE and caught.value.line is None and caught.value.looped
    assert MAX_STEPS == 4096  # tftp-hpa's DAEMON_DEFAULT_MAP_STEPS


def test_max_steps_counts_rule_tests_and_g_repeats() -> None:
    # "aa": rule 1 tested (1), rule 2 tested (2), matched again after its first rewrite (3);
    # as in tftp-hpa's rewrite_string, the search that finds no more match costs nothing
    rules = "r x y\nrg a b\n"
    assert RemapRules.parse(rules, max_steps=3).apply("aa", "10.0.0.1", False) == "bb"
    with pytest.raises(RemapRefused):
        RemapRules.parse(rules, max_steps=2).apply("aa", "10.0.0.1", False)
    # rules that do not apply to this request cost nothing
    assert RemapRules.parse("rP x y\n" * 10 + "r a b", max_steps=1).apply("a", "10.0.0.1", False) == "b"


# -- the indexed scan against tftpd's plain loop ------------------------------------------

def reference_apply(rules: RemapRules, name: str, ip: str, write: bool, max_steps: int) -> str:
    """rewrite_string as tftp-hpa writes it: every applicable rule tested in turn."""
    current, (version, address) = name.encode("utf-8", "surrogateescape"), client_address(ip)
    applicable = [r for r in rules._rules if r.applies(write, version)]
    steps, index = max_steps, 0
    while index < len(applicable):
        rule, index, steps = applicable[index], index + 1, steps - 1
        if steps < 0:
            raise RemapRefused(LOOP_MESSAGE, None)
        match = rule.regex.search(current)
        if (match is None) != rule.inverse:
            continue
        if rule.refuse:
            message = expand(rule.replacement, match, current, address).decode()
            raise RemapRefused(message or "Access denied", rule.line)
        while rule.rewrite and match is not None:
            replaced = expand(rule.replacement, match, current, address)
            current = current[:match.start()] + replaced + current[match.end():]
            if not rule.repeat:
                break
            match = rule.regex.search(current)
            if match is not None:
                steps -= 1
                if steps < 0:
                    raise RemapRefused(LOOP_MESSAGE, None)
        if rule.end:
            break
        if rule.restart:
            index = 0
    return current.decode("utf-8", "surrogateescape")


_RULES = st.sampled_from([
    "r ^ab x", "ri ^AB y", "r ^b a", "rs ^x ab", "rg a b", "e ^y", "a ^yy", "ri B a", "r ^ba$ bb",
    "a~ ^[abxy]*$", "rG ^a g", "rP ^a p", "r4 ^b 4", "r6 ^b 6", "rgi ^a b", "e~ b", "rs ^bb b", "r (a|ab)b \\1",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(_RULES, max_size=12), st.text("abAByx", max_size=6), st.booleans(),
       st.sampled_from(["10.0.0.1", "2001:db8::1"]), st.integers(1, 40))
def test_the_indexed_scan_is_tftpds_loop(lines: list[str], name: str, write: bool, ip: str, max_steps: int) -> None:
    """Skipping rules that cannot match changes neither the result nor when the step bound bites."""
    rules = RemapRules.parse("\n".join(lines), max_steps=max_steps)

    def outcome(run):
        try:
            return run()
        except RemapRefused as refused:
            return ("refused", str(refused), refused.line)

    assert outcome(lambda: rules.apply(name, ip, write)) == outcome(
        lambda: reference_apply(rules, name, ip, write, max_steps))


# -- the map file's syntax ----------------------------------------------------------------

def test_comments_blank_lines_and_escaped_fields() -> None:
    rules = RemapRules.parse("# only a comment\n\n   \t\nr a\\ b c\\#d # comment\r\nr \\# hash\n")
    assert len(rules) == 2
    assert rules.apply("xa b", "10.0.0.1", False) == "xchashd"  # "a b" -> "c#d", then "#" -> "hash"


def test_a_comment_ends_the_line_even_between_fields() -> None:
    assert remap("r a#b c", "a") == ""  # as tftpd: "r a", then the comment


@pytest.mark.parametrize("text, message", [
    ("r a b\n\nq x y\n", "map.txt line 3: unknown flag 'q' (known: r g i e s a G P 4 6 ~)"),
    ("r\n", "map.txt line 1: regex missing"),
    ("# c\nr~ a b\n", "map.txt line 2: flags r and ~ cannot be combined (nothing to replace)"),
    ("rE a b\n", "map.txt line 1: flag E (needs a file check) of newer tftp-hpa is not supported"),
    (":label\n", "map.txt line 1: flag ':' (labels) of newer tftp-hpa is not supported"),
    ("r a b\nr [[:nope:]] x\n", "map.txt line 2: bad regex '[[:nope:]]': invalid character class [:nope:]"),
])
def test_syntax_errors_name_the_file_and_line(text: str, message: str) -> None:
    with pytest.raises(RemapSyntaxError) as caught:
        RemapRules.parse(text, source="map.txt")
    assert str(caught.value) == message


@settings(max_examples=300)
@given(st.binary(max_size=80).filter(lambda b: b"\0" not in b),
       st.lists(st.sampled_from(["", "# comment", "   ", "\t# r a b"]), max_size=5))
def test_a_map_without_rules_is_the_identity(raw: bytes, lines: list[str]) -> None:
    name = from_bytes(raw)
    rules = RemapRules.parse("\n".join(lines))
    assert len(rules) == 0 and rules.apply(name, "10.0.0.1", False) == name


@settings(max_examples=300)
@given(st.binary(max_size=60).filter(lambda b: b"\0" not in b))
def test_rewriting_keeps_every_other_byte(raw: bytes) -> None:
    rules = RemapRules.parse(r"rg \\ /")
    assert rules.apply(from_bytes(raw), "10.0.0.1", False) == from_bytes(raw.replace(b"\\", b"/"))


# -- the regex engine against glibc's, which tftpd uses -----------------------------------

class _RegMatch(ctypes.Structure):
    _fields_ = [("rm_so", ctypes.c_int), ("rm_eo", ctypes.c_int)]


_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))


def _glibc_match(ere: bytes, subject: bytes) -> tuple[int, int] | str | None:
    regex = ctypes.create_string_buffer(1024)  # larger than any glibc regex_t
    if _LIBC.regcomp(regex, ere, 1):  # REG_EXTENDED, as tftpd
        return "error"
    try:
        found = (_RegMatch * 1)()
        if _LIBC.regexec(regex, subject, 1, found, 0):
            return None
        return found[0].rm_so, found[0].rm_eo
    finally:
        _LIBC.regfree(regex)


@pytest.fixture(scope="module")
def c_locale():
    saved = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # in.tftpd never calls setlocale
    yield
    locale.setlocale(locale.LC_CTYPE, saved)


@settings(max_examples=1500, deadline=None)
@given(st.text("ab.*+?|()[]^$\\{},-:1d", min_size=1, max_size=8).filter(lambda s: "\\b" not in s),
       st.text("abAB-\\d{}]1", max_size=6))
def test_match_span_agrees_with_glibc(c_locale: None, ere: str, subject: str) -> None:
    """Word boundaries (\\b) aside, the whole match is the one glibc's regexec finds."""
    expected = _glibc_match(ere.encode(), subject.encode())
    try:
        found = PosixPattern(ere.encode()).search(subject.encode())
        got = None if found is None else found.span()
    except PosixRegexError:
        got = "error"
    if ere.replace(" ", "").startswith("a{\\,"):  # glibc reads a{\,} as an interval; a quirk
        return
    assert got == expected


def _glibc_groups(ere: bytes, subject: bytes) -> list[tuple[int, int]] | None:
    regex = ctypes.create_string_buffer(1024)
    assert _LIBC.regcomp(regex, ere, 1) == 0
    try:
        found = (_RegMatch * 10)()
        if _LIBC.regexec(regex, subject, 10, found, 0):
            return None
        return [(m.rm_so, m.rm_eo) for m in found]
    finally:
        _LIBC.regfree(regex)


@pytest.mark.parametrize("ere, subject", [
    ("[[:alpha:]]+[[:digit:]]", "--ab1"), ("[[:xdigit:]]+", "xDEADbeefg"), ("[^[:space:]]+", "a b"),
    ("[[=a=]b]+", "xaab"), ("(foo|foobar)(bar)?", "foobarbar"), ("a|b|", "xb"),
    ("^(.*)\\.(.*)$", "a.b.c"), ("^([^/]*)/(.*)", "boot/x/y"), ("(a|ab)(bc|c)", "abc"),
    ("^pxelinux\\.cfg/01-(([[:xdigit:]]{2}-){5}[[:xdigit:]]{2})$", "pxelinux.cfg/01-aa-BB-cc-DD-ee-FF"),
    ("^([a-z]+)([0-9]*)\\.bin$", "img42.bin"), ("(x*)(x|xy)(y*)", "xxxyy"), ("((a)|b)+", "ab"),
])
def test_matches_and_groups_agree_with_glibc(c_locale: None, ere: str, subject: str) -> None:
    found = PosixPattern(ere.encode()).search(subject.encode())
    assert found is not None
    ours = [found.span(n) if n <= found.re.groups else (-1, -1) for n in range(10)]
    assert ours == _glibc_groups(ere.encode(), subject.encode())


# -- the file on disk ---------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _write(path: Path, text: str) -> None:
    """Replace the file (a new inode, as an editor or `mv` does)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_remap_file_rereads_a_changed_file_at_most_once_a_second(tmp_path: Path) -> None:
    path, clock = tmp_path / "map", FakeClock()
    _write(path, "r a b\n")
    remap_file = RemapFile(str(path), clock=clock)
    assert remap_file.rules().apply("a", "10.0.0.1", False) == "b"
    _write(path, "r a c\n")
    clock.now += 0.5
    assert remap_file.rules().apply("a", "10.0.0.1", False) == "b"  # not looked at yet
    clock.now += 0.5
    assert remap_file.rules().apply("a", "10.0.0.1", False) == "c"
    with open(path, "a") as file:  # the same inode, a new size
        file.write("r c d\n")
    clock.now += 1.0
    assert remap_file.rules().apply("a", "10.0.0.1", False) == "d"


def test_remap_file_reload_reads_now(tmp_path: Path) -> None:
    path, clock = tmp_path / "map", FakeClock()
    _write(path, "r a b\n")
    remap_file = RemapFile(str(path), clock=clock)
    _write(path, "r a c\nr x y\n")
    remap_file.reload()
    assert remap_file.rules().apply("a", "10.0.0.1", False) == "c" and len(remap_file.rules()) == 2


def test_a_broken_new_version_keeps_the_old_rules_and_warns_once(tmp_path: Path, caplog) -> None:
    path, clock = tmp_path / "map", FakeClock()
    _write(path, "r a b\n")
    remap_file = RemapFile(str(path), clock=clock)
    _write(path, "r a c\nrq x y\n")
    with caplog.at_level(logging.WARNING, logger="sockets_core.tftp.remap"):
        for _ in range(5):
            clock.now += 1.0
            assert remap_file.rules().apply("a", "10.0.0.1", False) == "b"
        remap_file.reload()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one for the change, one for the explicit reload
    assert f"{path} line 2: unknown flag 'q'" in warnings[0] and "keeping the 1 rules" in warnings[0]
    _write(path, "r a c\n")  # fixed: read again
    clock.now += 1.0
    assert remap_file.rules().apply("a", "10.0.0.1", False) == "c"


def test_a_vanished_file_keeps_the_rules(tmp_path: Path, caplog) -> None:
    path, clock = tmp_path / "map", FakeClock()
    _write(path, "r a b\n")
    remap_file = RemapFile(str(path), clock=clock)
    path.unlink()
    with caplog.at_level(logging.WARNING, logger="sockets_core.tftp.remap"):
        for _ in range(3):
            clock.now += 1.0
            assert remap_file.rules().apply("a", "10.0.0.1", False) == "b"
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    _write(path, "r a z\n")
    clock.now += 1.0
    assert remap_file.rules().apply("a", "10.0.0.1", False) == "z"


def test_remap_file_refuses_a_bad_or_missing_file_at_start(tmp_path: Path) -> None:
    path = tmp_path / "map"
    with pytest.raises(OSError):
        RemapFile(str(path))
    path.write_bytes(b"r a b\nx \xff y\n")
    with pytest.raises(RemapSyntaxError) as caught:
        RemapFile(str(path))
    assert str(caught.value) == f"{path} line 2: unknown flag 'x' (known: r g i e s a G P 4 6 ~)"
