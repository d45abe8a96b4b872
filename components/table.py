"""The DynamoDB global table of the single-table design (ARCHITECTURE §3) and the application-state record.

One table, ``<project>-<stack>-items``, lives under the provider of the first region in ``regions`` (the home
region, like the Aurora global cluster), not of the primary: moving the primary after a failover never moves, and so
never replaces, it. Every other region holds a replica (global tables version 2019.11.21) encrypted with that
region's own customer key, since KMS keys are regional.

Item schema
-----------
The attribute names are the contract between this table and the functions; they live in ``functions/shared/schema.py``:
``Id`` (S, the hash key), ``Data`` (S or M), ``Version`` (N), ``Timestamp`` (N, client epoch ms),
``LastUpdatedRegion`` (S), ``IdempotencyKey`` (S), ``PayloadHash`` (S), ``RecordType`` (S: what the item is, e.g.
an item, a conflict record, the state record) and ``ExpiresAt`` (N, epoch seconds: DynamoDB's TTL deletes the item
some time after it). ``Data``, ``Timestamp`` and ``Status`` are DynamoDB reserved words: expressions must name them
through ``ExpressionAttributeNames``.

The table has no secondary index: a repeat of an event is answered from its idempotency claim, read by key
(``docs/design/write-path.md``). Dropping the index the table once had is an in-place update (same file).

Application state
-----------------
One item, ``Id = STATE#application``: ``Status`` (``active`` / ``fenced`` / ``failover``), ``ActiveRegion``,
``Epoch`` (the fencing token, only ever increased, every transition conditional on the expected epoch), ``UpdatedAt``
(epoch ms of the last transition; 0 until the first) and ``UpdatedBy``. The first deploy creates it ``active`` in the
primary region at epoch 1 and nothing here ever writes it again:

- ``ignore_changes=["item"]``: a later ``pulumi up``, including one with a new ``primaryRegion`` after a failover, has
  no diff on it, so it never reverts what the runbook wrote.
- The provider creates a table item with ``attribute_not_exists(Id)``: a re-creation (a renamed resource, a lost
  Pulumi state) fails instead of overwriting the live record; adopt it with ``pulumi import`` instead.
- ``retain_on_delete`` in every stack: the provider deletes an item unconditionally, so deleting the resource
  (dropped from the program, replaced, or destroyed with an unprotected stack) only forgets it and never removes the
  live record; in dev the record still goes with its table.
- Limit: if the item is deleted outside Pulumi, ``pulumi refresh`` drops it from the state and the next ``pulumi up``
  creates it again at epoch 1, which would let a fenced writer's token look current. Restore the record with an epoch
  above the last one used (from point-in-time recovery or the runbook's log) before any deploy.

KMS
---
DynamoDB uses a customer managed key through grants it creates with the permissions of the principal that creates
the table or replica (kms:CreateGrant, Encrypt, Decrypt, ReEncrypt*, GenerateDataKey*, DescribeKey, all through
DynamoDB in any region, as replication calls across regions); the replication service-linked role
``AWSServiceRoleForDynamoDBReplication`` then works through those grants. The region keys' policies delegate to IAM
(the account-root statement), so the deployer's IAM permissions suffice and no key policy statement is needed for the
table or its replicas. Those grants serve only DynamoDB's own work: every read or write of an item is authorised
against the caller, so each role that calls the table needs the key of the replica it calls through DynamoDB of that
region (``key_arns``; ``components.policies.dynamodb_key_statements``). Disabling a replica's key removes that replica
from the global table after 20 hours.

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
# The state record is never rewritten by a deploy (see the module notes).
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
    """The global table, its replicas and the application-state record (see the module notes)."""

    table: aws.dynamodb.Table
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]
    stream_arn: pulumi.Output[str]
    replica_regions: tuple[str, ...]
    key_arns: Mapping[str, pulumi.Input[str]]
    state_item: aws.dynamodb.TableItem

    def __init__(self, name: str, args: GlobalTableArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # Checked before anything is registered.
        if args.home_region not in args.key_arns:
            raise ValueError(f"no KMS key for the home region {args.home_region}; keys for: {', '.join(args.key_arns)}")
        if args.active_region not in args.key_arns:
            raise ValueError(
                f"the active region {args.active_region} is not one of the table's regions: {', '.join(args.key_arns)}"
            )
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
            replicas=[
                aws.dynamodb.TableReplicaArgs(
                    region_name=region,
                    kms_key_arn=args.key_arns[region],
                    point_in_time_recovery=True,
                    deletion_protection_enabled=args.protect,
                    propagate_tags=True,
                )
                for region in self.replica_regions
            ],
            deletion_protection_enabled=args.protect,
            tags=TABLE_TAGS,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        self.table_name = self.table.name
        self.table_arn = self.table.arn
        self.stream_arn = self.table.stream_arn

        self.state_item = aws.dynamodb.TableItem(
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
        self.register_outputs(
            {
                "table_name": self.table_name,
                "table_arn": self.table_arn,
                "stream_arn": self.stream_arn,
                "replica_regions": list(self.replica_regions),
                "state_item_id": STATE_ITEM_ID,
            }
        )
