"""The deployment the ``ops`` tests run against, on the moto server: the items table with its state record in every
region, Route53 health checks and traffic gates, the runbook topology and prod's runtime settings in SSM; RDS through
botocore Stubbers (moto cannot switch a global cluster over), and a fake clock that makes every wait instant."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.stub import Stubber

from functions.runbook.model import TRAFFIC_HEALTH_CHECK_GATE, Topology
from functions.shared.state import AppState, ItemTable, read_state
from ops.context import OpsContext
from ops.stack import stack_ref
from simulation.local_servers import free_port
from tests.support.dynamo import create_items_table

REGIONS = ("us-east-1", "eu-west-1")
TABLE = "multi-region-prod-items"
PARAMETER = "/multi-region/prod/runbook-topology"
APP_CONFIG = "/multi-region/prod/app-config"
GLOBAL_CLUSTER = "multi-region-prod-aurora"
ACCOUNT = "123456789012"
# Against the local server: one attempt, so a region that is "down" (a closed port) fails at once.
FAST = Config(connect_timeout=1, read_timeout=10, retries={"mode": "standard", "max_attempts": 1})


# One session for every test client (building a session costs more than a client); sessions are not thread-safe, so
# clients are made under a lock, and kept for the whole run (the moto server is the same, reset between tests).
_SESSION = boto3.session.Session()
_LOCK = threading.Lock()
_CLIENTS: dict[tuple[str, str, str], Any] = {}


def new_client(service: str, region: str, endpoint: str | None = None) -> Any:
    """A client of its own (not kept), for a test to stub; without ``endpoint``, AWS's."""
    with _LOCK:
        return _SESSION.client(service, region_name=region, endpoint_url=endpoint, config=FAST)


def local_client(service: str, region: str, endpoint: str) -> Any:
    """The client of ``service`` in ``region`` at ``endpoint``, made once for the run."""
    with _LOCK:
        key = (service, region, endpoint)
        if key not in _CLIENTS:
            _CLIENTS[key] = _SESSION.client(service, region_name=region, endpoint_url=endpoint, config=FAST)
        return _CLIENTS[key]


def cluster_arn(region: str) -> str:
    return f"arn:aws:rds:{region}:{ACCOUNT}:cluster:multi-region-prod-{region}-aurora"


@dataclass
class FakeClock:
    """Epoch ms that only ``sleep`` moves: the runbook's waits (13 s settle, 15 s Aurora polls) cost nothing."""

    now: int = field(default_factory=lambda: int(time.time() * 1000))
    slept: list[float] = field(default_factory=list)

    def now_ms(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += int(seconds * 1000)


@dataclass
class LocalAws:
    """Both the ``ops`` client factory and the runbook's RunbookClients, over the moto server.

    Regions in ``down`` answer nowhere (a closed port). The services in ``stubbed`` (RDS: moto cannot switch a global
    cluster over) answer through botocore Stubbers (:meth:`stub`), the rest through the moto server. With
    ``one_table``, every region's DynamoDB is us-east-1's table: a global table whose replication is instant (moto
    replicates nothing).
    """

    endpoint: str
    down: set[str] = field(default_factory=set)
    one_table: bool = False
    stubbed: set[str] = field(default_factory=lambda: {"rds"})
    stubbers: dict[str, Stubber] = field(default_factory=dict)
    closed: str = field(default_factory=lambda: f"http://127.0.0.1:{free_port()}")

    def client(self, service: str, region: str) -> Any:
        if region in self.down:
            return local_client(service, region, self.closed)
        if service in self.stubbed:
            return self.stub(service, region).client
        return local_client(service, region, self.endpoint)

    def __call__(self, service: str, region: str) -> Any:
        return self.client(service, region)

    def dynamodb(self, region: str) -> Any:
        return self.client("dynamodb", REGIONS[0] if self.one_table and region not in self.down else region)

    def rds(self, region: str) -> Any:
        return self.client("rds", region)

    def route53(self) -> Any:
        return self.client("route53", "us-east-1")

    def cloudwatch(self, region: str) -> Any:
        return self.client("cloudwatch", region)

    def routing_control(self, endpoint_region: str, endpoint_url: str) -> Any:
        raise AssertionError("these tests deploy health-check gates, not routing controls")

    def stub(self, service: str, region: str) -> Stubber:
        """The active Stubber of a client of its own (not a moto one): tests add the answers it gives."""
        key = f"{service}:{region}"
        if key not in self.stubbers:
            self.stubbers[key] = Stubber(new_client(service, region))
            self.stubbers[key].activate()
        return self.stubbers[key]


@dataclass
class Deployment:
    aws: LocalAws
    clock: FakeClock
    topology: Topology
    endpoints: dict[str, str]

    @property
    def ctx(self) -> OpsContext:
        return OpsContext(aws=self.aws, runbook=self.aws, sleep=self.clock.sleep, now_ms=self.clock.now_ms)

    def state(self, region: str) -> AppState:
        return read_state(ItemTable(self.aws.dynamodb(region), TABLE))

    def threshold(self, region: str) -> int:
        check = self.aws.route53().get_health_check(HealthCheckId=self.topology.traffic_gates[region])["HealthCheck"]
        return int(check["HealthCheckConfig"]["HealthThreshold"])

    def put_metric(
        self, region: str, namespace: str, name: str, dimensions: dict[str, str], value: float, *, at: int | None = None
    ) -> None:
        """A datapoint at ``at`` (epoch ms), by default 30 s before the clock's now."""
        self.aws.cloudwatch(region).put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    "Value": value,
                    "Timestamp": datetime.fromtimestamp((self.clock.now - 30_000 if at is None else at) / 1000, tz=UTC),
                }
            ],
        )


