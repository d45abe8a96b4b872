"""`python -m ops status` against the moto server (DynamoDB, SSM, Route53, CloudWatch) with RDS through botocore's
Stubber (moto's global clusters cannot be switched over); one run as a subprocess through real boto3 clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from functions.runbook.model import TRAFFIC_HEALTH_CHECK_GATE, TRAFFIC_ROUTING_CONTROL, Topology
from functions.shared.schema import STATUS_FENCED
from functions.shared.state import AppState, ItemTable, read_state
from ops.__main__ import main
from ops.arns import cluster_identifier
from ops.context import OpsContext
from ops.stack import TopologyFileError, read_topology_file, stack_ref
from ops.status import (
    agreement,
    checkers_healthy,
    gate_position,
    latest_datapoint,
    render_status,
    routing_control_state,
    writer_region,
)
from planning.harness import ROOT
from simulation.local_servers import free_port
from tests.support.dynamo import create_items_table
from tests.support.program import ProgramRunner

REGIONS = ("us-east-1", "eu-west-1")
TABLE = "multi-region-prod-items"
PARAMETER = "/multi-region/prod/runbook-topology"
GLOBAL_CLUSTER = "multi-region-prod-aurora"
ACCOUNT = "123456789012"
# Against the local server: one attempt, so a region that is "down" (a closed port) fails at once.
FAST = Config(connect_timeout=1, read_timeout=10, retries={"mode": "standard", "max_attempts": 1})


# One session for every test client (building a session costs more than a client); sessions are not thread-safe, so
# clients are made under a lock, and kept for the whole run (the moto server is the same, reset between tests).
_SESSION = boto3.session.Session()
_LOCK = threading.Lock()
_CLIENTS: dict[tuple[str, str, str], Any] = {}


def local_client(service: str, region: str, endpoint: str) -> Any:
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
            with _LOCK:
                client = _SESSION.client(service, region_name=region, config=FAST)
            self.stubbers[key] = Stubber(client)
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
        aws("ssm", region).put_parameter(Name=PARAMETER, Value=topology.to_json(), Type="String")
    return Deployment(aws, FakeClock(), topology, endpoints)


@pytest.fixture
def deployed(aws_endpoint: str) -> Deployment:
    return deploy(LocalAws(aws_endpoint))


def status(deployment: Deployment, *args: str) -> int:
    return main(["status", "--stack", "prod", *args], deployment.ctx)


def status_json(deployment: Deployment, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = status(deployment, "--json", *args)
    return code, json.loads(capsys.readouterr().out)


# ---- pure helpers ----------------------------------------------------------------------------------------------


def test_a_gate_is_closed_when_its_threshold_is_above_its_children() -> None:
    assert gate_position({"HealthThreshold": 1, "ChildHealthChecks": ["endpoint"]}) == "open"
    assert gate_position({"HealthThreshold": 2, "ChildHealthChecks": ["endpoint"]}) == "closed"
    assert gate_position({"HealthThreshold": 2, "ChildHealthChecks": ["endpoint", "recovery-control"]}) == "open"


def test_helpers_read_the_api_answers() -> None:
    ok = {"StatusReport": {"Status": "Success: HTTP Status Code 200"}}
    bad = {"StatusReport": {"Status": "Failure: Connection timed out"}}
    assert checkers_healthy([ok, ok, bad]) == (2, 3)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    points = [{"Timestamp": t0, "Maximum": 900.0}, {"Timestamp": t0 + timedelta(minutes=1), "Maximum": 80.0}]
    assert latest_datapoint(points, "Maximum") == (80.0, t0 + timedelta(minutes=1))
    assert latest_datapoint([], "Maximum") is None
    assert writer_region(global_cluster("eu-west-1")["GlobalClusters"][0]) == "eu-west-1"
    assert writer_region({"GlobalClusterMembers": []}) is None
    assert cluster_identifier(cluster_arn("eu-west-1")) == "multi-region-prod-eu-west-1-aurora"
    active = AppState("active", "us-east-1", 3, 0, "x")
    assert agreement({"us-east-1": active, "eu-west-1": active})
    assert not agreement({"us-east-1": active, "eu-west-1": None})
    assert not agreement({"us-east-1": active, "eu-west-1": AppState("fenced", "us-east-1", 4, 0, "x")})


# ---- against the moto server -------------------------------------------------------------------------------------


def test_status_reads_every_region_and_exits_0_when_they_agree_and_are_active(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    gates = deployed.topology.traffic_gates
    deployed.put_metric(
        "us-east-1", "AWS/DynamoDB", "ReplicationLatency", {"TableName": TABLE, "ReceivingRegion": "eu-west-1"}, 120
    )
    deployed.put_metric(
        "eu-west-1",
        "AWS/RDS",
        "AuroraGlobalDBReplicationLag",
        {"DBClusterIdentifier": cluster_identifier(cluster_arn("eu-west-1"))},
        35,
    )
    deployed.put_metric("us-east-1", "AWS/Route53", "HealthCheckStatus", {"HealthCheckId": gates["us-east-1"]}, 1)
    deployed.put_metric("us-east-1", "AWS/Route53", "HealthCheckStatus", {"HealthCheckId": gates["eu-west-1"]}, 0)
    deployed.aws.stub("rds", "us-east-1").add_response(
        "describe_global_clusters", global_cluster("us-east-1"), {"GlobalClusterIdentifier": GLOBAL_CLUSTER}
    )

    code, found = status_json(deployed, capsys)

    assert code == 0
    assert found["ok"] and found["agree"] and not found["problems"]
    assert found["topologySource"] == f"SSM {PARAMETER} in us-east-1"
    assert found["state"] == {
        "status": "active",
        "activeRegion": "us-east-1",
        "epoch": 1,
        "updatedBy": "pulumi",
        "updatedAt": "1970-01-01T00:00:00Z",
    }
    by_region = {entry["region"]: entry for entry in found["regions"]}
    assert [entry["region"] for entry in found["regions"]] == list(REGIONS)
    assert all(entry["state"] == found["state"] and entry["error"] is None for entry in found["regions"])
    east, west = by_region["us-east-1"]["traffic"], by_region["eu-west-1"]["traffic"]
    assert (east["gate"], east["position"], east["threshold"], east["gateHealthy"]) == (gates["us-east-1"], "open", 1, True)
    assert (west["gate"], west["position"], west["threshold"], west["gateHealthy"]) == (gates["eu-west-1"], "closed", 2, False)
    assert (west["endpoint"], west["endpointHealthy"], west["endpointCheckers"]) == (deployed.endpoints["eu-west-1"], 1, 1)
    assert east["errors"] == west["errors"] == []
    lags = {(lag["from"], lag["to"]): lag for lag in found["replication"]["dynamodb"]}
    assert lags[("us-east-1", "eu-west-1")]["lagMs"] == 120.0
    assert lags[("eu-west-1", "us-east-1")] == {"from": "eu-west-1", "to": "us-east-1", "lagMs": None, "at": None, "error": None}
    aurora_lags = {lag["region"]: lag for lag in found["replication"]["aurora"]}
    assert aurora_lags["eu-west-1"]["lagMs"] == 35.0 and not aurora_lags["eu-west-1"]["writer"]
    assert aurora_lags["us-east-1"]["writer"]
    assert found["aurora"] == {
        "globalCluster": GLOBAL_CLUSTER,
        "status": "available",
        "writerRegion": "us-east-1",
        "from": "us-east-1",
    }
    assert found["run"] == {"note": "the state (epoch 1) was last written by pulumi, not by a runbook run"}
    deployed.aws.stub("rds", "us-east-1").assert_no_pending_responses()

    report = render_status(found)
    assert "regions agree: yes" in report
    assert f"{gates['eu-west-1']}  closed (threshold 2 of 1)  UNHEALTHY" in report
    assert "DynamoDB us-east-1 -> eu-west-1" in report and "120 ms" in report
    assert f"{GLOBAL_CLUSTER}: writer in us-east-1, status available" in report
    assert report.splitlines()[-1] == "OK: active in us-east-1 at epoch 1, every region agrees"


def test_an_unreachable_region_is_shown_and_exits_1(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    deployed.aws.down.add("eu-west-1")
    deployed.aws.stub("rds", "us-east-1").add_response("describe_global_clusters", global_cluster("us-east-1"))
    code = status(deployed)

    out = capsys.readouterr().out
    assert code == 1
    rows = [line for line in out.splitlines() if line.startswith(("  us-east-1 ", "  eu-west-1 "))]
    east, west = rows[:2]
    assert east.split()[:4] == ["us-east-1", "active", "us-east-1", "1"]
    assert west.startswith("  eu-west-1  unreachable: StateUnavailableError: the state record could not be read:")
    assert "regions agree: NO" in out
    assert "NOT OK:" in out and "  eu-west-1 did not answer: StateUnavailableError" in out
    assert "  Aurora into eu-west-1 (multi-region-prod-eu-west-1-aurora)  unreadable: EndpointConnectionError" in out


def test_regions_that_disagree_exit_1_and_say_how(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    west = deployed.aws.dynamodb("eu-west-1")
    west.put_item(
        TableName=TABLE, Item=AppState(STATUS_FENCED, "us-east-1", 2, 5_000, "runbook to-eu-west-1-from-epoch-1").to_item()
    )

    code, found = status_json(deployed, capsys)

    assert code == 1
    assert not found["ok"] and not found["agree"] and found["state"] is None
    assert found["problems"] == [
        "the regions disagree: us-east-1 says active in us-east-1 at epoch 1; eu-west-1 says fenced in us-east-1 at epoch 2"
    ]
    assert found["run"] == {"note": "the record of run to-eu-west-1-from-epoch-1 is in no region that answered"}
    assert found["aurora"]["error"].startswith("us-east-1: UnStubbedResponseError")


def test_a_fenced_state_everywhere_exits_1(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    for region in REGIONS:
        deployed.aws.dynamodb(region).put_item(TableName=TABLE, Item=AppState(STATUS_FENCED, "us-east-1", 2, 0, "ops").to_item())

    code, found = status_json(deployed, capsys)

    assert code == 1 and found["agree"]
    assert found["problems"] == ["the state is fenced in us-east-1 at epoch 2: no region writes"]


def test_the_topology_comes_from_the_next_region_or_a_file(
    deployed: Deployment, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    deployed.aws("ssm", "us-east-1").delete_parameter(Name=PARAMETER)
    assert status_json(deployed, capsys)[1]["topologySource"] == f"SSM {PARAMETER} in eu-west-1"

    deployed.aws("ssm", "eu-west-1").delete_parameter(Name=PARAMETER)
    assert status(deployed) == 1
    err = capsys.readouterr().err
    assert f"the runbook topology could not be read from SSM {PARAMETER} in any region (us-east-1: ParameterNotFound" in err
    assert "pass --topology FILE" in err

    saved = tmp_path / "topology.json"
    saved.write_text(deployed.topology.to_json())
    assert status_json(deployed, capsys, "--topology", str(saved))[1]["topologySource"] == f"file {saved}"


def test_an_unknown_stack_exits_2(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    assert status(deployed, "--stack", "staging") == 2
    assert "error: --stack: no stack file Pulumi.staging.yaml; stacks: dev, prod" in capsys.readouterr().err


def test_the_command_runs_with_real_boto3_clients(deployed: Deployment) -> None:
    """As an operator runs it: a new process, boto3 from the environment (AWS_ENDPOINT_URL: the moto server)."""
    env = {**os.environ, "AWS_ENDPOINT_URL": deployed.aws.endpoint, "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [sys.executable, "-m", "ops", "status", "--stack", "prod", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["ok"] and found["state"]["activeRegion"] == "us-east-1"
    assert {entry["traffic"]["position"] for entry in found["regions"]} == {"open", "closed"}
    assert (
        found["aurora"]["error"]
        == f"us-east-1: no global cluster {GLOBAL_CLUSTER}; eu-west-1: no global cluster {GLOBAL_CLUSTER}"
    )


def test_a_routing_control_is_read_through_the_next_endpoint_when_one_fails() -> None:
    controls = {r: f"arn:aws:route53-recovery-control::{ACCOUNT}:controlpanel/p/routingcontrol/{r}" for r in REGIONS}
    endpoints = {"us-east-1": "https://a.example/v1", "us-west-2": "https://b.example/v1"}
    topology = Topology(
        regions=REGIONS,
        table_name=TABLE,
        global_cluster_id=GLOBAL_CLUSTER,
        cluster_arns={r: cluster_arn(r) for r in REGIONS},
        traffic_control=TRAFFIC_ROUTING_CONTROL,
        routing_controls=controls,
        routing_control_endpoints=endpoints,
    )
    stubs = {}
    for region, url in endpoints.items():
        client = _SESSION.client("route53-recovery-cluster", region_name=region, endpoint_url=url, config=FAST)
        stubs[region] = Stubber(client)
        stubs[region].activate()
    stubs["us-east-1"].add_client_error("get_routing_control_state", "EndpointTemporarilyUnavailableException", "busy")
    stubs["us-west-2"].add_response(
        "get_routing_control_state",
        {"RoutingControlArn": controls["eu-west-1"], "RoutingControlState": "On"},
        {"RoutingControlArn": controls["eu-west-1"]},
    )

    class ArcOnly:
        def routing_control(self, endpoint_region: str, endpoint_url: str) -> Any:
            assert endpoint_url == endpoints[endpoint_region]
            return stubs[endpoint_region].client

    errors: list[str] = []
    assert routing_control_state(topology, "eu-west-1", ArcOnly(), errors) == "On"  # type: ignore[arg-type]  # ARC only
    assert errors == [
        "routing control via us-east-1: EndpointTemporarilyUnavailableException: "
        "An error occurred (EndpointTemporarilyUnavailableException) "
        "when calling the GetRoutingControlState operation: busy"
    ]


def test_operator_clients_give_up_on_a_dead_region_within_seconds() -> None:
    """What bounds a dead region's cost (a timing test would measure the machine, not the code)."""
    from ops.context import CONNECT_TIMEOUT_SECONDS, MAX_ATTEMPTS, READ_TIMEOUT_SECONDS, Boto3Factory

    config = Boto3Factory()("ssm", "eu-west-1").meta.config
    assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS) == (2.0, 5.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS} and MAX_ATTEMPTS == 2


