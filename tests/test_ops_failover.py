"""`python -m ops failover`: flag errors, the dry run, the Step Functions path (moto where it implements the calls,
botocore's Stubber for redrive and execution outcomes) and a whole ``--local`` run against the moto server with
Aurora through the Stubber (moto has no switchover or failover). A fake clock makes every wait instant."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from functions.runbook.model import FailoverRequest, Topology
from functions.shared.schema import STATUS_ACTIVE
from functions.shared.state import AppState
from ops.__main__ import main
from ops.arns import cluster_identifier, execution_arn, state_machine_arn
from ops.context import OpsContext
from ops.credentials import CREDENTIALS_HELP, EXIT_CREDENTIALS
from ops.failover import (
    RESUME_HINT,
    FailoverFailedError,
    Finished,
    UsageError,
    check_resumed_run,
    resolve_run_id,
)
from tests.support.deployment import (
    ACCOUNT,
    GLOBAL_CLUSTER,
    PARAMETER,
    REGIONS,
    TABLE,
    Deployment,
    LocalAws,
    cluster_arn,
    deploy,
    global_cluster,
)

MACHINE = "multi-region-prod-failover"
MACHINE_ARN = f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:{MACHINE}"
RUN_ID = "to-eu-west-1-from-epoch-1"
EXECUTION_ARN = f"arn:aws:states:eu-west-1:{ACCOUNT}:execution:{MACHINE}:{RUN_ID}"


class NoAws:
    """A context for the flag tests: any AWS call fails the test (flags are checked before AWS is touched)."""

    def __call__(self, service: str, region: str) -> Any:
        raise AssertionError(f"{service} in {region} was called")

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the runbook's {name} client was asked for")


def failover(ctx: OpsContext, *args: str) -> int:
    return main(["failover", "--stack", "prod", *args], ctx)


def request_input() -> str:
    """The input of a planned run's execution, started by another operator."""
    request = FailoverRequest(RUN_ID, "eu-west-1", planned=True, requested_by="someone else")
    return json.dumps({"request": request.to_dict()})


@pytest.fixture
def deployed(aws_endpoint: str) -> Deployment:
    """Deployed with instant replication (one table for both regions), so the drain finds its marker at once, and
    Aurora's lag into eu-west-1 as RDS publishes it a little after a fence now would have settled (13 s): caught up."""
    deployment = deploy(LocalAws(aws_endpoint, one_table=True))
    lag = {"DBClusterIdentifier": cluster_identifier(cluster_arn("eu-west-1"))}
    deployment.put_metric("eu-west-1", "AWS/RDS", "AuroraGlobalDBReplicationLag", lag, 20, at=deployment.clock.now + 20_000)
    return deployment


def snapshot(deployment: Deployment) -> tuple[Any, ...]:
    """Everything a run could write: the table's items and every gate's threshold."""
    items = deployment.aws.dynamodb("us-east-1").scan(TableName=TABLE)["Items"]
    return (sorted(json.dumps(item, sort_keys=True) for item in items), [deployment.threshold(r) for r in REGIONS])


# ---- pure ------------------------------------------------------------------------------------------------------


def test_the_run_id_follows_the_state() -> None:
    assert resolve_run_id(AppState("active", "us-east-1", 7, 0, "pulumi"), "eu-west-1", None) == "to-eu-west-1-from-epoch-7"
    assert resolve_run_id(AppState("active", "us-east-1", 7, 0, "pulumi"), "eu-west-1", "mine") == "mine"
    during = AppState("failover", "eu-west-1", 9, 0, "runbook to-eu-west-1-from-epoch-7")
    assert resolve_run_id(during, "eu-west-1", None) == "to-eu-west-1-from-epoch-7", "a run under way is resumed"
    with pytest.raises(UsageError, match="--run-id: got other, but the state is failover in eu-west-1 at epoch 9 by run"):
        resolve_run_id(during, "eu-west-1", "other")
    done = AppState("active", "eu-west-1", 10, 0, "runbook to-eu-west-1-from-epoch-7")
    assert resolve_run_id(done, "eu-west-1", None) == Finished("to-eu-west-1-from-epoch-7", done)
    with pytest.raises(UsageError, match="--to: got us-east-1, which is already the active region"):
        resolve_run_id(AppState("active", "us-east-1", 1, 0, "pulumi"), "us-east-1", None)


