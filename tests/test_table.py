"""The DynamoDB global table and the application-state record: one table in the home region, a replica per other
region under that region's key, PITR, deletion protection, streams, TTL, no secondary index; the state record
created `active` once and never rewritten by a deploy, even one that moves the primary."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.table import (
    GlobalTable,
    GlobalTableArgs,
    initial_state,
    initial_state_item_json,
    regional_table_arn,
    to_dynamodb_json,
)
from functions.shared.schema import (
    ALLOWED_STATES,
    ATTR_EXPIRES_AT,
    ATTR_IDEMPOTENCY_KEY,
    STATE_ITEM_ID,
    table_name,
)
from planning.harness import ACCOUNT_ID, ProgramRun, Resource
from simulation.local_tables import items_table_request
from tests.support.program import THREE_REGIONS_LATENCY, ProgramRunner

TABLE = "aws:dynamodb/table:Table"
ITEM = "aws:dynamodb/tableItem:TableItem"
KEY = "aws:kms/key:Key"
COMPONENT = "multi-region:data:GlobalTable"


def _key_arn(run: ProgramRun, region: str) -> str:
    """The ARN the mocks give the region's KMS key, derived from the key resource itself."""
    key = run.one(KEY, region)
    return f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key.name}"


def _state(item: Resource) -> dict[str, Any]:
    return dict(json.loads(item.inputs["item"]))


def _dynamodb(run: ProgramRun) -> dict[tuple[str, str], Resource]:
    return {(r.type, r.name): r for r in run.resources if r.type.startswith("aws:dynamodb/") or r.type == COMPONENT}


# ---- pure helpers -----------------------------------------------------------------------------------


def test_table_name_is_fixed_per_project_and_stack() -> None:
    assert table_name("multi-region", "prod") == "multi-region-prod-items"
    assert table_name("multi-region", "dev") == "multi-region-dev-items"


def test_a_replica_arn_is_the_table_name_in_its_region() -> None:
    assert (
        regional_table_arn("aws", "ap-southeast-2", "123456789012", "multi-region-prod-items")
        == "arn:aws:dynamodb:ap-southeast-2:123456789012:table/multi-region-prod-items"
    )


def test_dynamodb_json_types_each_scalar() -> None:
    assert to_dynamodb_json({"s": "x", "n": 7, "zero": 0, "b": True, "f": False}) == {
        "s": {"S": "x"},
        "n": {"N": "7"},
        "zero": {"N": "0"},
        "b": {"BOOL": True},
        "f": {"BOOL": False},
    }
    with pytest.raises(TypeError, match="ratio: float"):
        to_dynamodb_json({"ratio": 0.5})  # type: ignore[dict-item]


def test_initial_state_is_active_in_the_given_region_at_epoch_one() -> None:
    assert initial_state("eu-west-1") == {
        "Id": "STATE#application",
        "RecordType": "state",
        "Status": "active",
        "ActiveRegion": "eu-west-1",
        "Epoch": 1,
        "UpdatedAt": 0,
        "UpdatedBy": "pulumi (first deploy)",
    }
    assert initial_state("eu-west-1")["Status"] in ALLOWED_STATES
    assert ALLOWED_STATES == ("active", "fenced", "failover")
    with pytest.raises(ValueError, match="primaryRegion"):
        initial_state("")


def test_initial_state_item_is_stable_dynamodb_json_without_expiry() -> None:
    text = initial_state_item_json("us-east-1")
    assert text == initial_state_item_json("us-east-1")
    item = json.loads(text)
    assert list(item) == sorted(item)
    assert item["Id"] == {"S": STATE_ITEM_ID}
    assert item["Epoch"] == {"N": "1"}
    assert item["ActiveRegion"] == {"S": "us-east-1"}
    assert ATTR_EXPIRES_AT not in item, "TTL must never expire the state record"
    assert ATTR_IDEMPOTENCY_KEY not in item, "the state record is not an event's item"


