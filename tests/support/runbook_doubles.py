"""The world the runbook tests run in: moto for DynamoDB, Route53 and CloudWatch, test doubles for the rest (Aurora's
global-cluster calls, Route53 ARC routing controls).

:class:`LocalClients` is the runbook's client factory over all of this: it records every AWS request (service,
region, operation, parameters) and runs ``faults`` before each, which may raise to inject a failure or a crash.
What each double does and leaves out: docs/design/testing.md.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from functions.runbook.model import TRAFFIC_HEALTH_CHECK_GATE, TRAFFIC_ROUTING_CONTROL, FailoverRequest, RunRecord, Topology
from functions.runbook.runner import start_run
from functions.runbook.steps import DRAIN_MARKER_PREFIX, cluster_identifier
from functions.shared.schema import STATUS_ACTIVE
from functions.shared.state import AppState, ItemTable, read_state, state_key
from simulation.aurora_double import GlobalClusterDouble
from simulation.local_servers import free_port
from tests.support.dynamo import LOCAL_CLIENT_CONFIG, create_items_table

SOURCE = "us-east-1"
TARGET = "eu-west-1"
THIRD = "ap-southeast-2"
TABLE = "multi-region-test-items"
GLOBAL_CLUSTER = "multi-region-test"
START_EPOCH = 4
ACCOUNT = "123456789012"
READ_PREFIXES = ("Get", "Describe", "List", "Query", "Scan", "BatchGet")


def cluster_arn(region: str) -> str:
    return f"arn:aws:rds:{region}:{ACCOUNT}:cluster:multi-region-test-{region}"


def routing_control_arn(region: str) -> str:
    return f"arn:aws:route53-recovery-control::{ACCOUNT}:controlpanel/panel/routingcontrol/{region}"


def endpoint_url(region: str) -> str:
    return f"https://host-{region}.example.route53-recovery-cluster.amazonaws.com/v1"


def request(run_id: str = "run-1", *, planned: bool = True, target: str = TARGET) -> FailoverRequest:
    return FailoverRequest(run_id=run_id, target_region=target, planned=planned, allow_data_loss=not planned, requested_by="test")


def client_error(code: str, operation: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


class Clock:
    """The injected clock: ``now_ms()`` reads it, ``sleep`` advances it (and runs the hooks: replication in the world)."""

    def __init__(self, start_ms: int) -> None:
        self.now = start_ms
        self.slept: list[float] = []
        self.on_sleep: list[Callable[[], None]] = []

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        for hook in self.on_sleep:
            hook()


class RoutingControlDouble:
    """A test double of a Route53 ARC cluster endpoint (the data plane's get and update calls); endpoints share one
    ``states`` map, as the endpoints of one cluster do."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states = states
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_routing_control_state(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("GetRoutingControlState", kwargs))
        arn = kwargs["RoutingControlArn"]
        return {"RoutingControlArn": arn, "RoutingControlState": self.states[arn], "RoutingControlName": arn.rsplit("/", 1)[-1]}

    def update_routing_control_states(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("UpdateRoutingControlStates", kwargs))
        for entry in kwargs["UpdateRoutingControlStateEntries"]:
            self.states[entry["RoutingControlArn"]] = entry["RoutingControlState"]
        return {}


@dataclass(frozen=True)
class Request:
    """One AWS request a client of :class:`LocalClients` made."""

    service: str
    region: str
    operation: str
    params: Mapping[str, Any]

    @property
    def is_write(self) -> bool:
        return not self.operation.startswith(READ_PREFIXES)


Fault = Callable[[Request], None]


@dataclass
class LocalClients:
    """The runbook's clients against the moto server and the doubles; records every request (see the module notes)."""

    endpoint: str
    aurora: Any  # the double (a client per region), or one RDS client for every region: a Stubber's, a test's wrapper
    routing: Mapping[str, Any] = field(default_factory=dict)  # endpoint region -> client (a double or a Stubber's)
    unreachable_dynamodb: frozenset[str] = frozenset()
    requests: list[Request] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    rds_regions: list[str] = field(default_factory=list)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    def dynamodb(self, region: str) -> Any:
        return self._client("dynamodb", region)

    def rds(self, region: str) -> Any:
        self.rds_regions.append(region)
        return self.aurora.client(region) if isinstance(self.aurora, GlobalClusterDouble) else self.aurora

    def route53(self) -> Any:
        return self._client("route53", "us-east-1")

    def cloudwatch(self, region: str) -> Any:
        return self._client("cloudwatch", region)

    def routing_control(self, endpoint_region: str, endpoint_url: str) -> Any:
        return self.routing[endpoint_region]

    def writes(self, service: str | None = None) -> list[Request]:
        return [r for r in self.requests if r.is_write and (service is None or r.service == service)]

    def _client(self, service: str, region: str) -> Any:
        if (service, region) not in self._clients:
            if service == "dynamodb" and region in self.unreachable_dynamodb:
                client = unreachable_client(service, region)
            else:
                client = new_client(service, region, self.endpoint)
            client.meta.events.register("provide-client-params", self._recorder(service, region))
            self._clients[(service, region)] = client
        return self._clients[(service, region)]

    def _recorder(self, service: str, region: str) -> Callable[..., None]:
        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            request = Request(service, region, model.name, copy.deepcopy(params))
            self.requests.append(request)
            for fault in list(self.faults):
                fault(request)

        return record


_SESSION = boto3.session.Session()
_PLAIN_CLIENTS: dict[tuple[str, str, str], Any] = {}


def new_client(service: str, region: str, endpoint: str) -> Any:
    """A client of the local server from one shared session (a session per client costs ~0.1 s of model loading)."""
    return _SESSION.client(service, region_name=region, endpoint_url=endpoint, config=LOCAL_CLIENT_CONFIG)


def plain_client(service: str, region: str, endpoint: str) -> Any:
    """The tests' own client (not recorded), one per service, region and endpoint."""
    key = (service, region, endpoint)
    if key not in _PLAIN_CLIENTS:
        _PLAIN_CLIENTS[key] = new_client(service, region, endpoint)
    return _PLAIN_CLIENTS[key]


def unreachable_client(service: str, region: str) -> Any:
    """A client of a closed local port: every call fails to connect, fast (one attempt)."""
    config = Config(connect_timeout=0.5, read_timeout=0.5, retries={"mode": "standard", "total_max_attempts": 1})
    return _SESSION.client(service, region_name=region, endpoint_url=f"http://127.0.0.1:{free_port()}", config=config)


@dataclass
class World:
    """Two (or three) regions on the moto server, active in SOURCE at START_EPOCH, and the runbook's view of them."""

    topology: Topology
    clients: LocalClients
    clock: Clock
    aurora: GlobalClusterDouble
    gates: dict[str, str]
    routing_states: dict[str, str]
    # The detail of each run's last attempt per step, as run_step keeps it in the run record (tests that call
    # attempt() directly hand it back with the next attempt).
    details: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)

    def table(self, region: str) -> ItemTable:
        return ItemTable(plain_client("dynamodb", region, self.clients.endpoint), TABLE)

    def state(self, region: str = TARGET) -> AppState:
        return read_state(self.table(region))

    def set_state(self, status: str, region: str, epoch: int, updated_by: str, at: int | None = None) -> None:
        state = AppState(status, region, epoch, self.clock() if at is None else at, updated_by)
        table = self.table(TARGET)
        table.client.put_item(TableName=TABLE, Item=state.to_item())

    def start(self, failover: FailoverRequest) -> RunRecord:
        return start_run(failover, self.topology, self.clients, now_ms=self.clock)

    def replicate(self) -> None:
        """Replication has happened: the state record reaches every other region, the drain markers the target."""
        self.replicate_state()
        self.replicate_markers()

    def replicate_state(self) -> None:
        """Copy the state record from the target's table (where the runbook writes it) to the source's, if it answers."""
        if SOURCE not in self.clients.unreachable_dynamodb:
            item = self.table(TARGET).client.get_item(TableName=TABLE, Key=state_key(), ConsistentRead=True)["Item"]
            self.table(SOURCE).client.put_item(TableName=TABLE, Item=item)

    def replicate_markers(self) -> None:
        """Copy the drain markers from every other region's table into the target's."""
        target = self.table(TARGET)
        for region in self.topology.regions:
            if region == TARGET or region in self.clients.unreachable_dynamodb:
                continue
            source = self.table(region)
            for item in source.client.scan(TableName=TABLE, ConsistentRead=True)["Items"]:
                if item["Id"]["S"].startswith(DRAIN_MARKER_PREFIX):
                    target.client.put_item(TableName=TABLE, Item=item)

    def marker(self, region: str, run_id: str = "run-1") -> dict[str, Any] | None:
        table = self.table(region)
        key = {"Id": {"S": DRAIN_MARKER_PREFIX + run_id}}
        item: dict[str, Any] | None = table.client.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item")
        return item

    def put_aurora_lag(self, lag_ms: float, at_ms: int) -> None:
        dimensions = {"DBClusterIdentifier": cluster_identifier(cluster_arn(TARGET))}
        self._put_metric(TARGET, ("AWS/RDS", "AuroraGlobalDBReplicationLag", dimensions), lag_ms, at_ms)

    def put_replication_latency(self, latency_ms: float, at_ms: int) -> None:
        dimensions = {"TableName": TABLE, "ReceivingRegion": TARGET}
        self._put_metric(SOURCE, ("AWS/DynamoDB", "ReplicationLatency", dimensions), latency_ms, at_ms)

    def _put_metric(self, region: str, metric: tuple[str, str, Mapping[str, str]], value: float, at_ms: int) -> None:
        namespace, name, dimensions = metric
        plain_client("cloudwatch", region, self.clients.endpoint).put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": key, "Value": val} for key, val in dimensions.items()],
                    "Value": value,
                    "Timestamp": datetime.fromtimestamp(at_ms / 1000, tz=UTC),
                }
            ],
        )

    def thresholds(self) -> dict[str, int]:
        route53 = plain_client("route53", "us-east-1", self.clients.endpoint)
        return {
            region: int(route53.get_health_check(HealthCheckId=gate)["HealthCheck"]["HealthCheckConfig"]["HealthThreshold"])
            for region, gate in self.gates.items()
        }

    def state_updates(self) -> list[Request]:
        """The UpdateItem requests on the state record (each a transition attempt)."""
        return [r for r in self.clients.requests if r.operation == "UpdateItem" and r.params.get("Key") == state_key()]