def test_a_state_fenced_by_hand_is_not_taken_over() -> None:
    with pytest.raises(
        FailoverFailedError, match="the state is fenced in us-east-1 at epoch 2, set by ops-oncall, not by a runbook"
    ):
        resolve_run_id(AppState("fenced", "us-east-1", 2, 0, "ops-oncall"), "eu-west-1", None)


def test_a_resumed_run_needs_the_same_target_and_kind() -> None:
    started = FailoverRequest(RUN_ID, "eu-west-1", planned=True)
    check_resumed_run(started, FailoverRequest(RUN_ID, "eu-west-1", planned=True, requested_by="someone else"))
    with pytest.raises(
        UsageError, match="--to: got ap-southeast-2, but run to-eu-west-1-from-epoch-1 moves the application to eu-west-1"
    ):
        check_resumed_run(started, FailoverRequest(RUN_ID, "ap-southeast-2", planned=True))
    with pytest.raises(UsageError, match="--planned/--unplanned: run to-eu-west-1-from-epoch-1 was started with --planned"):
        check_resumed_run(started, FailoverRequest(RUN_ID, "eu-west-1", planned=False, allow_data_loss=True))


def test_arns_come_from_the_caller_identity() -> None:
    identity = {"Account": "111122223333", "Arn": "arn:aws-us-gov:iam::111122223333:user/ops"}
    machine = state_machine_arn(identity, "us-gov-west-1", MACHINE)
    assert machine == f"arn:aws-us-gov:states:us-gov-west-1:111122223333:stateMachine:{MACHINE}"
    assert execution_arn(machine, "run-1") == f"arn:aws-us-gov:states:us-gov-west-1:111122223333:execution:{MACHINE}:run-1"


