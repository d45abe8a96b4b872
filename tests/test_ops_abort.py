"""``python -m ops abort``: lifts a fence at the epoch the operator saw, refuses anything else, writes nothing then."""

from __future__ import annotations

import pytest

from functions.shared.schema import STATUS_ACTIVE, STATUS_FAILOVER, STATUS_FENCED
from functions.shared.state import AppState
from ops.__main__ import main
from tests.support.deployment import TABLE, Deployment, LocalAws, deploy


@pytest.fixture
def deployed(aws_endpoint: str) -> Deployment:
    return deploy(LocalAws(aws_endpoint))


def put_state(deployment: Deployment, region: str, status: str, active: str, epoch: int) -> None:
    state = AppState(status, active, epoch, 0, "runbook to-eu-west-1-from-epoch-1")
    deployment.aws.dynamodb(region).put_item(TableName=TABLE, Item=state.to_item())


def abort(deployment: Deployment, *args: str) -> int:
    return main(["abort", "--stack", "prod", *args], deployment.ctx)


def test_a_fence_is_lifted_in_the_same_region_under_a_new_epoch(deployed: Deployment) -> None:
    put_state(deployed, "eu-west-1", STATUS_FENCED, "us-east-1", 2)
    assert abort(deployed, "--region", "eu-west-1", "--epoch", "2") == 0
    state = deployed.state("eu-west-1")
    assert (state.status, state.active_region, state.epoch) == (STATUS_ACTIVE, "us-east-1", 3)
    assert state.updated_by.startswith("ops abort") and "failover" not in state.updated_by  # not "ops abort ops failover"


@pytest.mark.parametrize(
    ("stored", "given", "message"),
    [
        ((STATUS_FENCED, "us-east-1", 2), "1", "--epoch 1 is stale: the state is fenced in us-east-1 at epoch 2"),
        ((STATUS_FAILOVER, "eu-west-1", 3), "3", "past the fence and may have moved Aurora's writer to eu-west-1"),
    ],
)
def test_a_stale_epoch_or_a_failover_under_way_is_refused_and_nothing_written(
    deployed: Deployment, capsys: pytest.CaptureFixture[str], stored: tuple[str, str, int], given: str, message: str
) -> None:
    status, active, epoch = stored
    put_state(deployed, "eu-west-1", status, active, epoch)
    assert abort(deployed, "--region", "eu-west-1", "--epoch", given) == 1
    assert message in capsys.readouterr().err
    state = deployed.state("eu-west-1")
    assert (state.status, state.active_region, state.epoch) == (status, active, epoch)


def test_an_active_state_has_nothing_to_abort(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    assert abort(deployed, "--region", "us-east-1", "--epoch", "1") == 0
    assert "nothing to abort: the state is active in us-east-1 at epoch 1" in capsys.readouterr().out
    assert deployed.state("us-east-1").epoch == 1


def test_an_unknown_region_exits_2_naming_the_flag_and_the_regions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["abort", "--stack", "prod", "--region", "mars-1", "--epoch", "2"]) == 2
    assert "--region: got 'mars-1'; allowed: us-east-1, eu-west-1" in capsys.readouterr().err
