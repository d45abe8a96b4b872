"""Real local servers: a Redis server (Debian's redis-server), a Redis Cluster of three of them, and the moto server (an
AWS API emulator).

The function tests and the local drill (``python -m ops drill``) run the real function code against them. Each listens
on 127.0.0.1 on a free port, is started by its user (a test session, the drill), and is stopped by its PID. A Redis
server can be stopped and started again on the same port, for the outage tests and the drill's regional outage. The
cluster is what the deployed functions talk to (MemoryDB speaks only the cluster protocol): three masters sharing the
16384 slots, joined by ``redis-cli --cluster create``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT_SECONDS = 20.0

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until it is true (connection errors count as not yet); RuntimeError after the start timeout."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {START_TIMEOUT_SECONDS:.0f} s")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not _running(pid):
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """The process exists and has not exited. A daemon (redis-server) is not our child: once it exits it stays a zombie
    until init reaps it, which can take seconds, and a zombie holds no port, so it counts as exited (Linux's /proc tells;
    elsewhere only a reaped process counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


@dataclass
class RedisServer:
    """A redis-server process on 127.0.0.1:port, without persistence."""

    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="redis-test-")))
    pid: int | None = None
    # Further redis-server options, e.g. ("--cluster-enabled", "yes").
    options: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; `./run test` installs it (apt-get install redis-server)")
        pidfile = self.workdir / "redis.pid"
        pidfile.unlink(missing_ok=True)
        subprocess.run(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--pidfile",
                str(pidfile),
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.workdir / "redis.log"),
                *self.options,
            ],
            check=True,
        )
        wait_for(lambda: pidfile.exists() and self.ping(), f"redis-server on port {self.port}")
        self.pid = int(pidfile.read_text().strip())
        return self

    def ping(self) -> bool:
        with closing(socket.create_connection((self.host, self.port), timeout=0.5)) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        if self.pid is not None:
            _kill(self.pid)
            self.pid = None


CLUSTER_SLOTS = 16384


@dataclass
class RedisClusterServers:
    """A Redis Cluster on 127.0.0.1: ``size`` masters (no replicas) sharing every slot.

    Each node also listens on a cluster bus port of its own (``cluster-port``, a free port, not port + 10000, which may
    be taken). ``start`` returns once every node reports ``cluster_state:ok``.
    """

    size: int = 3
    host: str = "127.0.0.1"
    nodes: list[RedisServer] = field(default_factory=list)

    @property
    def port(self) -> int:
        """The first node's port: the seed a cluster client starts from (it discovers the others)."""
        return self.nodes[0].port

    def start(self) -> RedisClusterServers:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed; `./run test` installs it (apt-get install redis-server)")
        self.nodes = [RedisServer(host=self.host, options=_cluster_options(free_port())).start() for _ in range(self.size)]
        addresses = [f"{node.host}:{node.port}" for node in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wait_for(lambda: all(_cluster_ok(node) for node in self.nodes), "the Redis Cluster")
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _cluster_options(bus_port: int) -> tuple[str, ...]:
    return (
        "--cluster-enabled",
        "yes",
        "--cluster-port",
        str(bus_port),
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        "2000",
    )


def _cluster_ok(node: RedisServer) -> bool:
    with closing(socket.create_connection((node.host, node.port), timeout=0.5)) as sock:
        sock.sendall(b"CLUSTER INFO\r\n")
        return b"cluster_state:ok" in sock.recv(4096)


@dataclass
class MotoServer:
    """The moto server (an AWS API emulator) on 127.0.0.1:port."""

    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoServer:
        self.process = subprocess.Popen(
            # moto's server with all-or-nothing transactions that leave no undone write on a stream
            [sys.executable, "-m", "simulation.moto_transactions", "-H", self.host, "-p", str(self.port)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).status == 200, "moto server")
        return self

    def reset(self) -> None:
        """Forget every resource (between tests)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=5).close()

    def stop(self) -> None:
        if self.process is not None:
            # Our own child: terminate and reap it (a zombie would still answer a liveness probe).
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
            self.process = None
