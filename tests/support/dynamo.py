"""DynamoDB on the moto server for the function tests: clients, the items table with its state record, and a moto
server that serves one request at a time."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from functions.shared.clients import aws_client
from functions.shared.schema import STATUS_ACTIVE
from functions.shared.state import AppState, ItemTable
from simulation.local_servers import PROJECT_ROOT, MotoServer, wait_for
from simulation.local_tables import create_items_table as create_table

WRITE_REGION = "us-east-1"
WRITE_TABLE = "multi-region-test-items"

# Against a local emulator: fail fast (one retry), short timeouts.
LOCAL_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 2})

DynamoDBFactory = Callable[[str], Any]


# One session for every client: a session loads the service models once (a new session per client costs ~0.15 s of
# CPU). Sessions are not thread-safe, so clients are made under a lock; each call still gets a client of its own.
_SESSION = boto3.session.Session()
_SESSION_LOCK = threading.Lock()


def local_client(service: str, region: str, endpoint: str) -> Any:
    with _SESSION_LOCK:
        return _SESSION.client(service, region_name=region, endpoint_url=endpoint, config=LOCAL_CLIENT_CONFIG)


def function_client(service: str, region: str) -> Any:
    """A client as the functions make it (``aws_client``: their timeouts and retries, the endpoint from
    ``AWS_ENDPOINT_URL``), made from the shared session instead of a new one, and not cached."""
    with _SESSION_LOCK, pytest.MonkeyPatch.context() as patch:
        patch.setattr(boto3.session, "Session", lambda: _SESSION)
        return aws_client.__wrapped__(service, region)


def create_items_table(client: Any, name: str, *, active_region: str | None = None, epoch: int = 1) -> ItemTable:
    """The items table with its real schema; with ``active_region``, the state record the first deploy writes."""
    create_table(client, name)
    table = ItemTable(client, name)
    if active_region is not None:
        client.put_item(TableName=name, Item=AppState(STATUS_ACTIVE, active_region, epoch, 0, "pulumi").to_item())
    return table


# A moto server that handles one request at a time. moto's DynamoDB checks a condition and then writes, as two steps
# with no lock between them (moto/dynamodb/models), so on the threaded server two concurrent conditional writes can
# both pass: a concurrency test there would test moto's races. One request at a time gives every request DynamoDB's
# per-item atomicity, while the client threads' multi-request protocols still interleave freely.
#
# moto finds the backend of each request by listing its own package directory (a stat per entry, ~0.8 ms of the
# server's ~3.5 ms a request): the listing is read once here, as the directory does not change while the server runs.
_SERIAL_SERVER = """
import functools, sys
from werkzeug.serving import run_simple
from moto import backends
from simulation.moto_transactions import install
install()
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
backends.list_of_moto_modules = functools.cache(lambda listed=backends.list_of_moto_modules: tuple(listed()))
run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app), threaded=False,
           request_handler=MotoRequestHandler)
"""


@dataclass
class SerialMotoServer(MotoServer):
    """The moto server, serving one request at a time (see above)."""

    def start(self) -> SerialMotoServer:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERIAL_SERVER, self.host, str(self.port)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).status == 200, "serial moto")
        return self
