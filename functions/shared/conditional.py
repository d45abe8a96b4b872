"""One DynamoDB request of the write path, and conditional writes that report the item that refused them.

A failed condition is an answer, not an error: DynamoDB returns the item with the failure
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so the caller learns why without another read. A transient failure
(after the client's own retries) becomes :class:`~functions.shared.errors.RetryableError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from functions.shared.errors import CONDITIONAL_CHECK_FAILED, RetryableError, error_code, is_transient


@dataclass(frozen=True)
class ConditionalResult:
    """A conditional write's response, or ``failed`` with the item that failed the condition (when DynamoDB sent it)."""

    response: Mapping[str, Any]
    failed: bool = False
    old: Mapping[str, Any] | None = None


def conditional(call: Callable[..., Any], **request: Any) -> ConditionalResult:
    """A conditional write: its response, or (failed, the item that failed the condition when DynamoDB returned it)."""
    try:
        return ConditionalResult(call_dynamodb(call, **request))
    except _ConditionFailedError as failure:
        return ConditionalResult({}, failed=True, old=failure.item)


class _ConditionFailedError(Exception):
    def __init__(self, item: Mapping[str, Any] | None) -> None:
        self.item = item
        super().__init__("conditional check failed")


def call_dynamodb(call: Callable[..., Any], **request: Any) -> Mapping[str, Any]:
    """One DynamoDB request; transient failures (after the client's own retries) become RetryableError."""
    try:
        response: Mapping[str, Any] = call(**request)
    except Exception as error:
        code = error_code(error)
        if code == CONDITIONAL_CHECK_FAILED:
            raise _ConditionFailedError(getattr(error, "response", {}).get("Item")) from None
        if is_transient(error):
            raise RetryableError(f"DynamoDB {code or type(error).__name__}: {error}") from error
        raise
    return response
