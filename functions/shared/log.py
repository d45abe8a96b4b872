"""Structured JSON logs on Powertools' Logger: one line per record, with the request id of the invocation.

Modules log through ``logging`` loggers named ``functions.<module>`` (:func:`get_logger`), which propagate to the
process's one Powertools ``Logger`` (:func:`powertools_logger`, named ``functions``; JSON to stdout). Each handler's
:func:`lambda_entry` is Powertools' context injection (cold start, function, request and correlation ids, debug
sampling). What the project adds and why: ``docs/design/functions.md`` (Logs). Example::

    with request_context("abc-123"):
        get_logger("processor").info("applied", extra={"id": "item-1"})  # ... "request_id":"abc-123","id":"item-1"
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

ROOT_LOGGER = "functions"
# The deployment sets it to the function's name (components/app_functions.py); Powertools reads the same variable.
SERVICE_VARIABLE = "POWERTOOLS_SERVICE_NAME"
LEVEL_VARIABLE = "POWERTOOLS_LOG_LEVEL"
# The attributes a Lambda context has and Powertools' context injection reads.
LAMBDA_CONTEXT_FIELDS = ("function_name", "memory_limit_in_mb", "invoked_function_arn", "aws_request_id")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

Handler = TypeVar("Handler", bound=Callable[..., Any])


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """The fields a call passed in ``extra``: the record's attributes that logging itself does not set."""
    return {name: value for name, value in vars(record).items() if name not in _STANDARD_ATTRIBUTES}


def service_name(default: str = ROOT_LOGGER) -> str:
    """The function's name as the deployment gave it, for the ``service`` key of logs and the traces."""
    return os.environ.get(SERVICE_VARIABLE) or default


@functools.cache
def powertools_logger() -> Logger:
    """The process's Powertools Logger, the parent of every ``functions.*`` logger; built once, on first use.

    Level from ``POWERTOOLS_LOG_LEVEL`` (else INFO) and debug sampling from ``POWERTOOLS_LOGGER_SAMPLE_RATE``, both
    read by Powertools and set by the deployment."""
    from aws_lambda_powertools import Logger

    from functions.shared.log_format import JsonFormatter

    logger = Logger(service=ROOT_LOGGER, logger_formatter=JsonFormatter())
    logger.append_keys(service=service_name())
    return logger


def get_logger(name: str) -> logging.Logger:
    """The logger of one module; its records go to the process's Powertools Logger once the first invocation has
    built it (:func:`lambda_entry`): importing a handler imports no part of Powertools (tests/functions/test_cold_path.py)."""
    root = logging.getLogger(ROOT_LOGGER)
    if root.level == logging.NOTSET:  # until Powertools configures it: the level it will set
        root.setLevel(os.environ.get(LEVEL_VARIABLE, "INFO").upper())
    return logging.getLogger(f"{ROOT_LOGGER}.{name}")


def __getattr__(name: str) -> Any:
    # ``JsonFormatter`` lives in log_format, which imports Powertools; it is reachable from here without the import.
    if name == "JsonFormatter":
        from functions.shared.log_format import JsonFormatter

        return JsonFormatter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Every log line written inside carries ``request_id`` (per thread and task: a context variable)."""
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)


class LocalContext:
    """A Lambda context for a handler called without a whole one (tests, the drill, benchmarks): what the given
    context has (its deadline, say), else what Powertools reads filled in."""

    DEFAULTS: ClassVar[dict[str, object]] = {"aws_request_id": "", "memory_limit_in_mb": 0, "invoked_function_arn": ""}

    def __init__(self, context: object) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        try:
            return getattr(self._context, name)
        except AttributeError:
            if name == "function_name":
                return service_name()
            if name in self.DEFAULTS:
                return self.DEFAULTS[name]
            raise

    @classmethod
    def completing(cls, context: object) -> Any:
        """``context`` itself when it is a whole Lambda context, else one completed."""
        return context if all(hasattr(context, name) for name in LAMBDA_CONTEXT_FIELDS) else cls(context)


def lambda_entry(correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """Decorate a handler ``handle(event, context, ...)``: Powertools' context injection (``cold_start``,
    ``function_*`` keys, ``correlation_id`` from ``correlation_id_path``, debug sampling) and ``request_id`` = the
    correlation id when the event has one, else the Lambda request id."""

    def decorate(handle: Handler) -> Handler:
        @functools.cache
        def injected() -> Callable[..., Any]:
            return powertools_logger().inject_lambda_context(handle, correlation_id_path=correlation_id_path)

        @functools.wraps(handle)
        def entry(event: Mapping[str, Any], context: Any = None, *args: Any, **kwargs: Any) -> Any:
            injection = injected()
            correlation = correlation_id(event, correlation_id_path)
            with request_context(str(correlation or getattr(context, "aws_request_id", "") or "")):
                return injection(event, LocalContext.completing(context), *args, **kwargs)

        return entry  # type: ignore[return-value]

    return decorate


def correlation_id(event: Mapping[str, Any], path: str | None) -> Any:
    """What ``path`` (a JMESPath expression, as Powertools' ``correlation_paths``) finds in the event, else None."""
    if not path or not isinstance(event, Mapping):
        return None
    from aws_lambda_powertools.utilities.jmespath_utils import query as search

    return search(envelope=path, data=dict(event))


def now_ms() -> int:
    return int(time.time() * 1000)