def global_cluster(writer: str) -> dict[str, Any]:
    """DescribeGlobalClusters' answer with ``writer`` holding the writer."""
    return {
        "GlobalClusters": [
            {
                "GlobalClusterIdentifier": GLOBAL_CLUSTER,
                "Status": "available",
                "GlobalClusterMembers": [{"DBClusterArn": cluster_arn(r), "IsWriter": r == writer} for r in REGIONS],
            }
        ]
    }


def deploy(aws: LocalAws, *, active: str = "us-east-1", epoch: int = 1) -> Deployment:
    """What the program deploys for the runbook, on the moto server: the table with its state record in every
    region, an endpoint health check and a gate per region (open in the active one), the topology in SSM."""
    route53 = aws.route53()
    gates, endpoints = {}, {}
    for region in REGIONS:
        endpoints[region] = route53.create_health_check(
            CallerReference=f"{region}-endpoint",
            HealthCheckConfig={
                "Type": "HTTPS",
                "FullyQualifiedDomainName": f"api-{region}.example.com",
                "Port": 443,
                "ResourcePath": "/health",
                "RequestInterval": 10,
                "FailureThreshold": 3,
            },
        )["HealthCheck"]["Id"]
        gates[region] = route53.create_health_check(
            CallerReference=f"{region}-gate",
            HealthCheckConfig={
                "Type": "CALCULATED",
                "ChildHealthChecks": [endpoints[region]],
                "HealthThreshold": 1 if region == active else 2,
            },
        )["HealthCheck"]["Id"]
    topology = Topology(
        regions=REGIONS,
        table_name=TABLE,
        global_cluster_id=GLOBAL_CLUSTER,
        cluster_arns={r: cluster_arn(r) for r in REGIONS},
        traffic_control=TRAFFIC_HEALTH_CHECK_GATE,
        traffic_gates=gates,
    )
    for region in REGIONS:
        if not (aws.one_table and region != REGIONS[0]):
            create_items_table(aws.dynamodb(region), TABLE, active_region=active, epoch=epoch)
        aws("ssm", region).put_parameter(Name=PARAMETER, Value=topology.to_json(), Type="SecureString")
        aws("ssm", region).put_parameter(Name=APP_CONFIG, Value=stack_ref("prod").app_config, Type="SecureString")
    return Deployment(aws, FakeClock(), topology, endpoints)
