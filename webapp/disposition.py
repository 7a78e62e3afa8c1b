"""``Content-Disposition: attachment`` for any file name (RFC 6266).

Browsers read ``filename*=UTF-8''…`` (RFC 8187) and save ``配置.txt``. curl's ``-OJ`` and other
simple clients read only ``filename=``, which must be ASCII: werkzeug fills it by dropping
every non-ASCII character, so ``配置.txt`` became ``.txt``, a hidden file with no name.
Here the fallback is transliterated by anyascii (``配置.txt`` -> ``PeiZhi.txt``, ``привет.cfg``
-> ``privet.cfg``), keeps the extension, holds only characters that are safe in a file name
on Windows, macOS and Linux, and is never empty or hidden.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from anyascii import anyascii

FALLBACK_STEM = "download"
# RFC 8187 attr-char: what may stand unencoded in filename*
ATTR_CHARS = "!#$&+-.^_`|~"
# characters kept in the ASCII name: no quote, backslash, slash, colon, control or wildcard
UNSAFE = re.compile(r"[^A-Za-z0-9 ._()+,=@&!~#'\[\]{}-]+")
TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # RFC 9110: written without quotes, as werkzeug does


def _ascii_part(text: str) -> str:
    return re.sub(r"_{2,}", "_", UNSAFE.sub("_", anyascii(text))).strip(" ._")


def ascii_filename(name: str) -> str:
    """A readable ASCII stand-in for ``name`` that keeps its extension."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem.strip(". "):  # no extension, or a dot file such as ".bashrc"
        stem, extension = name, ""
    stem, extension = _ascii_part(stem), _ascii_part(extension)
    return f"{stem or FALLBACK_STEM}{'.' + extension if extension else ''}"


def attachment(name: str) -> str:
    """The header value: both forms when the name is not plain ASCII, else ``filename=`` alone."""
    fallback = ascii_filename(name)
    written = fallback if TOKEN.fullmatch(fallback) else f'"{fallback}"'  # the fallback holds no " or \\
    plain = f"attachment; filename={written}"
    return plain if fallback == name else f"{plain}; filename*=UTF-8''{quote(name, safe=ATTR_CHARS)}"
