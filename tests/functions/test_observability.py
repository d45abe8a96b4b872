"""The functions' logs, metrics and traces on Powertools: the fields the log lines and EMF documents keep, the context
Powertools adds (cold start, correlation id, debug sampling), and the Tracer's entry point and subsegments."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from functions.shared import log, tracing
from functions.shared.log import get_logger, lambda_entry, request_context
from functions.shared.log_format import JsonFormatter
from functions.shared.metrics import Metrics

# What Powertools marks a configured logger with (aws_lambda_powertools/logging/constants.py).
POWERTOOLS_LOGGER_ATTRIBUTES = ("powertools_handler", "init", "logger_handler", "powertools_buffer_config")


@dataclass
class LambdaContext:
    """Every attribute Powertools reads of a Lambda context."""

    aws_request_id: str = "lambda-request-1"
    function_name: str = "multi-region-prod-api"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:multi-region-prod-api"


def fresh_powertools_logger(out: io.StringIO) -> None:
    """Build the process's Powertools Logger anew, as a new container's first invocation builds it (from the
    environment of the moment), writing to ``out``."""
    root = logging.getLogger(log.ROOT_LOGGER)
    for attribute in POWERTOOLS_LOGGER_ATTRIBUTES:
        vars(root).pop(attribute, None)
    root.handlers, root.filters = [], []
    log.powertools_logger.cache_clear()
    stdout, sys.stdout = sys.stdout, out  # Powertools' handler writes to the stdout of the moment it is built
    try:
        log.powertools_logger()
    finally:
        sys.stdout = stdout


@pytest.fixture
def powertools_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """A fresh Powertools Logger of a cold container whose function is ``api``; the process's own is put back
    afterwards."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "api")
    monkeypatch.setattr("aws_lambda_powertools.logging.logger.is_cold_start", True)
    root = logging.getLogger(log.ROOT_LOGGER)
    saved = dict(vars(root))
    out = io.StringIO()
    fresh_powertools_logger(out)
    yield out
    log.powertools_logger.cache_clear()
    vars(root).clear()
    vars(root).update(saved)


