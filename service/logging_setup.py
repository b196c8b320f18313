"""Log lines: text or JSON (WF_LOG_FORMAT), at LOG_LEVEL, never carrying raw client bytes.

Anything a client chose (paths, query values, header values, app ids) goes
through ``clean`` before it reaches a log line: control characters and
non-ASCII are escaped and long values truncated, so a ``%0A`` in a path can
never forge a second line. Both formatters also escape the message itself.
Structured fields travel as ``extra={"fields": {...}}``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_FIELD_LIMIT = 200
_MESSAGE_LIMIT = 4000


def clean(value: object, limit: int = _FIELD_LIMIT) -> str:
    """``value`` as printable ASCII: escaped (\\n, \\x00, \\u00e9…) and cut to ``limit`` characters."""
    text = str(value)
    cut = len(text) - limit
    if cut > 0:
        text = text[:limit]
    if not (text.isascii() and text.isprintable()):
        text = text.encode("unicode_escape").decode("ascii")
    return f"{text}…(+{cut} chars)" if cut > 0 else text


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...`` with every value escaped."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """logging's own ``2026-01-02 03:04:05,678``, the seconds part built once per second."""
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return self.default_msec_format % (self._stamp, record.msecs)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = clean(record.message, _MESSAGE_LIMIT)
        line = super().formatMessage(record)
        extra = " ".join(f"{key}={_text_value(value)}" for key, value in _fields(record).items())
        return f"{line} {extra}" if extra else line


def _text_value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    text = clean(value)
    return text if text and " " not in text and '"' not in text else json.dumps(text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the record's fields, exc."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # the seconds part built once per second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            self._second = second
        entry: dict[str, Any] = {
            "time": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": clean(record.getMessage(), _MESSAGE_LIMIT),
        }
        for key, value in _fields(record).items():
            entry[key] = value if isinstance(value, int | float | bool) or value is None else clean(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=True)


def configure(level: str, log_format: str) -> None:
    """Installs the one stderr handler every logger (ours, aiohttp's, psycopg's) writes through."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Neither format shows where a line was logged from, nor the thread or process: don't look them up for
    # every record (the logging HOWTO's "Optimization" settings).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # Python 3.12+
    # Our request lines replace aiohttp's access log, which would print raw paths.
    logging.getLogger("aiohttp.access").disabled = True
