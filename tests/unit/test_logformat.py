"""webapp.logformat: --log-format json writes one JSON object per line (time in UTC with
milliseconds, level, logger, message, exception, extra fields); a str holding surrogate
escapes (a GBK name) is made readable rather than breaking the line or its encoding."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator

import pytest

from webapp.logformat import JsonLineFormatter, configure, formatter

GBK_NAME = os.fsdecode("你好".encode("gbk") + b".txt")  # '\udcc4\udce3...' as Python reads it


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    root.handlers.clear()
    out = io.StringIO()
    configure("DEBUG", "json", out)
    yield out
    root.handlers[:], root.level = saved


def lines(out: io.StringIO) -> list[dict]:  # type: ignore[type-arg]
    text = out.getvalue()
    text.encode("utf-8")  # strict: a lone surrogate would raise here, and on a UTF-8 stderr
    return [json.loads(line) for line in text.splitlines()]


def test_one_object_per_line_with_the_fields_and_extras(stream: io.StringIO) -> None:
    logging.getLogger("sockdash.test").warning("refused %d of %s", 3, "x", extra={"peer_count": 3})
    [record] = lines(stream)
    assert set(record) == {"time", "level", "logger", "message", "peer_count"}
    assert record["level"] == "WARNING" and record["logger"] == "sockdash.test"
    assert record["message"] == "refused 3 of x" and record["peer_count"] == 3
    assert len(record["time"]) == len("2026-11-25T13:24:19.247Z") and record["time"].endswith("Z")


def test_a_traceback_stays_in_its_line(stream: io.StringIO) -> None:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        logging.getLogger("sockdash.test").exception("failed")
    [record] = lines(stream)
    assert record["message"] == "failed" and "ValueError: bad\nvalue" in record["exception"]


def test_surrogates_from_a_gbk_name_are_made_readable(stream: io.StringIO) -> None:
    logging.getLogger("sockdash.test").info("sent " + GBK_NAME, extra={"file": GBK_NAME})
    logging.getLogger("sockdash.test").info("中文 stays as it is")
    first, second = lines(stream)
    assert first["message"] == "sent 你好.txt" and first["file"] == "你好.txt"
    assert second["message"] == "中文 stays as it is"


def test_text_is_the_format_people_read() -> None:
    record = logging.LogRecord("sockdash", logging.INFO, __file__, 1, "stopping", None, None)
    assert formatter("text").format(record).endswith(" INFO sockdash: stopping")
    assert isinstance(formatter("json"), JsonLineFormatter)