def lines_of(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def test_a_log_line_keeps_the_projects_fields_and_gains_powertools_context(powertools_output: io.StringIO) -> None:
    logger = get_logger("cache")

    @lambda_entry(correlation_id_path="requestContext.requestId")
    def handle(event: dict[str, Any], context: Any = None) -> None:
        logger.warning("cache unavailable", extra={"operation": "get", "id": "item-1"})

    handle({"requestContext": {"requestId": "corr-1"}}, LambdaContext())
    handle({"requestContext": {"requestId": "corr-2"}}, LambdaContext("lambda-request-2"))
    first, second = lines_of(powertools_output)
    # The fields the project's queries read: level, message, logger (the module), request_id, the call's own fields.
    assert (first["level"], first["message"], first["logger"], first["request_id"]) == (
        "WARNING",
        "cache unavailable",
        "functions.cache",
        "corr-1",
    )
    assert (first["operation"], first["id"]) == ("get", "item-1")
    # What Powertools adds: the service (the function), cold start, the Lambda context, the correlation id.
    assert (first["service"], first["cold_start"], second["cold_start"]) == ("api", True, False)
    assert (first["function_request_id"], first["correlation_id"]) == ("lambda-request-1", "corr-1")
    assert (second["function_request_id"], second["correlation_id"], second["request_id"]) == (
        "lambda-request-2",
        "corr-2",
        "corr-2",
    )
    assert first["function_name"] == "multi-region-prod-api" and first["timestamp"].endswith("+0000")


def test_without_a_correlation_id_the_request_id_is_the_lambda_request(powertools_output: io.StringIO) -> None:
    logger = get_logger("processor")

    @lambda_entry()
    def handle(event: dict[str, Any], context: Any = None) -> None:
        logger.info("applied")

    handle({"Records": []}, LambdaContext("lambda-request-9"))
    [line] = lines_of(powertools_output)
    assert (line["request_id"], line["function_request_id"]) == ("lambda-request-9", "lambda-request-9")
    assert "correlation_id" not in line


def test_a_handler_called_without_a_lambda_context_still_logs(powertools_output: io.StringIO) -> None:
    """Tests, the drill and the benchmarks call handlers with no context or a partial one."""

    @lambda_entry(correlation_id_path="requestContext.requestId")
    def handle(event: dict[str, Any], context: Any = None, injected: str = "") -> str:
        get_logger("api").info("request", extra={"injected": injected})
        return injected

    assert handle({"requestContext": {"requestId": "r-1"}}, None, "positional") == "positional"
    [line] = lines_of(powertools_output)
    assert (line["request_id"], line["injected"], line["function_name"]) == ("r-1", "positional", "api")


def test_exceptions_are_logged_with_their_type_and_stack(powertools_output: io.StringIO) -> None:
    @lambda_entry()
    def handle(event: dict[str, Any], context: Any = None) -> None:
        try:
            raise ValueError("broken record")
        except ValueError:
            get_logger("processor").exception("unexpected failure", extra={"error": "broken record"})

    handle({}, LambdaContext())
    [line] = lines_of(powertools_output)
    assert (line["level"], line["exception_name"], line["error"]) == ("ERROR", "ValueError", "broken record")
    assert "raise ValueError" in line["exception"]


def test_debug_lines_are_sampled_per_invocation(powertools_output: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_LOGGER_SAMPLE_RATE", "1")
    fresh_powertools_logger(powertools_output)

    @lambda_entry()
    def handle(event: dict[str, Any], context: Any = None) -> None:
        get_logger("cache").debug("cache hit", extra={"id": "item-1"})

    handle({}, LambdaContext())
    handle({}, LambdaContext())
    assert [line["message"] for line in lines_of(powertools_output) if line["level"] == "DEBUG"] == ["cache hit"] * 2


def test_without_sampling_debug_lines_are_dropped(powertools_output: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_LOGGER_SAMPLE_RATE", raising=False)
    monkeypatch.delenv("POWERTOOLS_LOG_LEVEL", raising=False)
    fresh_powertools_logger(powertools_output)

    @lambda_entry()
    def handle(event: dict[str, Any], context: Any = None) -> None:
        get_logger("cache").debug("cache hit")
        get_logger("cache").info("cache filled")

    handle({}, LambdaContext())
    assert [line["message"] for line in lines_of(powertools_output)] == ["cache filled"]


def test_request_context_nests_and_is_per_thread() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = get_logger("breaker")
    logger.addHandler(handler)
    try:
        with request_context("outer"):
            with request_context("inner"):
                logger.warning("one")
            logger.warning("two")
        logger.warning("three")
    finally:
        logger.removeHandler(handler)
    assert [line["request_id"] for line in lines_of(out)] == ["inner", "outer", ""]


# ---- metrics --------------------------------------------------------------------------------------------------------


def test_a_flush_is_one_emf_document_with_the_service_dimension_and_whole_counts() -> None:
    out = io.StringIO()
    metrics = Metrics(service="processor", namespace="multi-region", stream=out)
    for _ in range(150):  # past Powertools' 100 values per metric, which would flush early
        metrics.add("Applied")
    metrics.add("Failed", 2)
    returned = metrics.flush()
    [document] = lines_of(out)
    assert document == returned
    [definition] = document["_aws"]["CloudWatchMetrics"]
    assert definition["Namespace"] == "multi-region"
    assert definition["Dimensions"] == [["service"]]
    assert definition["Metrics"] == [{"Name": "Applied", "Unit": "Count"}, {"Name": "Failed", "Unit": "Count"}]
    assert (document["service"], document["Applied"], document["Failed"]) == ("processor", 150, 2)
    assert isinstance(document["_aws"]["Timestamp"], int)
    assert metrics.snapshot() == {} and metrics.flush() is None


def test_metrics_can_be_turned_off_by_powertools_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    out = io.StringIO()
    metrics = Metrics(service="api", namespace="multi-region", stream=out)
    metrics.add("CacheHits")
    assert metrics.flush() is not None
    assert out.getvalue() == ""


def test_the_namespace_comes_from_the_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    with pytest.raises(RuntimeError, match="POWERTOOLS_METRICS_NAMESPACE is not set"):
        Metrics(service="api")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "multi-region")
    assert Metrics(service="api").namespace == "multi-region"


# ---- tracing --------------------------------------------------------------------------------------------------------


@dataclass
class RecordedTracer:
    """Stands in for Powertools' Tracer: records what the project asks of it."""

    disabled: bool = False
    patched: list[list[str]] | None = None
    subsegments: list[tuple[str, dict[str, str]]] | None = None
    captured: list[dict[str, Any]] | None = None

    def patch(self, modules: list[str]) -> None:
        self.patched = [*(self.patched or []), modules]

    def capture_lambda_handler(self, handle: Callable[..., Any], capture_response: bool) -> Callable[..., Any]:
        def captured(event: Any, context: Any, **kwargs: Any) -> Any:
            self.captured = [*(self.captured or []), {"capture_response": capture_response, **kwargs}]
            return handle(event, context, **kwargs)

        return captured

    @property
    def provider(self) -> RecordedTracer:
        return self

    @contextmanager
    def in_subsegment(self, name: str) -> Iterator[Any]:
        annotations: dict[str, str] = {}
        self.subsegments = [*(self.subsegments or []), (name, annotations)]
        yield type("Segment", (), {"put_annotation": lambda _self, key, value: annotations.__setitem__(key, value)})()


@pytest.fixture
def recorded_tracer(monkeypatch: pytest.MonkeyPatch) -> RecordedTracer:
    recorded = RecordedTracer()
    monkeypatch.setattr(tracing, "tracer", lambda: recorded)
    return recorded


def test_the_entry_point_passes_injected_objects_on_and_records_no_response(recorded_tracer: RecordedTracer) -> None:
    @tracing.trace_entry
    def handle(event: dict[str, Any], context: Any = None, api: str = "", other: str = "") -> str:
        return f"{api}/{other}"

    assert handle({}, None, "positional", other="keyword") == "positional/keyword"
    assert recorded_tracer.captured == [{"capture_response": False, "api": "positional", "other": "keyword"}]


def test_a_subsegment_is_annotated_and_nothing_is_traced_when_disabled(recorded_tracer: RecordedTracer) -> None:
    with tracing.subsegment("redis get", {"operation": "get"}):
        pass
    assert recorded_tracer.subsegments == [("redis get", {"operation": "get"})]
    recorded_tracer.disabled = True
    with tracing.subsegment("redis set"):
        pass
    assert recorded_tracer.subsegments == [("redis get", {"operation": "get"})]


def test_outside_lambda_the_real_tracer_is_disabled_and_patches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    tracing.tracer.cache_clear()
    try:
        real = tracing.tracer()
        assert real.disabled
        with tracing.subsegment("redis get"):
            pass
    finally:
        tracing.tracer.cache_clear()


def test_the_aws_sdk_is_patched_once_per_process(recorded_tracer: RecordedTracer) -> None:
    tracing.patch_aws_sdk.cache_clear()
    try:
        tracing.patch_aws_sdk()
        tracing.patch_aws_sdk()
    finally:
        tracing.patch_aws_sdk.cache_clear()
    assert recorded_tracer.patched == [["botocore"]]
