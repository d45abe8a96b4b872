"""The DynamoDB global table of the single-table design (ARCHITECTURE §3) and the application-state record.

One table, ``<project>-<stack>-items``, under the first region of ``regions`` (the home region: a failover never
moves it), a replica in every other region under its own key; item attributes in ``functions/shared/schema.py``. The
state record is created ``active`` once, never rewritten by a deploy. Why, and the KMS grants: docs/design/data-stores.md.

Example:
    >>> GlobalTable("items", GlobalTableArgs(table_name("multi-region", "prod"), "us-east-1",
    ...             {"us-east-1": key_a, "eu-west-1": key_b}, active_region="us-east-1", protect=True),
    ...             pulumi.ResourceOptions(provider=providers["us-east-1"]))
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from functions.shared.schema import (
    ATTR_ACTIVE_REGION,
    ATTR_EPOCH,
    ATTR_EXPIRES_AT,
    ATTR_ID,
    ATTR_RECORD_TYPE,
    ATTR_STATUS,
    ATTR_UPDATED_AT,
    ATTR_UPDATED_BY,
    INITIAL_EPOCH,
    RECORD_TYPE_STATE,
    STATE_ITEM_ID,
    STATUS_ACTIVE,
)

BILLING_MODE = "PAY_PER_REQUEST"
STREAM_VIEW_TYPE = "NEW_AND_OLD_IMAGES"

INITIAL_UPDATED_BY = "pulumi (first deploy)"
# The state record is never rewritten by a deploy (docs/design/data-stores.md).
STATE_ITEM_IGNORED_FIELDS = ("item",)

# The table and every replica carry these instead of the home provider's region and role: the table spans regions, and
# the home region's role (primary or secondary) moves with every failover.
TABLE_TAGS = {"region": "global", "role": "global"}

Scalar = str | int | bool


# ---- pure builders -------------------------------------------------------------------------------


def regional_table_arn(partition: str, region: str, account_id: str, name: str) -> str:
    """The ARN of the table (home) or of its replica in ``region``: a replica is a table of the same name there.

    Example:
        >>> regional_table_arn("aws", "eu-west-1", "123456789012", "multi-region-prod-items")
        'arn:aws:dynamodb:eu-west-1:123456789012:table/multi-region-prod-items'
    """
    return f"arn:{partition}:dynamodb:{region}:{account_id}:table/{name}"


def to_dynamodb_json(values: Mapping[str, Scalar]) -> dict[str, dict[str, Any]]:
    """Plain scalars to DynamoDB's typed JSON: ``str`` to S, ``int`` to N, ``bool`` to BOOL.

    Raises
    ------
    TypeError
        A value of another type (floats are refused: DynamoDB numbers are exact decimals).
    """
    typed: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        if isinstance(value, bool):
            typed[name] = {"BOOL": value}
        elif isinstance(value, int):
            typed[name] = {"N": str(value)}
        elif isinstance(value, str):
            typed[name] = {"S": value}
        else:
            raise TypeError(f"{name}: {type(value).__name__} {value!r} is not a str, int or bool")
    return typed


def initial_state(active_region: str) -> dict[str, Scalar]:
    """The application-state record as the first deploy creates it: ``active`` in ``active_region``, epoch 1.

    Example:
        >>> initial_state("us-east-1")["Status"], initial_state("us-east-1")["Epoch"]
        ('active', 1)
    """
    if not active_region:
        raise ValueError("the initial active region is empty; it is the stack's primaryRegion")
    return {
        ATTR_ID: STATE_ITEM_ID,
        ATTR_RECORD_TYPE: RECORD_TYPE_STATE,
        ATTR_STATUS: STATUS_ACTIVE,
        ATTR_ACTIVE_REGION: active_region,
        ATTR_EPOCH: INITIAL_EPOCH,
        ATTR_UPDATED_AT: 0,
        ATTR_UPDATED_BY: INITIAL_UPDATED_BY,
    }


def initial_state_item_json(active_region: str) -> str:
    """``initial_state`` as the DynamoDB JSON a table item takes (keys sorted, so the text is stable)."""
    return json.dumps(to_dynamodb_json(initial_state(active_region)), sort_keys=True)


# ---- the component -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GlobalTableArgs:
    """Parameters
    ----------
    table_name: the fixed table name (``table_name(project, stack)``); the functions find the table by it.
    home_region: the region of the inherited provider, the first of ``regions``: the table is created there and every
        other region gets a replica.
    key_arns: every region's KMS key ARN by region name, the home region included, in the order of ``regions``.
    active_region: the region the state record names active at first deploy (the primary then); never applied again.
    protect: Pulumi protection, retain on delete and DynamoDB deletion protection on the table and every replica.
    """

    table_name: str
    home_region: str
    key_arns: Mapping[str, pulumi.Input[str]]
    active_region: str
    protect: bool


class GlobalTable(pulumi.ComponentResource):
    """The global table, its replicas and the application-state record (docs/design/data-stores.md)."""

    table: aws.dynamodb.Table
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]
    stream_arn: pulumi.Output[str]
    replica_regions: tuple[str, ...]
    key_arns: Mapping[str, pulumi.Input[str]]
    state_item: aws.dynamodb.TableItem

    def __init__(self, name: str, args: GlobalTableArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _check_regions(args)  # before anything is registered
        super().__init__("multi-region:data:GlobalTable", name, None, opts)
        self.replica_regions = tuple(region for region in args.key_arns if region != args.home_region)
        # The key encrypting the table (home) or its replica in each region: every caller of the table needs it.
        self.key_arns = dict(args.key_arns)

        # No ignore_changes: the provider compares replicas as a set (order is irrelevant), the replica set follows
        # `regions`, not the primary, and nothing else here is changed by AWS or by a failover.
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            name=args.table_name,
            billing_mode=BILLING_MODE,
            hash_key=ATTR_ID,
            # Only key attributes are declared: the table has no secondary index.
            attributes=[aws.dynamodb.TableAttributeArgs(name=ATTR_ID, type="S")],
            # Global tables replicate through the stream, which must carry new and old images; the functions'
            # cache invalidation reads the same stream in each region.
            stream_enabled=True,
            stream_view_type=STREAM_VIEW_TYPE,
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=ATTR_EXPIRES_AT, enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                enabled=True, kms_key_arn=args.key_arns[args.home_region]
            ),
            replicas=_replicas(args, self.replica_regions),
            deletion_protection_enabled=args.protect,
            tags=TABLE_TAGS,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        self.table_name = self.table.name
        self.table_arn = self.table.arn
        self.stream_arn = self.table.stream_arn

        self.state_item = self._state_item(name, args)
        self.register_outputs(
            {
                "table_name": self.table_name,
                "table_arn": self.table_arn,
                "stream_arn": self.stream_arn,
                "replica_regions": list(self.replica_regions),
                "state_item_id": STATE_ITEM_ID,
            }
        )

    def _state_item(self, name: str, args: GlobalTableArgs) -> aws.dynamodb.TableItem:
        """The application-state record, created ``active`` once and never rewritten or deleted by a deploy."""
        return aws.dynamodb.TableItem(
            f"{name}-state",
            table_name=self.table.name,
            hash_key=ATTR_ID,
            item=initial_state_item_json(args.active_region),
            opts=pulumi.ResourceOptions(
                parent=self.table,
                protect=args.protect,
                retain_on_delete=True,
                ignore_changes=list(STATE_ITEM_IGNORED_FIELDS),
            ),
        )


def _check_regions(args: GlobalTableArgs) -> None:
    """The home and the active region must be among the regions with a key."""
    if args.home_region not in args.key_arns:
        raise ValueError(f"no KMS key for the home region {args.home_region}; keys for: {', '.join(args.key_arns)}")
    if args.active_region not in args.key_arns:
        raise ValueError(f"the active region {args.active_region} is not one of the table's regions: {', '.join(args.key_arns)}")


def _replicas(args: GlobalTableArgs, regions: tuple[str, ...]) -> list[aws.dynamodb.TableReplicaArgs]:
    """A replica in each of ``regions``, under that region's own key, with PITR and the table's deletion protection."""
    return [
        aws.dynamodb.TableReplicaArgs(
            region_name=region,
            kms_key_arn=args.key_arns[region],
            point_in_time_recovery=True,
            deletion_protection_enabled=args.protect,
            propagate_tags=True,
        )
        for region in regions
    ]
