"""AWS and Redis clients, built once per container with short timeouts and bounded retries.

boto3 is in the Lambda runtime and imported on first use, not at import time, so a function that does
not call AWS on its cold path does not pay for it. ``AWS_ENDPOINT_URL`` (honoured by boto3 itself) points
every client at a local emulator in tests.
"""

from __future__ import annotations

import functools
import json
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
    """A boto3 client for ``service`` in ``region``, shared by every invocation of the container."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        tcp_keepalive=True,
    )
    return boto3.session.Session().client(service, region_name=region, config=config)


def cache_password(settings: Settings) -> str:
    """The cache user's password from Secrets Manager (read once per container by ``redis_client``)."""
    if not settings.cache_secret_arn:
        return ""
    secret = aws_client("secretsmanager", settings.region).get_secret_value(SecretId=settings.cache_secret_arn)
    return str(json.loads(secret["SecretString"])["password"])


def redis_client(settings: Settings) -> redis.Redis | redis.RedisCluster | None:
    """A Redis client for the region's cache with TLS and ACL auth, or None when no cache is configured.

    Timeouts are short: the cache is an optimisation, and the circuit breaker (``functions.shared.cache``)
    decides what to do when it is slow or down.
    """
    if not settings.cache_host:
        return None
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options: dict[str, Any] = {
        "host": settings.cache_host,
        "port": settings.cache_port,
        "username": settings.cache_user or None,
        "password": cache_password(settings) or None,
        "ssl": settings.cache_tls,
        "socket_timeout": CACHE_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": CACHE_SOCKET_TIMEOUT_SECONDS,
        "decode_responses": True,
        # No client-side retries: redis-py's default is 10 with exponential backoff (3.3 s per call to a stopped
        # server, measured). The circuit breaker and the database fallback handle a failing cache.
        "retry": Retry(NoBackoff(), 0),
    }
    if settings.cache_cluster:
        return redis.RedisCluster(**options)
    return redis.Redis(**options, health_check_interval=30)
