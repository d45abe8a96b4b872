"""The library's exceptions, and the classification of AWS errors: what went wrong, and whether trying again can help."""

from __future__ import annotations

from collections.abc import Mapping

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"

# AWS error codes that a later attempt can get past: throttling, a 5xx by name, a cancelled transaction.
RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "LimitExceededException",
    }
)
# botocore's exceptions for a request that never got an answer (matched by name: botocore is not imported here).
TRANSIENT_ERROR_NAMES = frozenset(
    {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError", "ConnectionError"}
)


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
    """The AWS error code of a botocore ClientError (duck-typed: botocore is not imported here), else None."""
    response = getattr(error, "response", None)
    if not isinstance(response, Mapping):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def is_transient(error: BaseException) -> bool:
    """Throttling, a 5xx, a timeout or a lost connection: trying again later can succeed."""
    if error_code(error) in RETRYABLE_CODES:
        return True
    status = getattr(error, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if isinstance(status, int) and status >= 500:
        return True
    return any(cls.__name__ in TRANSIENT_ERROR_NAMES for cls in type(error).__mro__)
