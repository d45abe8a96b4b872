"""AWS and Redis clients, built once per container with short timeouts and bounded retries.

boto3 is in the Lambda runtime and imported on first use, not at import time, so a function that does
not call AWS on its cold path does not pay for it. ``AWS_ENDPOINT_URL`` (honoured by boto3 itself) points
every client at a local emulator in tests.

The Redis client is built on its first command, not when the container starts (:class:`LazyRedis`): redis-py's cluster
client connects in its constructor, so a container built while the cache is unreachable would otherwise fail every
invocation, reads from DynamoDB and writes included. A build that fails is the failure of that one cache call; the next
call builds again. The client authenticates with an IAM token (``functions.shared.memorydb_auth``), no password.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from functions.shared.settings import Settings

if TYPE_CHECKING:
    import redis

CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 2.0
# Attempts in all, the first one included (botocore's ``total_max_attempts``; its ``max_attempts`` counts retries).
# Standard retry mode: exponential backoff with jitter on throttling and 5xx.
MAX_ATTEMPTS = 4
# Standard mode waits at most rand(0, 1) * 2**i s before retry i+1 of a throttled call (botocore.retries.standard).
THROTTLING_BACKOFF_SECONDS = sum(min(2.0**i, 20.0) for i in range(MAX_ATTEMPTS - 1))
# The longest an AWS call of a function can take, every attempt timing out and every retry backing off in full.
CALL_BUDGET_SECONDS = MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + THROTTLING_BACKOFF_SECONDS
CACHE_SOCKET_TIMEOUT_SECONDS = 0.25


@functools.cache
def aws_client(service: str, region: str) -> Any:
    """A boto3 client for ``service`` in ``region``, shared by every invocation of the container; its calls are
    traced (X-Ray subsegments, ``functions/shared/tracing.py``)."""
    import boto3

    from functions.shared.tracing import patch_aws_sdk

    patch_aws_sdk()
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        tcp_keepalive=True,
    )
    return boto3.session.Session().client(service, region_name=region, config=config)


class LazyRedis:
    """A redis-py client built on its first command (see the module docstring), then shared by every thread.

    It answers the commands the cache uses (``get``, ``set``, ``eval``, ``ping``, and what redis-py's ``Lock`` calls:
    ``register_script``, ``evalsha``, ``script_load``; ``cache.RedisLike``, which mypy checks against these methods, not
    ``__getattr__``) and, for tools and tests, every other attribute of the built client.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The built client (built now if it was not): raises what building raises, e.g. the cache is unreachable."""
        client = self._client
        if client is not None:  # built: no lock on the hot path
            return client
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def get(self, name: str) -> Any:
        return self.client.get(name)

    def set(self, name: str, value: str, ex: int | None = None, px: int | None = None, nx: bool = False) -> Any:
        return self.client.set(name, value, ex=ex, px=px, nx=nx)

    def eval(self, script: str, numkeys: int, *keys_and_args: str) -> Any:
        return self.client.eval(script, numkeys, *keys_and_args)

    def ping(self) -> Any:
        return self.client.ping()

    def register_script(self, script: str) -> Any:
        return self.client.register_script(script)

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        return self.client.evalsha(sha, numkeys, *keys_and_args)

    def script_load(self, script: str) -> Any:
        return self.client.script_load(script)

    def close(self) -> None:
        """Close the built client's connections (nothing to do if it was never built)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def redis_client(settings: Settings) -> LazyRedis | None:
    """A Redis client for the region's cache with TLS and IAM auth, or None when no cache is configured.

    Timeouts are short: the cache is an optimisation, and the circuit breaker (``functions.shared.cache``)
    decides what to do when it is slow or down. Nothing is connected (or signed) until the first command.
    """
    if not settings.cache_host:
        return None
    return LazyRedis(functools.partial(_build_redis, settings))


def _build_redis(settings: Settings) -> redis.Redis | redis.RedisCluster:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options: dict[str, Any] = {
        "host": settings.cache_host,
        "port": settings.cache_port,
        "ssl": settings.cache_tls,
        "socket_timeout": CACHE_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": CACHE_SOCKET_TIMEOUT_SECONDS,
        "decode_responses": True,
        # No client-side retries: redis-py's default is 10 with exponential backoff (3.3 s per call to a stopped
        # server, measured). The circuit breaker and the database fallback handle a failing cache.
        "retry": Retry(NoBackoff(), 0),
    }
    if settings.cache_cluster_name:
        from functions.shared.memorydb_auth import MemoryDbIamCredentialProvider

        options["credential_provider"] = MemoryDbIamCredentialProvider(
            settings.cache_user, settings.cache_cluster_name, settings.region
        )
    elif settings.cache_user:
        options["username"] = settings.cache_user
    if settings.cache_cluster:
        return redis.RedisCluster(**options)
    return redis.Redis(**options, health_check_interval=30)
