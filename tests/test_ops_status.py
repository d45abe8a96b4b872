"""`python -m ops status` against the moto server (DynamoDB, SSM, Route53, CloudWatch) with RDS through botocore's
Stubber (moto's global clusters cannot be switched over); one run as a subprocess through real boto3 clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from functions.runbook.model import TRAFFIC_ROUTING_CONTROL, Topology
from functions.shared.schema import STATUS_FENCED
from functions.shared.state import AppState
from ops.__main__ import main
from ops.arns import cluster_identifier
from ops.stack import TopologyFileError, read_topology_file, stack_ref
from ops.status import (
    agreement,
    checkers_healthy,
    config_drift,
    gate_position,
    latest_datapoint,
    render_status,
    routing_control_state,
    writer_region,
)
from planning.harness import ROOT
from tests.support.deployment import (
    ACCOUNT,
    APP_CONFIG,
    GLOBAL_CLUSTER,
    PARAMETER,
    REGIONS,
    TABLE,
    Deployment,
    LocalAws,
    cluster_arn,
    deploy,
    global_cluster,
    new_client,
)
from tests.support.program import ProgramRunner


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


def test_a_region_whose_runtime_settings_differ_from_the_stack_file_exits_1_and_says_which_fields(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    assert status_json(deployed, capsys)[1]["appConfig"] == {"parameter": APP_CONFIG, "drift": {}}
    changed = json.loads(stack_ref("prod").app_config)
    changed["cacheTtlSeconds"], changed["featureFlags"]["cacheReads"] = 5, False
    ssm = deployed.aws("ssm", "eu-west-1")
    ssm.put_parameter(Name=APP_CONFIG, Value=json.dumps(changed), Type="SecureString", Overwrite=True)

    code, found = status_json(deployed, capsys)

    assert code == 1 and not found["ok"]
    assert found["state"]["status"] == "active", "the drift alone makes the exit status 1"
    expected = ["cacheTtlSeconds is 5, the config says 300", "featureFlags.cacheReads is false, the config says true"]
    assert found["appConfig"]["drift"] == {"eu-west-1": expected}
    assert found["problems"] == [f"eu-west-1's {APP_CONFIG} differs from Pulumi.prod.yaml: {'; '.join(expected)}"]
    deployed.aws("ssm", "us-east-1").delete_parameter(Name=APP_CONFIG)
    assert status(deployed) == 1
    report = capsys.readouterr().out
    assert "  us-east-1: unreadable: ParameterNotFound" in report
    assert "  eu-west-1: cacheTtlSeconds is 5, the config says 300; featureFlags.cacheReads is false" in report


def test_config_drift_compares_field_by_field() -> None:
    expected = '{"a":1,"flags":{"x":true}}'
    values = {"r1": expected, "r2": '{"a":1,"flags":{"x":false},"b":2}', "r3": "[1]", "r4": None}
    assert config_drift(expected, values, {"r4": "timed out"}) == {
        "r2": ["b is 2, the config says null", "flags.x is false, the config says true"],
        "r3": ["not a JSON object: '[1]'"],
        "r4": ["unreadable: timed out"],
    }


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
        stubs[region] = Stubber(new_client("route53-recovery-cluster", region, url))
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