# ---- flags -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "xx-north-9", "--planned"], "error: --to: got 'xx-north-9'; allowed: us-east-1, eu-west-1"),
        (["--to", "eu-west-1", "--unplanned"], "error: --allow-data-loss: got false for an unplanned failover; allowed: true"),
        (["--to", "eu-west-1", "--planned", "--allow-data-loss"], "error: --allow-data-loss: got true for a planned switchover"),
        (
            ["--to", "eu-west-1", "--planned", "--run-id", "no spaces"],
            "error: --run-id: got 'no spaces'; allowed: 1 to 80 letters",
        ),
        (["--to", "eu-west-1", "--planned", "--stack", "qa"], "error: --stack: no stack file Pulumi.qa.yaml"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag_before_any_aws_call(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert failover(OpsContext(aws=NoAws(), runbook=NoAws()), *args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message), captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "eu-west-1"], "one of the arguments --planned --unplanned is required"),
        (["--to", "eu-west-1", "--planned", "--unplanned"], "argument --unplanned: not allowed with argument --planned"),
        (["--planned"], "the following arguments are required: --to"),
    ],
)
def test_missing_or_conflicting_kinds_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        failover(OpsContext(aws=NoAws(), runbook=NoAws()), *args)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_failing_over_to_the_active_region_exits_2(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    assert failover(deployed.ctx, "--to", "us-east-1", "--planned") == 2
    assert (
        "error: --to: got us-east-1, which is already the active region (active in us-east-1 at epoch 1); allowed: another region"
        in (capsys.readouterr().err)
    )


# ---- dry run ---------------------------------------------------------------------------------------------------


def test_a_dry_run_prints_every_step_and_writes_nothing(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    deployed.aws.stub("rds", "eu-west-1").add_response(
        "describe_global_clusters", global_cluster("us-east-1"), {"GlobalClusterIdentifier": GLOBAL_CLUSTER}
    )
    before = snapshot(deployed)

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned", "--dry-run") == 0

    assert snapshot(deployed) == before
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "Stack multi-region/prod: active in us-east-1 at epoch 1 as eu-west-1 sees it "
        "(topology from SSM /multi-region/prod/runbook-topology in eu-west-1)."
    )
    assert out[1] == f"Dry run of {RUN_ID}: nothing is written."
    assert [line.split(":")[0].strip() for line in out[2:7]] == ["fence", "drain", "promote", "shift_traffic", "activate"]
    assert "active in us-east-1 at epoch 1 -> fenced (epoch 2)" in out[2]
    assert f"SwitchoverGlobalCluster {GLOBAL_CLUSTER} to {cluster_arn('eu-west-1')}" in out[4]
    assert "eu-west-1: gate" in out[5] and "threshold 2 -> 1 (open)" in out[5]
    assert out[7] == f"Would run them as execution {RUN_ID} of {MACHINE} in eu-west-1."
    deployed.aws.stub("rds", "eu-west-1").assert_no_pending_responses()


# ---- Step Functions ----------------------------------------------------------------------------------------------


def test_the_execution_is_started_in_the_target_once_and_then_followed(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    sfn = deployed.aws("stepfunctions", "eu-west-1")
    created = sfn.create_state_machine(
        name=MACHINE,
        definition='{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}',
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
    )
    assert created["stateMachineArn"] == MACHINE_ARN

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned", "--no-wait") == 0

    executions = sfn.list_executions(stateMachineArn=MACHINE_ARN)["executions"]
    assert [(e["name"], e["executionArn"], e["status"]) for e in executions] == [(RUN_ID, EXECUTION_ARN, "RUNNING")]
    started = json.loads(sfn.describe_execution(executionArn=EXECUTION_ARN)["input"])
    assert started["request"] | {"requestedBy": "x"} == {
        "runId": RUN_ID,
        "targetRegion": "eu-west-1",
        "planned": True,
        "allowDataLoss": False,
        "requestedBy": "x",
    }
    assert started["request"]["requestedBy"].startswith("ops failover")
    assert f"Started {EXECUTION_ARN}" in capsys.readouterr().out

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned", "--no-wait") == 0, "the same command again"
    assert len(sfn.list_executions(stateMachineArn=MACHINE_ARN)["executions"]) == 1, "no second execution"
    assert f"Following {EXECUTION_ARN} (RUNNING)" in capsys.readouterr().out

    assert failover(deployed.ctx, "--to", "eu-west-1", "--unplanned", "--allow-data-loss", "--no-wait") == 2
    assert "error: --planned/--unplanned: run to-eu-west-1-from-epoch-1 was started with --planned" in capsys.readouterr().err


def stub_step_functions(deployment: Deployment) -> Stubber:
    """Step Functions in eu-west-1 through a Stubber (STS stays on the moto server)."""
    deployment.aws.stubbed.add("stepfunctions")
    return deployment.aws.stub("stepfunctions", "eu-west-1")


def described(status: str, redrives: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "executionArn": EXECUTION_ARN,
        "stateMachineArn": MACHINE_ARN,
        "name": RUN_ID,
        "status": status,
        "startDate": datetime(2026, 1, 1, tzinfo=UTC),
        "input": request_input(),
        "redriveCount": redrives,
        **extra,
    }


def test_a_failed_execution_is_redriven_and_followed_to_the_end(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    sfn = stub_step_functions(deployed)
    by_arn = {"executionArn": EXECUTION_ARN}
    sfn.add_response("describe_execution", described("FAILED", error="States.TaskFailed", cause="drain timed out"), by_arn)
    sfn.add_response("redrive_execution", {"redriveDate": datetime(2026, 1, 1, tzinfo=UTC)}, by_arn)
    sfn.add_response("describe_execution", described("FAILED", error="States.TaskFailed"), by_arn)  # not redriven yet
    sfn.add_response("describe_execution", described("RUNNING", redrives=1), by_arn)
    sfn.add_response("describe_execution", described("SUCCEEDED", redrives=1), by_arn)

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned") == 0

    sfn.assert_no_pending_responses()
    out = capsys.readouterr().out
    assert f"Redriving {EXECUTION_ARN} (it ended FAILED; it resumes from the step that failed)" in out
    assert deployed.clock.slept == [5.0, 5.0], "polled until the redriven execution ended"


def test_a_failed_execution_that_fails_again_exits_1_with_the_cause(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    sfn = stub_step_functions(deployed)
    sfn.add_response("describe_execution", described("TIMED_OUT"))
    sfn.add_response("redrive_execution", {"redriveDate": datetime(2026, 1, 1, tzinfo=UTC)})
    sfn.add_response("describe_execution", described("FAILED", redrives=1, error="StepRefusedError", cause="drain: out of time"))

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned") == 1

    err = capsys.readouterr().err
    assert f"error: execution {EXECUTION_ARN} ended FAILED: StepRefusedError drain: out of time" in err
    assert "hint: run the same command again to resume the run from where it stopped" in err


def test_an_execution_that_cannot_be_redriven_points_to_local(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    sfn = stub_step_functions(deployed)
    sfn.add_response("describe_execution", described("ABORTED"))
    sfn.add_client_error("redrive_execution", "ExecutionNotRedrivable", "older than 14 days")

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned") == 1
    err = capsys.readouterr().err
    assert f"error: execution {EXECUTION_ARN} ended ABORTED and cannot be redriven (ExecutionNotRedrivable" in err
    assert "run the steps from here with --local (same run, same steps)" in err


def test_a_succeeded_execution_is_reported_not_started_again(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    sfn = stub_step_functions(deployed)
    sfn.add_response("describe_execution", described("SUCCEEDED"))

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned") == 0
    sfn.assert_no_pending_responses()
    assert f"Execution {EXECUTION_ARN} already succeeded." in capsys.readouterr().out


def test_a_new_execution_is_started_with_the_arn_name_and_input(deployed: Deployment) -> None:
    sfn = stub_step_functions(deployed)
    sfn.add_client_error("describe_execution", "ExecutionDoesNotExist", expected_params={"executionArn": EXECUTION_ARN})
    sfn.add_response(
        "start_execution",
        {"executionArn": EXECUTION_ARN, "startDate": datetime(2026, 1, 1, tzinfo=UTC)},
        {"stateMachineArn": MACHINE_ARN, "name": RUN_ID, "input": ANY},
    )

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned", "--no-wait") == 0
    sfn.assert_no_pending_responses()


# ---- --local ---------------------------------------------------------------------------------------------------


def test_a_local_run_moves_everything_to_the_target(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    rds = deployed.aws.stub("rds", "eu-west-1")
    rds.add_response("describe_global_clusters", global_cluster("us-east-1"))
    rds.add_response(
        "switchover_global_cluster",
        {"GlobalCluster": {"GlobalClusterIdentifier": GLOBAL_CLUSTER}},
        {"GlobalClusterIdentifier": GLOBAL_CLUSTER, "TargetDbClusterIdentifier": cluster_arn("eu-west-1")},
    )
    rds.add_response("describe_global_clusters", global_cluster("eu-west-1"))

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned", "--local") == 0

    rds.assert_no_pending_responses()
    state = deployed.state("eu-west-1")
    assert (state.status, state.active_region, state.epoch, state.updated_by) == (
        STATUS_ACTIVE,
        "eu-west-1",
        4,
        f"runbook {RUN_ID}",
    )
    assert [deployed.threshold(r) for r in REGIONS] == [2, 1], "us-east-1's gate closed, eu-west-1's open"
    out = capsys.readouterr().out.splitlines()
    steps = [line.split()[0] for line in out if " done in " in line]
    assert steps == ["fence", "drain", "promote", "shift_traffic", "activate"]
    assert out[-1].startswith(f"Run {RUN_ID} succeeded in ") and out[-1].endswith(": active in eu-west-1 at epoch 4.")
    assert deployed.clock.slept[:2] == [13, 5], "the fence settled, then the drain looked again (on the fake clock)"
    assert "  drain          done in 18.0 s (3 attempts): drained" in out

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned", "--local") == 0, "the same command again"
    assert (
        f"Run {RUN_ID} already moved the application: active in eu-west-1 at epoch 4. Nothing to do." in capsys.readouterr().out
    )


def test_a_stopped_local_run_resumes_with_the_same_command(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    rds = deployed.aws.stub("rds", "eu-west-1")
    rds.add_response("describe_global_clusters", {"GlobalClusters": []})  # promote refuses: the run stops there

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned", "--local") == 1

    err = capsys.readouterr().err
    assert f"error: run {RUN_ID} stopped: promote: no Aurora global cluster {GLOBAL_CLUSTER}" in err
    assert "hint: run the same command again to resume the run from where it stopped" in err
    assert deployed.state("eu-west-1").describe() == "failover in eu-west-1 at epoch 3", "fenced and promoted, not activated"

    rds.add_response("describe_global_clusters", global_cluster("eu-west-1"))  # fixed: the writer moved meanwhile
    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned", "--local") == 0

    out = capsys.readouterr().out
    assert f"Resuming run {RUN_ID} (failed, started from epoch 1)." in out
    assert out.splitlines()[-1].endswith(": active in eu-west-1 at epoch 4.")
    rds.assert_no_pending_responses()


def test_an_unplanned_local_run_with_the_source_region_down(aws_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    """eu-west-1 is active and stops answering; us-east-1 takes over, losing what had not replicated."""
    deployment = deploy(LocalAws(aws_endpoint, one_table=True), active="eu-west-1")
    deployment.aws.down.add("eu-west-1")
    rds = deployment.aws.stub("rds", "us-east-1")
    rds.add_response("describe_global_clusters", global_cluster("eu-west-1"))
    rds.add_response(
        "failover_global_cluster",
        {"GlobalCluster": {"GlobalClusterIdentifier": GLOBAL_CLUSTER}},
        {"GlobalClusterIdentifier": GLOBAL_CLUSTER, "TargetDbClusterIdentifier": cluster_arn("us-east-1"), "AllowDataLoss": True},
    )
    rds.add_response("describe_global_clusters", global_cluster("us-east-1"))

    assert failover(deployment.ctx, "--to", "us-east-1", "--unplanned", "--allow-data-loss", "--local") == 0

    rds.assert_no_pending_responses()
    assert deployment.state("us-east-1").describe() == "active in us-east-1 at epoch 4"
    assert [deployment.threshold(r) for r in REGIONS] == [1, 2]
    out = capsys.readouterr().out
    assert "  drain          done in 13.0 s (2 attempts): source unreachable: not waiting" in out


# ---- what the messages promise: credentials, the resume hint, the dry run's verdict, the topology file -------------

RESUME = f"hint: {RESUME_HINT}"
EXPIRED = "The security token included in the request is expired"


@pytest.fixture
def no_credentials(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """boto3 as an operator's shell without credentials has it: none in the environment, no profile files, no
    container or instance role (the metadata service is not asked); clients point at the moto server."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    return aws_endpoint


def saved_topology(deployment: Deployment, path: Path) -> str:
    """The topology as `pulumi stack output --json` saves it: every output, ``runbookTopology`` among them."""
    path.write_text(json.dumps({"primaryRegion": "us-east-1", "runbookTopology": json.loads(deployment.topology.to_json())}))
    return str(path)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "error: no AWS credentials found: none in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), in a "),
        ({"AWS_PROFILE": "oncall"}, "error: the AWS profile 'oncall' (AWS_PROFILE) is in neither ~/.aws/config nor ~/"),
        ({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}, "error: incomplete AWS credentials in the environment: AWS_SECRET_ACCESS_KEY is"),
    ],
)
def test_missing_credentials_are_named_with_how_to_provide_them(
    no_credentials: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert main(["failover", "--stack", "prod", "--to", "eu-west-1", "--planned"]) == EXIT_CREDENTIALS

    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert len(errors) == 2 and errors[0].startswith(message), captured.err
    assert errors[1] == f"hint: {CREDENTIALS_HELP}; then run the same command again", "nothing to resume: no run started"
    assert captured.out == ""


@pytest.mark.parametrize(
    "command",
    [
        ["status", "--stack", "prod"],
        ["status", "--stack", "prod", "--topology", "SAVED"],
        ["abort", "--stack", "prod", "--region", "eu-west-1", "--epoch", "2"],
        ["failover", "--stack", "prod", "--to", "eu-west-1", "--planned", "--topology", "SAVED"],
    ],
)
def test_every_ops_command_says_the_credentials_are_missing(
    no_credentials: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    """Also past SSM: with a saved topology the first call is DynamoDB's, whose error the state reader wraps."""
    saved = saved_topology(deploy(LocalAws(no_credentials)), tmp_path / "outputs.json") if "SAVED" in command else ""
    assert main([saved if word == "SAVED" else word for word in command]) == EXIT_CREDENTIALS
    errors = capsys.readouterr().err.splitlines()
    assert errors[0].startswith("error: no AWS credentials found"), errors
    assert errors[1].startswith("hint: provide credentials for the stack's account: `aws sso login --profile NAME`")


def test_expired_credentials_before_a_run_exit_3_without_the_resume_hint(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed.aws.stubbed.add("ssm")
    deployed.aws.stub("ssm", "eu-west-1").add_client_error("get_parameter", "ExpiredTokenException", EXPIRED)

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned") == EXIT_CREDENTIALS

    assert capsys.readouterr().err.splitlines() == [
        "error: AWS refused the credentials, expired or wrong (ClientError: An error occurred (ExpiredTokenException) "
        f"when calling the GetParameter operation: {EXPIRED})",
        f"hint: {CREDENTIALS_HELP}; then run the same command again",
    ]


def test_credentials_expiring_during_a_run_say_how_to_resume_it(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    """The fence is written, then promote's first call is refused: new credentials and the same command resume it."""
    deployed.aws.stub("rds", "eu-west-1").add_client_error("describe_global_clusters", "ExpiredToken", EXPIRED)

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned", "--local") == EXIT_CREDENTIALS

    errors = capsys.readouterr().err.splitlines()
    assert errors[0].startswith(
        "error: AWS refused the credentials, expired or wrong (ClientError: An error occurred (ExpiredToken) when calling"
    )
    assert errors[1] == f"hint: {CREDENTIALS_HELP}; then {RESUME_HINT}"
    assert deployed.state("eu-west-1").describe() == "failover in eu-west-1 at epoch 3", "the run is under way"


def test_an_error_no_rerun_can_resume_has_no_resume_hint(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    fenced_by_hand = AppState("fenced", "us-east-1", 2, 0, "ops-oncall").to_item()
    deployed.aws.dynamodb("eu-west-1").put_item(TableName=TABLE, Item=fenced_by_hand)  # one table: both regions see it
    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned") == 1
    err = capsys.readouterr().err
    assert "not by a runbook run: nobody writes. Decide first" in err
    assert "hint:" not in err

    for region in REGIONS:
        deployed.aws("ssm", region).delete_parameter(Name=PARAMETER)
    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned") == 1
    err = capsys.readouterr().err
    assert "pass --topology FILE" in err
    assert "hint:" not in err


def test_a_dry_run_that_predicts_a_refusal_exits_1(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    deployed.aws.stub("rds", "eu-west-1").add_response("describe_global_clusters", {"GlobalClusters": []})
    before = snapshot(deployed)

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned", "--dry-run") == 1

    assert snapshot(deployed) == before
    captured = capsys.readouterr()
    assert f"; would refuse: no Aurora global cluster {GLOBAL_CLUSTER}\n" in captured.out
    assert captured.err.splitlines() == [
        "error: the dry run predicts that promote would refuse (above): a run would stop there; nothing was written"
    ]


def test_a_saved_topology_serves_when_ssm_cannot_be_read(
    deployed: Deployment, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for region in REGIONS:
        deployed.aws("ssm", region).delete_parameter(Name=PARAMETER)
    saved = saved_topology(deployed, tmp_path / "outputs.json")
    deployed.aws.stub("rds", "eu-west-1").add_response("describe_global_clusters", global_cluster("us-east-1"))

    assert failover(deployed.ctx, "--to", "eu-west-1", "--planned", "--dry-run", "--topology", saved) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(f"as eu-west-1 sees it (topology from file {saved}).")
    assert out[-1] == f"Would run them as execution {RUN_ID} of {MACHINE} in eu-west-1."


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read {path}: No such file or directory"),
        ("Outputs:\n  runbookTopology: ...", "{path} is not JSON (Expecting value: line 1 column 1 (char 0))"),
        ("[]", "{path}: runbookTopology: got a JSON list; allowed: an object"),
        ('{"primaryRegion": "us-east-1"}', "{path}: regions: missing from the runbook topology"),
        ('{"regions": 2, "tableName": "t", "globalClusterId": "g", "clusterArns": {}, "trafficControl": "x"}', "{path} is not"),
        (
            Topology(
                ("us-east-1", "us-west-2"),
                "t",
                "g",
                {"us-east-1": "a", "us-west-2": "b"},
                "healthCheckGate",
                {"us-east-1": "g1", "us-west-2": "g2"},
            ).to_json(),
            "{path} holds regions us-east-1, us-west-2 and table t, but stack prod has regions us-east-1, eu-west-1 and "
            "table multi-region-prod-items: is it another stack's?",
        ),
    ],
)
def test_a_bad_topology_file_exits_2_naming_the_flag_before_any_aws_call(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "topology.json"
    if content is not None:
        path.write_text(content)

    assert failover(OpsContext(aws=NoAws(), runbook=NoAws()), "--to", "eu-west-1", "--planned", "--topology", str(path)) == 2

    err = capsys.readouterr().err
    assert err.startswith(f"error: --topology: {message.format(path=path)}"), err
    assert err.rstrip().endswith(f"save it before an outage with `pulumi stack output runbookTopology --json > {path}`")


class Interrupting(NoAws):
    """A context whose first AWS call is interrupted (Ctrl-C while SSM is read)."""

    def __call__(self, service: str, region: str) -> Any:
        raise KeyboardInterrupt


def test_an_interrupt_before_a_run_starts_says_nothing_changed(capsys: pytest.CaptureFixture[str]) -> None:
    assert failover(OpsContext(aws=Interrupting(), runbook=NoAws()), "--to", "eu-west-1", "--planned") == 130
    assert capsys.readouterr().err == "\ninterrupted before a run started: nothing was changed\n"
