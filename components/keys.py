"""The region's customer-managed KMS key: every encrypted resource of the region uses it."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.policies import edge_key_policy, region_key_policy


@dataclass(frozen=True)
class RegionKeyArgs:
    """Parameters
    ----------
    region: the region the key lives in (KMS keys are regional; nothing crosses regions with one key).
    alias: the alias name, ``alias/<project>-<stack>``, the same in every region.
    deletion_window_days: how long a scheduled deletion can still be cancelled (7..30).
    protect: protect the key and keep it on delete (production).
    edge_only: the us-east-1 key of a stack with no region there: it encrypts only the edge's log group and alarm
        topic, so its policy has no CloudFront grant (``edge_key_policy``).
    """

    region: str
    alias: str
    deletion_window_days: int
    protect: bool
    edge_only: bool = False


class RegionKey(pulumi.ComponentResource):
    """A symmetric KMS key with yearly rotation, an explicit key policy and an alias."""

    key: aws.kms.Key
    alias: aws.kms.Alias

    def __init__(self, name: str, args: RegionKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:keys:RegionKey", name, None, opts)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)
        policy = pulumi.Output.all(partition.partition, identity.account_id).apply(
            lambda values: json.dumps(
                (edge_key_policy if args.edge_only else region_key_policy)(values[0], values[1], args.region)
            )
        )
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"{args.alias.removeprefix('alias/')} data key in {args.region}",
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        self.alias = aws.kms.Alias(
            f"{name}-alias", name=args.alias, target_key_id=self.key.key_id, opts=pulumi.ResourceOptions(parent=self.key)
        )
        self.register_outputs({"key_arn": self.key.arn, "alias": self.alias.name})
