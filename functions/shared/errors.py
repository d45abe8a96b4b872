"""The library's exceptions, and the classification of AWS errors: what went wrong, and whether trying again can help.

Whether trying again can help is botocore's own answer, the one its standard and adaptive retry modes act on
(``botocore.retries.standard``): ``TransientRetryableChecker`` (``ConnectionError`` and ``HTTPClientError``, which
cover connect and read timeouts and lost connections; HTTP 500, 502, 503, 504; ``RequestTimeout``,
``RequestTimeoutException``, ``PriorRequestNotComplete``), ``ThrottledRetryableChecker`` (its list of throttling
codes: ``ThrottlingException``, ``ProvisionedThroughputExceededException``, ``RequestLimitExceeded``,
``LimitExceededException`` and more) and ``ThrottlingStatusCodeChecker`` (HTTP 429). Only DynamoDB's
``TransactionConflictException`` is added: its model does not mark it retryable, yet it says that a transaction held
the item for a moment. botocore is imported when an error is classified, never when this module is (the cold path).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.retries.base import BaseRetryableChecker

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"
# A write met an item that a DynamoDB transaction holds: the transaction ends within moments.
TRANSACTION_CONFLICT = "TransactionConflictException"


class ValidationError(ValueError):
    """Bad input: names the field and says what is allowed. Never retried (a 4xx, or a failed record)."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")

    def as_dict(self) -> dict[str, str]:
        return {"error": "validation", "field": self.field, "message": self.message}


class RetryableError(RuntimeError):
    """The request may succeed later (throttling, a fenced or passive region, a dependency down)."""


class FencedError(RetryableError):
    """This region may not write now: the application state is fenced, failing over, or active elsewhere."""

    def __init__(self, region: str, status: str, active_region: str, epoch: int) -> None:
        self.region, self.status, self.active_region, self.epoch = region, status, active_region, epoch
        super().__init__(f"writes refused in {region}: state {status}, active region {active_region}, epoch {epoch}")


class ConflictError(ValueError):
    """Same idempotency key with a different payload, or an illegal state transition: refused, nothing written."""


def error_code(error: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError``, else None."""
    response = _client_error_response(error)
    code = response.get("Error", {}).get("Code") if response is not None else None
    return str(code) if code else None


def http_status(error: BaseException) -> int:
    """The HTTP status of the answer a botocore ``ClientError`` carries, else 0 (no answer, or not an AWS error)."""
    response = _client_error_response(error)
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) if response is not None else 0


def is_transient(error: BaseException) -> bool:
    """Throttling, a 5xx, a timeout or a lost connection: what botocore's standard retry mode retries (see the module
    docstring), plus a transaction conflict. Trying again later can succeed."""
    if error_code(error) == TRANSACTION_CONFLICT:
        return True
    from botocore.awsrequest import AWSResponse
    from botocore.retries.standard import RetryContext

    response = _client_error_response(error)
    status = http_status(error)
    context = RetryContext(
        attempt_number=1,
        parsed_response=response,
        http_response=AWSResponse(url="", status_code=status, headers={}, raw=None) if status else None,
        caught_exception=error if response is None else None,
    )
    return bool(_standard_retry_checks().is_retryable(context))


@functools.cache
def _standard_retry_checks() -> BaseRetryableChecker:
    """botocore's standard retry conditions but the attempt count (ours is spent when an error reaches us) and the
    per-operation model, which a raised ``ClientError`` no longer carries."""
    from botocore.retries import standard

    return standard.OrRetryChecker(
        [standard.TransientRetryableChecker(), standard.ThrottledRetryableChecker(), standard.ThrottlingStatusCodeChecker()]
    )


def _client_error_response(error: BaseException) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    return dict(error.response) if isinstance(error, ClientError) else None
