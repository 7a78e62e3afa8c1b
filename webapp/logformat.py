"""--log-format: how log lines look on stderr.

``text`` (the default) is for a person at a terminal. ``json`` is for journald, Docker and
log shippers: one JSON object per line with ``time`` (ISO 8601, UTC, milliseconds),
``level``, ``logger``, ``message``, ``exception`` (the traceback, when there is one) and any
``extra=`` fields a call passes. The access log (DEBUG, see webapp.http_server) goes the
same way.

The JSON comes from python-json-logger (it already knows which LogRecord attributes are
the standard ones and which are extras, and renames fields); this module only fixes the
time format and the one thing a log line must survive here: a name that is not UTF-8 (a
GBK file name reaches Python as a str with surrogate escapes). Such a record is written
with every string made readable (sockets_core.textcodec.readable), as the WebSocket
frames are (webapp.frames), so the line stays one valid UTF-8 JSON object.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from sockets_core.textcodec import has_surrogates

from .frames import readable_tree

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message")
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger", "exc_info": "exception",
           "stack_info": "stack"}


class JsonLineFormatter(JsonFormatter):
    def __init__(self) -> None:
        super().__init__(list(JSON_FIELDS), rename_fields=RENAMED, json_ensure_ascii=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def jsonify_log_record(self, log_data: Any) -> str:
        text = super().jsonify_log_record(log_data)
        if has_surrogates(text):  # rare: only lines that carry a non-UTF-8 name pay for the rebuild
            text = super().jsonify_log_record(readable_tree(dict(log_data)))
        return text


def formatter(log_format: str) -> logging.Formatter:
    return JsonLineFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(level: str, log_format: str, stream: Any = None) -> None:
    """The root logger writes to ``stream`` (stderr) at ``level`` in ``log_format``."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level, handlers=[handler])