def test_the_component_refuses_keys_that_miss_the_home_or_active_region() -> None:
    with pytest.raises(ValueError, match="no KMS key for the home region us-east-1"):
        GlobalTable("t", GlobalTableArgs("t", "us-east-1", {"eu-west-1": "arn"}, "eu-west-1", False))
    with pytest.raises(ValueError, match="active region ap-south-1"):
        GlobalTable("t", GlobalTableArgs("t", "us-east-1", {"us-east-1": "arn"}, "ap-south-1", False))


# ---- the table, per stack -----------------------------------------------------------------------------


def test_one_table_in_the_home_region_named_for_the_stack(stack_run: ProgramRun) -> None:
    table = stack_run.one(TABLE)
    home = stack_run.regions()[0]
    assert table.region == home == "us-east-1"
    assert table.name == "items-table"
    assert table.inputs["name"] == f"multi-region-{stack_run.stack}-items"
    assert stack_run.outputs["tableName"] == f"multi-region-{stack_run.stack}-items"
    component = stack_run.by_urn(str(table.parent))
    assert (component.type, component.name) == (COMPONENT, "items")
    assert stack_run.by_urn(str(component.parent)).type == "multi-region:global:GlobalStack"


def test_keys_billing_and_no_secondary_index(stack_run: ProgramRun) -> None:
    table = stack_run.one(TABLE).inputs
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["hashKey"] == "Id"
    assert "rangeKey" not in table
    # Nothing queries by idempotency key (a repeat reads its claim by key), so no index costs every item write.
    assert table["attributes"] == [{"name": "Id", "type": "S"}]
    assert not table.get("globalSecondaryIndexes"), "the table has no secondary index"
    assert not table.get("localSecondaryIndexes")
    local = items_table_request(table["name"])
    assert local["AttributeDefinitions"] == [{"AttributeName": "Id", "AttributeType": "S"}]
    assert "GlobalSecondaryIndexes" not in local, "the emulator's table has the deployed schema"
    assert "readCapacity" not in table and "writeCapacity" not in table


