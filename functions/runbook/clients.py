"""The AWS clients the runbook calls, behind a Protocol so tests inject clients of the moto server and test doubles.

The runbook talks to several regions in one step (the state and the run record in the target, the drain marker in
the source, Aurora in the target, Route53's global API), so it is handed a factory, :class:`RunbookClients`, rather
than clients. :class:`Boto3Clients` is the real one: boto3 imported on first use (the Lambda cold path stays cheap),
one client per service, region and endpoint, short timeouts and standard retries, so a region that does not answer
costs seconds, not the function's whole timeout.

What a failed call means is decided here too (:func:`is_unreachable`, :func:`is_retryable`): the drain step needs to
know whether the source region answers, and the runner whether trying again can help.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from functions.shared.errors import error_code, http_status, is_transient

CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 3  # attempts in all, the first included; standard mode backs off with jitter (throttling, 5xx, connection)
# Route53 ARC: each cluster endpoint is tried once more at most, then the next one (AWS's advice: try the cluster's
# endpoints in turn rather than retrying one that does not answer).
ROUTING_CONTROL_MAX_ATTEMPTS = 2
# Route53's control plane (health checks) is a global service whose API is signed for us-east-1.
ROUTE53_REGION = "us-east-1"

# Beyond what botocore's retry modes retry (``functions.shared.errors.is_transient``): AWS's answers that a resource is
# busy with another operation, which passes (an Aurora global cluster switching over, a health check updated
# concurrently, an ARC cluster endpoint that asks to be tried again).
BUSY_CODES = frozenset(
    {
        "InvalidGlobalClusterStateFault",
        "InvalidDBClusterStateFault",
        "HealthCheckVersionMismatch",
        "EndpointTemporarilyUnavailableException",
    }
)


class RunbookClients(Protocol):
    """Low-level boto3 clients (or doubles answering the same calls) by service and region."""

    def dynamodb(self, region: str) -> Any: ...

    def rds(self, region: str) -> Any: ...

    def route53(self) -> Any: ...

    def cloudwatch(self, region: str) -> Any: ...

    def routing_control(self, endpoint_region: str, endpoint_url: str) -> Any: ...


class Boto3Clients:
    """:class:`RunbookClients` with boto3: one client per (service, region, endpoint), built on first use and kept.

    ``AWS_ENDPOINT_URL`` (honoured by boto3) points every client but the ARC ones at a local emulator.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._session: Any = None  # one session for every client: a session per client loads the models again
        self._lock = threading.Lock()

    def dynamodb(self, region: str) -> Any:
        return self._client("dynamodb", region)

    def rds(self, region: str) -> Any:
        return self._client("rds", region)

    def route53(self) -> Any:
        return self._client("route53", ROUTE53_REGION)

    def cloudwatch(self, region: str) -> Any:
        return self._client("cloudwatch", region)

    def routing_control(self, endpoint_region: str, endpoint_url: str) -> Any:
        return self._client("route53-recovery-cluster", endpoint_region, endpoint_url, ROUTING_CONTROL_MAX_ATTEMPTS)

    def _client(self, service: str, region: str, endpoint_url: str | None = None, max_attempts: int = MAX_ATTEMPTS) -> Any:
        key = (service, region, endpoint_url)
        with self._lock:
            if key not in self._clients:
                import boto3
                from botocore.config import Config

                from functions.shared.tracing import patch_aws_sdk

                patch_aws_sdk()  # every step's AWS calls as X-Ray subsegments

                config = Config(
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    read_timeout=READ_TIMEOUT_SECONDS,
                    # total_max_attempts counts the first attempt; botocore's max_attempts would count retries only
                    retries={"mode": "standard", "total_max_attempts": max_attempts},
                    tcp_keepalive=True,
                )
                options: dict[str, Any] = {"region_name": region, "config": config}
                if endpoint_url is not None:
                    options["endpoint_url"] = endpoint_url
                if self._session is None:
                    self._session = boto3.session.Session()
                self._clients[key] = self._session.client(service, **options)
            return self._clients[key]


def is_unreachable(error: BaseException) -> bool:
    """The service did not answer: no connection, a timeout (botocore's ``ConnectionError``, ``HTTPClientError``), or a
    5xx after the client's own retries."""
    import botocore.exceptions

    if isinstance(error, botocore.exceptions.ConnectionError | botocore.exceptions.HTTPClientError):
        return True
    return http_status(error) >= 500


def is_retryable(error: BaseException) -> bool:
    """Trying the same call later can succeed: unreachable, what botocore's retry modes retry, or a busy resource."""
    return is_unreachable(error) or is_transient(error) or error_code(error) in BUSY_CODES