def build_world(
    endpoint: str,
    *,
    traffic_control: str = TRAFFIC_HEALTH_CHECK_GATE,
    regions: tuple[str, ...] = (SOURCE, TARGET),
    open_gates: tuple[str, ...] = (SOURCE,),
    unreachable_dynamodb: frozenset[str] = frozenset(),
    drain_timeout_seconds: int = 300,
    start_ms: int = 1_900_000_000_000,
) -> World:
    """The tables (active in SOURCE at START_EPOCH), the gates (open in ``open_gates``), the doubles and the topology."""
    for region in (SOURCE, TARGET):
        create_items_table(plain_client("dynamodb", region, endpoint), TABLE)
        plain_client("dynamodb", region, endpoint).put_item(
            TableName=TABLE, Item=AppState(STATUS_ACTIVE, SOURCE, START_EPOCH, 0, "pulumi").to_item()
        )
    route53 = plain_client("route53", "us-east-1", endpoint)
    gates: dict[str, str] = {}
    for region in regions:
        endpoint_check = route53.create_health_check(
            CallerReference=f"endpoint-{region}",
            HealthCheckConfig={
                "Type": "HTTPS",
                "FullyQualifiedDomainName": f"api.{region}.example.com",
                "ResourcePath": "/health",
            },
        )["HealthCheck"]["Id"]
        gates[region] = route53.create_health_check(
            CallerReference=f"gate-{region}",
            HealthCheckConfig={
                "Type": "CALCULATED",
                "ChildHealthChecks": [endpoint_check],
                "HealthThreshold": 1 if region in open_gates else 2,
            },
        )["HealthCheck"]["Id"]
    routing_states = {routing_control_arn(region): "On" if region in open_gates else "Off" for region in regions}
    routing = traffic_control == TRAFFIC_ROUTING_CONTROL
    topology = Topology(
        regions=regions,
        table_name=TABLE,
        global_cluster_id=GLOBAL_CLUSTER,
        cluster_arns={region: cluster_arn(region) for region in regions},
        traffic_control=traffic_control,
        traffic_gates=gates,
        routing_controls={region: routing_control_arn(region) for region in regions} if routing else {},
        routing_control_endpoints={region: endpoint_url(region) for region in regions} if routing else {},
        drain_timeout_seconds=drain_timeout_seconds,
    )
    aurora = GlobalClusterDouble(GLOBAL_CLUSTER, topology.cluster_arns, SOURCE, describes_per_switch=1)
    endpoints = {region: RoutingControlDouble(routing_states) for region in regions} if routing else {}
    clients = LocalClients(endpoint, aurora, routing=endpoints, unreachable_dynamodb=unreachable_dynamodb)
    return World(topology, clients, Clock(start_ms), aurora, gates, routing_states)
