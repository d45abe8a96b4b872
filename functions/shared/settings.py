"""Settings of a function, read once per container from its environment.

The deployment (``components/app.py``) sets exactly these variables; tests set them too, plus
``AWS_ENDPOINT_URL`` to point every boto3 client at the moto server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from functions.shared.app_config import FEATURE_FLAGS
from functions.shared.cache import NEGATIVE_TTL_SECONDS
from functions.shared.errors import ValidationError


@dataclass(frozen=True)
class Settings:
    """Parameters
    ----------
    region: the region this function runs in (``AWS_REGION``, set by Lambda).
    table_name: the global table (``TABLE_NAME``).
    queue_url: the events queue, for the API's ``POST /events`` (``QUEUE_URL``; empty elsewhere).
    cache_host, cache_port, cache_user: the MemoryDB (Redis) endpoint and ACL user; empty host: no cache.
    cache_cluster_name: the MemoryDB cluster; set, the client authenticates as ``cache_user`` with an IAM token
        (``functions.shared.memorydb_auth``); empty (a local test server), with no credentials.
    cache_tls: TLS to the cache (always on in AWS; tests against a local Redis turn it off).
    cache_cluster: the cache speaks the Redis Cluster protocol (MemoryDB always does; a local test server not).
    cache_ttl_seconds: TTL of a cached item (jitter is added on top).
    max_clock_skew_ms: how far in the future an event's timestamp may be.
    negative_cache_ttl_seconds: how long "no such item" is cached.
    feature_flags: the flags switched on (``functions.shared.app_config.FEATURE_FLAGS``).
    The last four are the runtime settings: the deployment sets them in the region's parameter, not the environment
    (``functions.shared.app_config``); the values here are the defaults until it is read.
    """

    region: str
    table_name: str
    queue_url: str = ""
    cache_host: str = ""
    cache_port: int = 6379
    cache_user: str = ""
    cache_cluster_name: str = ""
    cache_tls: bool = True
    cache_cluster: bool = True
    cache_ttl_seconds: int = 300
    max_clock_skew_ms: int = 300_000
    negative_cache_ttl_seconds: int = NEGATIVE_TTL_SECONDS
    feature_flags: frozenset[str] = frozenset(FEATURE_FLAGS)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            region=_required(env, "AWS_REGION"),
            table_name=_required(env, "TABLE_NAME"),
            queue_url=env.get("QUEUE_URL", ""),
            cache_host=env.get("CACHE_HOST", ""),
            cache_port=_integer(env, "CACHE_PORT", 6379),
            cache_user=env.get("CACHE_USER", ""),
            cache_cluster_name=env.get("CACHE_CLUSTER_NAME", ""),
            cache_tls=env.get("CACHE_TLS", "true").lower() == "true",
            cache_cluster=env.get("CACHE_CLUSTER", "true").lower() == "true",
            cache_ttl_seconds=_integer(env, "CACHE_TTL_SECONDS", 300),
            max_clock_skew_ms=_integer(env, "MAX_CLOCK_SKEW_MS", 300_000),
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ValidationError(name, "environment variable must be set")
    return value


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(name, f"must be a whole number, got {raw!r}") from None