def test_the_programs_runbook_topology_output_is_what_topology_reads(run_stack: ProgramRunner, tmp_path: Path) -> None:
    """What docs/failover.md says to save before an outage (`pulumi stack output runbookTopology --json`, or every
    output with `pulumi stack output --json`) is what ``--topology FILE`` reads; a wrong file is a bad flag."""
    output = run_stack("prod", preview=False).outputs["runbookTopology"]
    ref = stack_ref("prod")
    saved = tmp_path / "topology.json"
    for content in (output, {"primaryRegion": "us-east-1", "runbookTopology": output}):
        saved.write_text(json.dumps(content))
        topology = read_topology_file(str(saved), ref)
        assert topology == Topology.from_json(output)
        assert topology.regions == REGIONS and topology.table_name == TABLE

    dev = run_stack("dev", preview=False).outputs["runbookTopology"]
    saved.write_text(json.dumps(dev))
    with pytest.raises(TopologyFileError, match=r"table multi-region-dev-items, but stack prod has regions us-east-1, eu-west-1"):
        read_topology_file(str(saved), ref)


def test_status_with_a_bad_topology_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    saved = tmp_path / "topology.json"
    saved.write_text("runbookTopology: {}")
    assert main(["status", "--stack", "prod", "--topology", str(saved)]) == 2
    assert capsys.readouterr().err.startswith(f"error: --topology: {saved} is not JSON")
