"""X-Ray tracing on Powertools' Tracer: a subsegment per invocation, per AWS call and per Redis command.

The Tracer is built on the first invocation, not at import, and patches botocore only when the first AWS client is
built (:func:`patch_aws_sdk`): building it with its default auto-patch imports the X-Ray SDK and botocore's client
at cold start, about twice ``import boto3`` (docs/benchmarks.md, powertools). The X-Ray SDK patches no Redis client,
so the cache wraps each command in :func:`subsegment`. Outside Lambda (tests, the drill) Powertools disables the
Tracer and every call here does nothing. Why and what is traced: ``docs/design/functions.md`` (Tracing).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from functions.shared.log import service_name

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

Handler = TypeVar("Handler", bound=Callable[..., Any])


@functools.cache
def tracer() -> Tracer:
    """The process's Tracer (service = the function's name), without auto-patching."""
    from aws_lambda_powertools import Tracer

    return Tracer(service=service_name(), auto_patch=False)


@functools.cache
def patch_aws_sdk() -> None:
    """Trace every botocore call from now on (DynamoDB, SQS, the runbook's calls); once per process."""
    tracer().patch(["botocore"])


@contextmanager
def subsegment(name: str, annotations: Mapping[str, str] | None = None) -> Iterator[None]:
    """An X-Ray subsegment around the block, annotated; nothing when tracing is disabled."""
    current = tracer()
    if current.disabled:
        yield
        return
    with current.provider.in_subsegment(name=name) as segment:
        for key, value in (annotations or {}).items():
            segment.put_annotation(key=key, value=value)
        yield


def trace_entry(handle: Handler) -> Handler:
    """Decorate a handler ``handle(event, context, ...)`` with Powertools' ``capture_lambda_handler`` (a
    ``## handle`` subsegment annotated with ColdStart and Service; the response is not recorded: it holds items)."""
    # Powertools passes only keyword arguments on; the handlers' injected objects may come positionally.
    injected = list(inspect.signature(handle).parameters)[2:]

    @functools.cache
    def captured() -> Callable[..., Any]:
        return tracer().capture_lambda_handler(handle, capture_response=False)

    @functools.wraps(handle)
    def entry(event: Mapping[str, Any], context: Any = None, *args: Any, **kwargs: Any) -> Any:
        return captured()(event, context, **dict(zip(injected, args, strict=False)), **kwargs)

    return entry  # type: ignore[return-value]
