"""Fixtures of the function tests: DynamoDB clients and tables on the moto server, a serial moto server, and a real
Redis Cluster (what the deployed functions talk to), started once per session."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config

from functions.shared.schema import STATUS_ACTIVE
from functions.shared.state import AppState, ItemTable
from ops.local_servers import MotoServer, RedisClusterServers, RedisServer, wait_for
from tests.functions.test_cache import create_table

if TYPE_CHECKING:
    from tests.functions.matrix import World

WRITE_REGION = "us-east-1"
WRITE_TABLE = "multi-region-test-items"

# Against a local emulator: fail fast (one retry), short timeouts.
LOCAL_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 2})

DynamoDBFactory = Callable[[str], Any]


def local_client(service: str, region: str, endpoint: str) -> Any:
    return boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint, config=LOCAL_CLIENT_CONFIG)


def create_items_table(client: Any, name: str, *, active_region: str | None = None, epoch: int = 1) -> ItemTable:
    """The items table with its real schema; with ``active_region``, the state record the first deploy writes."""
    create_table(client, name)
    table = ItemTable(client, name)
    if active_region is not None:
        client.put_item(TableName=name, Item=AppState(STATUS_ACTIVE, active_region, epoch, 0, "pulumi").to_item())
    return table


@pytest.fixture
def dynamodb_factory(aws_endpoint: str) -> DynamoDBFactory:
    """Low-level DynamoDB clients of the (clean) moto server, one per region asked."""
    return lambda region: local_client("dynamodb", region, aws_endpoint)


@pytest.fixture
def write_table(dynamodb_factory: DynamoDBFactory) -> ItemTable:
    """The table in us-east-1, active there at epoch 1."""
    return create_items_table(dynamodb_factory(WRITE_REGION), WRITE_TABLE, active_region=WRITE_REGION)


# A moto server that handles one request at a time. moto's DynamoDB checks a condition and then writes, as two steps
# with no lock between them (moto/dynamodb/models), so on the threaded server two concurrent conditional writes can
# both pass: a concurrency test there would test moto's races. One request at a time gives every request DynamoDB's
# per-item atomicity, while the client threads' multi-request protocols still interleave freely.
_SERIAL_SERVER = """
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app), threaded=False,
           request_handler=MotoRequestHandler)
"""


@dataclass
class SerialMotoServer(MotoServer):
    """The moto server, serving one request at a time (see above)."""

    def start(self) -> SerialMotoServer:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERIAL_SERVER, self.host, str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).status == 200, "serial moto")
        return self


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
    from tests.functions.matrix import World
    from tests.functions.world import CacheEndpoint, flushed

    cluster = CacheEndpoint(redis_cluster.host, redis_cluster.port, cluster=True)
    single = CacheEndpoint(redis_server.host, redis_server.port, cluster=False)
    primary, secondary = (cluster, single) if request.param == "cluster primary" else (single, cluster)
    with flushed(cluster), flushed(single):
        built = World(aws_endpoint, primary, secondary)
        yield built
        built.close()
