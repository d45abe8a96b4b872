"""Fixtures of the function tests: DynamoDB clients and tables on the moto server, a serial moto server, and a real
Redis Cluster (what the deployed functions talk to), started once per session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from functions.shared.state import ItemTable
from simulation.local_servers import RedisClusterServers, RedisServer
from tests.support.dynamo import WRITE_REGION, WRITE_TABLE, DynamoDBFactory, SerialMotoServer, create_items_table, local_client

if TYPE_CHECKING:
    from tests.support.matrix import World


@pytest.fixture
def dynamodb_factory(aws_endpoint: str) -> DynamoDBFactory:
    """Low-level DynamoDB clients of the (clean) moto server, one per region asked."""
    return lambda region: local_client("dynamodb", region, aws_endpoint)


@pytest.fixture
def write_table(dynamodb_factory: DynamoDBFactory) -> ItemTable:
    """The table in us-east-1, active there at epoch 1."""
    return create_items_table(dynamodb_factory(WRITE_REGION), WRITE_TABLE, active_region=WRITE_REGION)


@pytest.fixture(scope="session")
def serial_moto_server() -> Iterator[SerialMotoServer]:
    server = SerialMotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def serial_endpoint(serial_moto_server: SerialMotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean serial moto server and fake credentials."""
    serial_moto_server.reset()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    return serial_moto_server.endpoint


@pytest.fixture
def serial_dynamodb_factory(serial_endpoint: str) -> DynamoDBFactory:
    """Low-level DynamoDB clients of the (clean) serial moto server: for tests of concurrent conditional writes."""
    return lambda region: local_client("dynamodb", region, serial_endpoint)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServers]:
    """Three Redis masters joined into one cluster on free loopback ports (``cluster-enabled yes``)."""
    cluster = RedisClusterServers().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["cluster primary"])
def world(
    request: pytest.FixtureRequest, aws_endpoint: str, redis_cluster: RedisClusterServers, redis_server: RedisServer
) -> Iterator[World]:
    """The fault matrix's two regions on clean caches: the primary on the Redis Cluster (the deployed mode) and the
    secondary on one server, or (``single primary``, asked with ``indirect``) the other way round. Each cache is behind
    a proxy; a cluster client goes through it only to discover the cluster, so the faults that must reach a client
    after that (a cache dying or hanging mid-batch) take the primary on the single server."""
    from tests.support.matrix import World
    from tests.support.world import CacheEndpoint, flushed

    cluster = CacheEndpoint(redis_cluster.host, redis_cluster.port, cluster=True)
    single = CacheEndpoint(redis_server.host, redis_server.port, cluster=False)
    primary, secondary = (cluster, single) if request.param == "cluster primary" else (single, cluster)
    with flushed(cluster), flushed(single):
        built = World(aws_endpoint, primary, secondary)
        yield built
        built.close()
