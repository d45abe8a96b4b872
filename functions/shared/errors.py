"""The library's exceptions: what went wrong, and whether trying again can help."""

from __future__ import annotations


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
