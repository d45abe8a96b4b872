"""What every ops command that calls AWS acts through: :class:`OpsContext` (AWS clients, the runbook's clients, a
clock), and :class:`Boto3Factory`, the boto3 clients with short timeouts and few retries that it holds for real AWS.
Tests hand in clients of the moto server or botocore Stubbers, and a clock so they never wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from functions.shared.log import now_ms

if TYPE_CHECKING:
    from functions.runbook.clients import RunbookClients

# Short: an operator in an outage wants an answer in seconds, and a region that does not answer in 2 s is news.
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 2


class ClientFactory(Protocol):
    """Makes a boto3-style client for a service in a region."""

    def __call__(self, service: str, region: str) -> Any: ...


class Boto3Factory:
    """boto3 clients for what ``ops`` calls beyond the runbook's clients (SSM, STS, Step Functions): one per
    (service, region), by default with short timeouts and few retries; ``config``, ``endpoint_url`` and ``session``
    are for a command that needs other settings (``ops preflight``) and for tests.

    One boto3 Session makes them all (it loads the service models once), under a lock: sessions are not thread-safe,
    clients are. ``AWS_ENDPOINT_URL`` is honoured by boto3 itself.
    """

    def __init__(self, config: Any = None, *, endpoint_url: str | None = None, session: Any = None) -> None:
        self._clients: dict[tuple[str, str], Any] = {}
        self._session: Any = session
        self._config = config
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()

    def __call__(self, service: str, region: str) -> Any:
        with self._lock:
            if (service, region) not in self._clients:
                import boto3
                from botocore.config import Config

                config = self._config or Config(
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    read_timeout=READ_TIMEOUT_SECONDS,
                    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},  # attempts, the first included
                )
                self._session = self._session or boto3.session.Session()
                self._clients[service, region] = self._session.client(
                    service, region_name=region, endpoint_url=self._endpoint_url, config=config
                )
            return self._clients[service, region]


@dataclass
class OpsContext:
    """What the status, failover and abort commands act through: AWS clients, the runbook's clients, time.

    ``runbook`` serves DynamoDB, RDS, Route53, CloudWatch and ARC, for ``ops status`` as for the runbook library
    (``--local``, ``--dry-run``, the run records); ``aws`` serves the rest ``ops`` calls (SSM, STS, Step Functions).
    ``sleep`` and ``now_ms`` are injected so tests never wait.
    """

    aws: ClientFactory
    runbook: RunbookClients
    sleep: Callable[[float], None] = time.sleep
    now_ms: Callable[[], int] = now_ms
    poll_seconds: float = 5.0


def default_context() -> OpsContext:
    """Real AWS: boto3 with the credentials of the environment."""
    from functions.runbook.clients import Boto3Clients

    return OpsContext(aws=Boto3Factory(), runbook=Boto3Clients())
