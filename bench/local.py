"""The local stand-ins the benchmarks run against, and the helpers to fill them.

The Redis server and the moto server are the ones the tests and the drill start (``simulation/local_servers.py``), and the
items table is the one they create (``simulation/local_tables.py``): those two imports are the only places bench names where
they live. While :func:`local_servers` is open, ``AWS_ENDPOINT_URL`` and fake credentials point every boto3 client the
functions build (``functions.shared.clients.aws_client``) at the moto server, so the benchmarks exercise the functions'
real client construction; nothing can reach AWS.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from functions.shared.clients import aws_client
from functions.shared.schema import STATUS_ACTIVE
from functions.shared.settings import Settings
from functions.shared.state import AppState, ItemTable, state_key
from simulation import local_tables
from simulation.local_servers import MotoServer, RedisServer
from simulation.local_tables import create_items_table

REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
# A small item like the ones the API serves: a map of a few attributes.
SAMPLE_DATA = {"name": "widget", "price": 1250, "tags": ["blue", "large"], "stock": {"eu": 4, "us": 11}}

STATE_READ = "GetItem (state record)"
ITEM_TIMESTAMP = 1_700_000_000_000

__all__ = [
    "REGION",
    "SAMPLE_DATA",
    "STATE_READ",
    "Local",
    "MotoServer",
    "RedisServer",
    "RequestCounter",
    "item_record",
    "local_servers",
    "put_item",
    "quiet_logs",
]


@dataclass
class Local:
    """The running servers."""

    redis: RedisServer
    moto: MotoServer

    def settings(self, table_name: str, redis: RedisServer | None = None) -> Settings:
        """A function's settings against the local servers (``redis``: another server than the shared one)."""
        server = redis or self.redis
        return Settings(
            region=REGION,
            table_name=table_name,
            cache_host=server.host,
            cache_port=server.port,
            cache_tls=False,
            cache_cluster=False,
        )

    def table(self, name: str) -> ItemTable:
        """A new, empty items table (the deployed schema) with the state record: active in ``REGION``, epoch 1."""
        client = aws_client("dynamodb", REGION)
        create_items_table(client, name)
        client.put_item(TableName=name, Item=AppState(STATUS_ACTIVE, REGION, 1, 0, "bench").to_item())
        return ItemTable(client, name)


def put_item(table: ItemTable, item_id: str, version: int = 1) -> None:
    """An item with the attributes the API shows (``SAMPLE_DATA``)."""
    table.client.put_item(TableName=table.name, Item=item_record(item_id, version))


def item_record(item_id: str, version: int = 1) -> dict[str, Any]:
    """The item ``item_id`` in DynamoDB JSON, holding ``SAMPLE_DATA``."""
    return local_tables.item_record(item_id, data=SAMPLE_DATA, version=version, timestamp=ITEM_TIMESTAMP, region=REGION)


@contextmanager
def local_servers() -> Iterator[Local]:
    """A Redis server and the moto server on free ports, with the environment pointing boto3 at moto."""
    redis = RedisServer().start()
    try:
        moto = MotoServer().start()
    except BaseException:
        redis.stop()
        raise
    environment = {"AWS_ENDPOINT_URL": moto.endpoint, "AWS_DEFAULT_REGION": REGION, **FAKE_CREDENTIALS}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    aws_client.cache_clear()
    try:
        yield Local(redis, moto)
    finally:
        aws_client.cache_clear()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        moto.stop()
        redis.stop()


@contextmanager
def quiet_logs() -> Iterator[None]:
    """The functions' JSON log lines (and urllib3's pool warnings) kept off the terminal while measuring."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


class RequestCounter:
    """Counts the DynamoDB requests a boto3 client sends, by operation, with botocore's ``before-call`` event (once
    per API call; the client's own retries of a call are not counted again). Reads of the application-state record
    are counted apart, as ``STATE_READ``: the write path makes one per container per second, not one per event.

    Example:
        >>> with RequestCounter(client) as counter:
        ...     client.get_item(TableName="t", Key={"Id": {"S": "a"}})
        >>> counter.calls
        Counter({'GetItem': 1})
    """

    def __init__(self, client: Any, operation: str = "*") -> None:
        self.client = client
        self.event = f"before-call.dynamodb.{operation}"
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __enter__(self) -> RequestCounter:
        self.client.meta.events.register(self.event, self._count)
        return self

    def __exit__(self, *_: object) -> None:
        self.client.meta.events.unregister(self.event, self._count)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.calls)

    def _count(self, model: Any, params: Any, **_: Any) -> None:
        name = str(model.name)
        if name == "GetItem" and json.loads(params.get("body") or b"{}").get("Key") == state_key():
            name = STATE_READ
        with self._lock:
            self.calls[name] += 1
