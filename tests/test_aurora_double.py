"""The Aurora global cluster double (moto implements neither switchover nor failover): AWS response shapes, an operation
that takes a couple of describe calls, the AWS error codes, and a region that does not answer."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from functions.runbook.clients import is_retryable, is_unreachable
from simulation.aurora_double import GlobalClusterDouble

US, EU = "us-east-1", "eu-west-1"
ARNS = {US: "arn:aws:rds:us-east-1:000000000000:cluster:app-us", EU: "arn:aws:rds:eu-west-1:000000000000:cluster:app-eu"}
GLOBAL = "app"


@pytest.fixture
def aurora() -> GlobalClusterDouble:
    return GlobalClusterDouble(GLOBAL, ARNS, US)


def describe(aurora: GlobalClusterDouble, region: str = EU) -> dict[str, Any]:
    clusters = aurora.client(region).describe_global_clusters(GlobalClusterIdentifier=GLOBAL)["GlobalClusters"]
    assert len(clusters) == 1
    return dict(clusters[0])


def writer(cluster: dict[str, Any]) -> str:
    return next(member["DBClusterArn"] for member in cluster["GlobalClusterMembers"] if member["IsWriter"])


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_describe_has_the_rds_shape(aurora: GlobalClusterDouble) -> None:
    cluster = describe(aurora)
    assert cluster["GlobalClusterIdentifier"] == GLOBAL and cluster["Status"] == "available"
    assert "FailoverState" not in cluster
    members = {member["DBClusterArn"]: member for member in cluster["GlobalClusterMembers"]}
    assert members[ARNS[US]]["IsWriter"] and members[ARNS[US]]["Readers"] == [ARNS[EU]]
    assert not members[ARNS[EU]]["IsWriter"] and members[ARNS[EU]]["Readers"] == []
    assert {member["SynchronizationStatus"] for member in members.values()} == {"connected"}


def test_a_switchover_takes_a_couple_of_describe_calls(aurora: GlobalClusterDouble) -> None:
    started = aurora.client(EU).switchover_global_cluster(GlobalClusterIdentifier=GLOBAL, TargetDbClusterIdentifier=ARNS[EU])
    assert started["GlobalCluster"]["FailoverState"] == {
        "Status": "pending",
        "FromDbClusterArn": ARNS[US],
        "ToDbClusterArn": ARNS[EU],
        "IsDataLossAllowed": False,
    }
    seen = [(c["Status"], c["FailoverState"]["Status"], writer(c)) for c in (describe(aurora), describe(aurora))]
    assert seen == [("switching-over", "pending", ARNS[US]), ("switching-over", "switching-over", ARNS[US])]
    done = describe(aurora)
    assert (done["Status"], writer(done), "FailoverState" in done) == ("available", ARNS[EU], False)
    assert aurora.writer_region == EU and aurora.history == [("switchover", ARNS[US], ARNS[EU])]
    assert [call.operation for call in aurora.calls] == ["SwitchoverGlobalCluster", *["DescribeGlobalClusters"] * 3]
    assert aurora.calls[0] == (
        EU,
        "SwitchoverGlobalCluster",
        {"GlobalClusterIdentifier": GLOBAL, "TargetDbClusterIdentifier": ARNS[EU]},
    )
    assert (aurora.count("DescribeGlobalClusters"), aurora.count("FailoverGlobalCluster")) == (3, 0)


def test_an_unplanned_failover_promotes_while_the_primary_is_down(aurora: GlobalClusterDouble) -> None:
    aurora.set_down(US, True)
    with pytest.raises(EndpointConnectionError) as unreachable:
        aurora.client(US).describe_global_clusters(GlobalClusterIdentifier=GLOBAL)
    assert is_unreachable(unreachable.value)
    with pytest.raises(ClientError) as refused:
        aurora.client(EU).switchover_global_cluster(GlobalClusterIdentifier=GLOBAL, TargetDbClusterIdentifier=ARNS[EU])
    assert code(refused) == "InvalidGlobalClusterStateFault" and "AllowDataLoss" in str(refused.value)
    rds = aurora.client(EU)
    started = rds.failover_global_cluster(GlobalClusterIdentifier=GLOBAL, TargetDbClusterIdentifier=ARNS[EU], AllowDataLoss=True)
    assert started["GlobalCluster"]["Status"] == "failing-over"
    assert started["GlobalCluster"]["FailoverState"]["IsDataLossAllowed"] is True
    for _ in range(3):
        cluster = describe(aurora)
    assert writer(cluster) == ARNS[EU] and cluster["Status"] == "available"
    old = next(m for m in cluster["GlobalClusterMembers"] if m["DBClusterArn"] == ARNS[US])
    assert old["SynchronizationStatus"] == "pending-resync"
    aurora.set_down(US, False)
    old = next(m for m in describe(aurora)["GlobalClusterMembers"] if m["DBClusterArn"] == ARNS[US])
    assert old["SynchronizationStatus"] == "connected"


def test_a_failover_without_data_loss_is_a_switchover(aurora: GlobalClusterDouble) -> None:
    aurora.set_down(US, True)
    with pytest.raises(ClientError) as refused:
        aurora.client(EU).failover_global_cluster(GlobalClusterIdentifier=GLOBAL, TargetDbClusterIdentifier=ARNS[EU])
    assert code(refused) == "InvalidGlobalClusterStateFault"


@pytest.mark.parametrize(
    ("identifier", "target", "expected", "status"),
    [
        ("other", ARNS[EU], "GlobalClusterNotFoundFault", 404),
        (GLOBAL, "arn:aws:rds:eu-west-1:000000000000:cluster:stranger", "DBClusterNotFoundFault", 404),
        (GLOBAL, ARNS[US], "InvalidDBClusterStateFault", 400),  # already the writer
    ],
)
def test_bad_requests_get_the_aws_error_codes(
    aurora: GlobalClusterDouble, identifier: str, target: str, expected: str, status: int
) -> None:
    with pytest.raises(ClientError) as refused:
        aurora.client(EU).switchover_global_cluster(GlobalClusterIdentifier=identifier, TargetDbClusterIdentifier=target)
    assert (code(refused), refused.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (expected, status)


def test_one_operation_at_a_time_and_busy_is_retryable_for_the_runbook(aurora: GlobalClusterDouble) -> None:
    rds = aurora.client(EU)
    rds.switchover_global_cluster(GlobalClusterIdentifier=GLOBAL, TargetDbClusterIdentifier=ARNS[EU])
    with pytest.raises(ClientError) as busy:
        rds.failover_global_cluster(GlobalClusterIdentifier=GLOBAL, TargetDbClusterIdentifier=ARNS[EU], AllowDataLoss=True)
    assert code(busy) == "InvalidGlobalClusterStateFault" and is_retryable(busy.value)
    with pytest.raises(ClientError) as unknown:
        rds.describe_global_clusters(GlobalClusterIdentifier="other")
    assert code(unknown) == "GlobalClusterNotFoundFault"


def test_an_instant_switch_and_bad_construction() -> None:
    instant = GlobalClusterDouble(GLOBAL, ARNS, US, describes_per_switch=0)
    instant.client(US).switchover_global_cluster(GlobalClusterIdentifier=GLOBAL, TargetDbClusterIdentifier=ARNS[EU])
    assert writer(describe(instant)) == ARNS[EU]
    with pytest.raises(ValueError, match="writer_region 'ap-southeast-2'"):
        GlobalClusterDouble(GLOBAL, ARNS, "ap-southeast-2")
    with pytest.raises(ValueError, match="no member cluster in 'ap-southeast-2'"):
        instant.client("ap-southeast-2")


def test_parameters_the_rds_api_does_not_have_are_refused_as_botocore_does(aurora: GlobalClusterDouble) -> None:
    rds = aurora.client(EU)
    with pytest.raises(ParamValidationError, match="Unknown parameter in input: AllowDataLos, must be one of: AllowDataLoss"):
        rds.failover_global_cluster(GlobalClusterIdentifier=GLOBAL, TargetDbClusterIdentifier=ARNS[EU], AllowDataLos=True)
    with pytest.raises(ParamValidationError, match="Missing required parameter in input: TargetDbClusterIdentifier"):
        rds.switchover_global_cluster(GlobalClusterIdentifier=GLOBAL)
    assert aurora.writer_region == US and aurora.operation is None


# ---- the master password (the secret rotation's calls) ----------------------------------------------------------


def test_a_password_change_on_the_writer_is_pending_for_the_set_describes_then_applied() -> None:
    aurora = GlobalClusterDouble(GLOBAL, ARNS, US, password="first-Password-1", describes_per_password=2)
    rds = aurora.client(US)
    answer = rds.modify_db_cluster(DBClusterIdentifier="app-us", MasterUserPassword="second-Password-2", ApplyImmediately=True)
    assert answer["DBCluster"]["Status"] == "resetting-master-credentials"
    assert answer["DBCluster"]["PendingModifiedValues"] == {"MasterUserPassword": "****"}
    statuses = [rds.describe_db_clusters(DBClusterIdentifier=ARNS[US])["DBClusters"][0]["Status"] for _ in range(3)]
    assert statuses == ["resetting-master-credentials", "resetting-master-credentials", "available"]
    assert aurora.password == "second-Password-2"


def test_a_secondary_refuses_a_master_password_and_keeps_the_old_one() -> None:
    aurora = GlobalClusterDouble(GLOBAL, ARNS, US, password="first-Password-1")
    with pytest.raises(ClientError) as refused:
        aurora.client(EU).modify_db_cluster(DBClusterIdentifier="app-eu", MasterUserPassword="second-Password-2")
    assert code(refused) == "InvalidDBClusterStateFault" and "primary" in str(refused.value)
    assert aurora.password == "first-Password-1"


@pytest.mark.parametrize("password", ["short", "x" * 42, "with/slash-1", 'with"quote-1', "with@at-1234", "with space-1"])
def test_a_password_aurora_would_refuse_is_refused(password: str) -> None:
    aurora = GlobalClusterDouble(GLOBAL, ARNS, US, password="first-Password-1")
    with pytest.raises(ClientError) as refused:
        aurora.client(US).modify_db_cluster(DBClusterIdentifier="app-us", MasterUserPassword=password)
    assert code(refused) == "InvalidParameterValue"
    assert aurora.password == "first-Password-1"


def test_a_cluster_of_another_region_is_not_found_there() -> None:
    aurora = GlobalClusterDouble(GLOBAL, ARNS, US)
    with pytest.raises(ClientError) as missing:
        aurora.client(US).describe_db_clusters(DBClusterIdentifier="app-eu")
    assert code(missing) == "DBClusterNotFoundFault"
