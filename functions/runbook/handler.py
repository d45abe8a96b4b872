"""The runbook function: one attempt of one failover step, for the failover state machine (one per region).

Event ``{"step": "<fence|drain|promote|shift_traffic|activate>", "request": <FailoverRequest.to_dict()>}``; the answer
is ``StepResult.to_dict()``, whose ``waitSeconds`` the state machine waits before calling the step again until
``done``. Failures raise :class:`~functions.runbook.model.StepRetryableError` (retried) or
:class:`~functions.runbook.model.StepRefusedError` (an operator decides); a malformed event is refused, naming the
field. The topology and clients are built on the first invocation: importing this module loads no SDK.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from functions.runbook.clients import Boto3Clients, RunbookClients
from functions.runbook.model import STEPS, FailoverRequest, StepRefusedError, StepRetryableError, Topology
from functions.runbook.runner import run_step
from functions.shared.errors import ValidationError
from functions.shared.log import get_logger, lambda_entry, now_ms
from functions.shared.tracing import trace_entry

logger = get_logger("runbook")

TOPOLOGY_VARIABLE = "RUNBOOK_TOPOLOGY"

_topology: Topology | None = None
_clients: RunbookClients | None = None
_lock = threading.Lock()


def parse_event(event: Any) -> tuple[str, FailoverRequest]:
    """The step and the request of an event; ValidationError naming the field (``step``, ``request.<field>``)."""
    if not isinstance(event, Mapping):
        raise ValidationError("event", f"got {type(event).__name__}; allowed: an object with step and request")
    step = event.get("step")
    if step not in STEPS:
        raise ValidationError("step", f"got {step!r}; allowed: {', '.join(STEPS)}")
    raw = event.get("request")
    if not isinstance(raw, Mapping):
        raise ValidationError("request", f"got {raw!r}; allowed: an object (FailoverRequest.to_dict())")
    try:
        return str(step), FailoverRequest.from_dict(raw)
    except ValidationError as error:
        raise ValidationError(f"request.{error.field}", error.message) from None


def current_topology() -> Topology:
    """The container's topology, from ``RUNBOOK_TOPOLOGY``."""
    global _topology  # noqa: PLW0603 - one per container, built on the first invocation
    with _lock:
        if _topology is None:
            text = os.environ.get(TOPOLOGY_VARIABLE, "")
            if not text:
                raise ValidationError(TOPOLOGY_VARIABLE, "not set; allowed: the stack's Topology.to_json()")
            try:
                _topology = Topology.from_json(text)
            except json.JSONDecodeError as error:
                raise ValidationError(TOPOLOGY_VARIABLE, f"not JSON ({error}); allowed: the stack's Topology.to_json()") from None
        return _topology


def current_clients() -> RunbookClients:
    global _clients  # noqa: PLW0603 - one per container, built on the first invocation
    with _lock:
        if _clients is None:
            _clients = Boto3Clients()
        return _clients


@lambda_entry(correlation_id_path="request.runId")
@trace_entry
def handle(
    event: Mapping[str, Any],
    context: Any,
    *,
    topology: Topology | None = None,
    clients: RunbookClients | None = None,
    clock_ms: Callable[[], int] = now_ms,
) -> dict[str, Any]:
    """The Lambda entry point: one attempt of the event's step (tests pass their topology, clients and clock). Log
    lines carry the run id as their correlation and request id."""
    try:
        step, request = parse_event(event)
        topology = topology or current_topology()
    except ValidationError as error:
        logger.warning("refused", extra={"field": error.field, "error": error.message})
        raise StepRefusedError(str(error)) from None
    fields = {"step": step, "run_id": request.run_id, "target_region": request.target_region, "planned": request.planned}
    try:
        result = run_step(step, request, topology, clients or current_clients(), now_ms=clock_ms)
    except StepRefusedError as error:
        logger.warning("refused", extra={**fields, "error": str(error)})
        raise
    except StepRetryableError as error:
        logger.warning("retryable failure", extra={**fields, "error": str(error)})
        raise
    except Exception as error:
        logger.exception("unexpected failure", extra={**fields, "error": repr(error)})
        raise
    logger.info(
        "step done" if result.done else "step waiting",
        extra={**fields, "done": result.done, "wait_seconds": result.wait_seconds, "detail": dict(result.detail)},
    )
    return result.to_dict()