def test_stream_ttl_and_point_in_time_recovery(stack_run: ProgramRun) -> None:
    table = stack_run.one(TABLE).inputs
    assert table["streamEnabled"] is True
    assert table["streamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table["ttl"] == {"attributeName": "ExpiresAt", "enabled": True}
    assert table["pointInTimeRecovery"] == {"enabled": True}


def test_encrypted_with_the_home_region_key(stack_run: ProgramRun) -> None:
    sse = stack_run.one(TABLE).inputs["serverSideEncryption"]
    assert sse == {"enabled": True, "kmsKeyArn": _key_arn(stack_run, "us-east-1")}
    assert sse["kmsKeyArn"] == stack_run.outputs["regions"]["us-east-1"]["kmsKeyArn"]


def test_one_replica_per_other_region_under_its_own_key(stack_run: ProgramRun) -> None:
    protected = stack_run.stack == "prod"
    replicas = stack_run.one(TABLE).inputs["replicas"]
    assert replicas == [
        {
            "regionName": "eu-west-1",
            "kmsKeyArn": _key_arn(stack_run, "eu-west-1"),
            "pointInTimeRecovery": True,
            "deletionProtectionEnabled": protected,
            "propagateTags": True,
        }
    ]


def test_deletion_protection_and_pulumi_protection_follow_the_stack(stack_run: ProgramRun) -> None:
    protected = stack_run.stack == "prod"
    table = stack_run.one(TABLE)
    assert table.inputs["deletionProtectionEnabled"] is protected
    assert (table.protect, table.retain_on_delete) == (protected, protected)
    assert table.ignore_changes == ()


def test_tags_name_the_table_global_not_the_home_regions_role(stack_run: ProgramRun) -> None:
    assert stack_run.one(TABLE).inputs["tags"] == {"region": "global", "role": "global"}


# ---- the application-state record ---------------------------------------------------------------------


def test_state_record_is_created_active_in_the_primary_at_epoch_one(stack_run: ProgramRun) -> None:
    table, item = stack_run.one(TABLE), stack_run.one(ITEM)
    assert item.region == "us-east-1"
    assert item.name == "items-state"
    assert item.parent == table.urn
    assert item.inputs["tableName"] == table.inputs["name"]
    assert item.inputs["hashKey"] == "Id"
    assert "rangeKey" not in item.inputs
    assert _state(item) == {
        "Id": {"S": "STATE#application"},
        "RecordType": {"S": "state"},
        "Status": {"S": "active"},
        "ActiveRegion": {"S": "us-east-1"},
        "Epoch": {"N": "1"},
        "UpdatedAt": {"N": "0"},
        "UpdatedBy": {"S": "pulumi (first deploy)"},
    }


def test_state_record_is_never_rewritten_nor_deleted_by_a_deploy(stack_run: ProgramRun) -> None:
    item = stack_run.one(ITEM)
    assert item.ignore_changes == ("item",)
    assert item.retain_on_delete is True, "kept in every stack: the provider deletes items unconditionally"
    assert item.protect is (stack_run.stack == "prod")


# ---- three regions, and moving the primary ----------------------------------------------------------


def test_three_regions_with_latency_routing(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", **THREE_REGIONS_LATENCY)
    table = run.one(TABLE)
    assert table.region == "us-east-1"
    assert table.inputs["serverSideEncryption"]["kmsKeyArn"] == _key_arn(run, "us-east-1")
    replicas = {r["regionName"]: r for r in table.inputs["replicas"]}
    assert list(replicas) == ["eu-west-1", "ap-southeast-2"]
    for region, replica in replicas.items():
        assert replica["kmsKeyArn"] == _key_arn(run, region)
        assert replica["kmsKeyArn"].startswith(f"arn:aws:kms:{region}:")
        assert replica["pointInTimeRecovery"] is True
        assert replica["deletionProtectionEnabled"] is True
    assert run.one(ITEM).region == "us-east-1"
    assert len(run.of_type(TABLE)) == 1 and len(run.of_type(ITEM)) == 1


def test_a_primary_outside_the_home_region_leaves_the_table_home(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", **THREE_REGIONS_LATENCY, primaryRegion="ap-southeast-2")
    assert run.one(TABLE).region == "us-east-1"
    assert [r["regionName"] for r in run.one(TABLE).inputs["replicas"]] == ["eu-west-1", "ap-southeast-2"]
    item = run.one(ITEM)
    assert item.region == "us-east-1"
    assert _state(item)["ActiveRegion"] == {"S": "ap-southeast-2"}


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_moving_the_primary_changes_only_ignored_fields(run_stack: ProgramRunner, stack: str) -> None:
    before, after = run_stack(stack), run_stack(stack, primaryRegion="eu-west-1")
    assert _state(after.one(ITEM))["ActiveRegion"] == {"S": "eu-west-1"}, "the override took effect"

    old, new = _dynamodb(before), _dynamodb(after)
    assert set(old) == set(new) == {(COMPONENT, "items"), (TABLE, "items-table"), (ITEM, "items-state")}
    for key, resource in old.items():
        changed = {k for k in resource.inputs.keys() | new[key].inputs.keys() if resource.inputs.get(k) != new[key].inputs.get(k)}
        assert changed <= set(resource.ignore_changes), f"{key[1]}: {sorted(changed)} would change"
        assert new[key].ignore_changes == resource.ignore_changes
        assert (new[key].parent, new[key].region) == (resource.parent, resource.region)
        assert (new[key].protect, new[key].retain_on_delete) == (resource.protect, resource.retain_on_delete)
    assert old[(ITEM, "items-state")].inputs["item"] != new[(ITEM, "items-state")].inputs["item"]
    assert old[(TABLE, "items-table")].inputs == new[(TABLE, "items-table")].inputs


# ---- preview ------------------------------------------------------------------------------------------


def test_preview_registers_the_table_and_the_state_record(preview_run: ProgramRun) -> None:
    table, item = preview_run.one(TABLE), preview_run.one(ITEM)
    assert table.region == item.region == "us-east-1"
    assert table.inputs["name"] == f"multi-region-{preview_run.stack}-items"
    assert [r["regionName"] for r in table.inputs["replicas"]] == ["eu-west-1"]
    assert _state(item)["Status"] == {"S": "active"}
    assert item.ignore_changes == ("item",)
