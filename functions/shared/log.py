"""Structured JSON logs, one line per event, with the request id of the invocation that wrote them.

Example:
    >>> logger = get_logger("processor")
    >>> with request_context("abc-123"):
    ...     logger.info("applied", extra={"id": "item-1", "version": 3})
    {"level": "INFO", "logger": "processor", "message": "applied", "request_id": "abc-123", "id": "item-1", ...}
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id.get(),
        }
        entry.update(record_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """The fields a call passed in ``extra``: the record's attributes that logging itself does not set."""
    return {name: value for name, value in vars(record).items() if name not in _STANDARD_ATTRIBUTES}


def get_logger(name: str) -> logging.Logger:
    """A module-level logger writing JSON lines to stdout (Lambda ships stdout to CloudWatch Logs)."""
    logger = logging.getLogger(f"functions.{name}")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
        logger.propagate = False
    return logger


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Every log line written inside carries ``request_id``."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


def now_ms() -> int:
    return int(time.time() * 1000)
