"""Faults for the function tests: a cache endpoint that can go down or hang, DynamoDB errors injected at a chosen call
(botocore's ``before-call`` event, the hook botocore's own Stubber uses: the error reaches the caller as if every retry
had failed), and a container killed between two calls."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import closing, suppress
from typing import Any

from botocore.awsrequest import AWSResponse

from simulation.local_servers import free_port

UP, DOWN, HUNG = "up", "down", "hung"

THROTTLE, SERVER_ERROR, KILL = "throttle", "500", "kill"
_ERRORS = {
    THROTTLE: (400, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput was exceeded"),
    SERVER_ERROR: (500, "InternalServerError", "Internal server error"),
}


class ContainerKilled(BaseException):
    """The container died here: nothing after this point of the invocation runs (not an Exception: no handler of the
    code under test catches it, as none could catch a killed process)."""


class CacheProxy:
    """A TCP endpoint in front of a Redis server: ``up`` forwards, ``down`` drops every connection at once (connection
    refused or reset), ``hung`` accepts and never answers. Changing the mode drops the open connections."""

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host, self.target_port, self.port = host, target_port, free_port()
        self.mode = UP
        self._listener = socket.create_server((host, self.port))
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode: str) -> None:
        with self._lock:
            if mode == self.mode:
                return
            self.mode = mode
            connections, self._connections = self._connections, []
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def close(self) -> None:
        self.set(DOWN)
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                mode = self.mode
                if mode != DOWN:
                    self._connections.append(client)
            if mode == DOWN:
                client.close()
            elif mode == UP:
                try:
                    upstream = socket.create_connection((self.host, self.target_port), timeout=1)
                except OSError:
                    client.close()
                    continue
                with self._lock:
                    self._connections.append(upstream)
                threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
                threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    with closing(source), closing(target):
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    return
                target.sendall(data)
            except OSError:
                return


class DynamoFaults:
    """Counts the DynamoDB calls of a client and fails the ``at``-th (1-based; 0: none) with ``kind``."""

    def __init__(self, client: Any, kind: str = THROTTLE, at: int = 0) -> None:
        self.kind, self.at, self.calls = kind, at, 0
        # Called with each call's number before it is made (another fault can start there).
        self.before: Callable[[int], None] | None = None
        self.operations: Counter[str] = Counter()
        self._lock = threading.Lock()
        client.meta.events.register("before-call.dynamodb.*", self._before_call)

    def _before_call(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        with self._lock:
            self.calls += 1
            self.operations[model.name] += 1
            hit, number = self.calls == self.at, self.calls
        if self.before is not None:
            self.before(number)
        if not hit:
            return None
        if self.kind == KILL:
            raise ContainerKilled(f"killed before call {self.at} ({model.name})")
        status, code, message = _ERRORS[self.kind]
        parsed = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return AWSResponse("http://fault", status, {}, None), parsed
