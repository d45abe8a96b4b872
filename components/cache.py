"""MemoryDB (Valkey or Redis OSS, by config) in one region: TLS, KMS, an ACL with an IAM user, replicas across AZs.

``MemoryDbCluster`` is the cluster, its ACL and application user, subnet group and security group; with
``cacheTopology: multiRegion`` it is a member of the ``MultiRegionCache`` (one MemoryDB Multi-Region cluster, in the
GlobalStack, as Aurora's global cluster is). The pure helpers above them (names, ingress, data tiering) are tested
without Pulumi. Why each setting: docs/design/data-stores.md; what Multi-Region means for the cache: docs/design/cache.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import MemoryDbConfig

REDIS_PORT = 6379

# MemoryDB names (cluster, ACL, user): lowercase letters, digits and single hyphens, starting with a letter,
# not ending with a hyphen, at most 40 characters. The provider rejects anything else at plan time.
NAME_MAX_LENGTH = 40

# The application needs reads, writes, expiry, Lua scripts (lock release) and pub/sub on its own keys, and
# no administrative command: -@dangerous removes KEYS, FLUSHALL, FLUSHDB, CONFIG, DEBUG, MONITOR, SHUTDOWN,
# INFO and the like. Cluster-aware clients keep what they need (CLUSTER SLOTS/SHARDS, COMMAND, READONLY).
APP_ACCESS_STRING = "on ~* &* +@all -@dangerous"

# Snapshots first, maintenance after, both at night in UTC and never overlapping (each at least 60 min).
SNAPSHOT_WINDOW = "03:00-05:00"
MAINTENANCE_WINDOW = "sun:06:00-sun:07:00"


def memorydb_name(*parts: str) -> str:
    """A valid MemoryDB resource name from ``parts`` joined by hyphens.

    Lowercases, turns every run of other characters into one hyphen and trims hyphens at the ends. A name
    longer than 40 characters is cut and ends with a short hash of the full name, so two long names that
    share a beginning stay distinct.

    Raises
    ------
    ValueError: the name does not start with a letter.

    Example:
        >>> memorydb_name("multi-region-prod", "app")
        'multi-region-prod-app'
    """
    name = re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")
    if not name[:1].isalpha():
        raise ValueError(f"MemoryDB name {name!r} (from {parts!r}) must start with a letter")
    if len(name) > NAME_MAX_LENGTH:
        digest = hashlib.sha256(name.encode()).hexdigest()[:6]
        name = f"{name[: NAME_MAX_LENGTH - len(digest) - 1].rstrip('-')}-{digest}"
    return name


def needs_data_tiering(node_type: str) -> bool:
    """Clusters on the r6gd family tier data between memory and local SSD and are created with data tiering
    on; no other family offers it."""
    return node_type.startswith("db.r6gd.")


def shared_settings(memorydb: MemoryDbConfig) -> dict[str, Any]:
    """The settings every member of a MemoryDB Multi-Region cluster shares with it (MemoryDB requires them equal),
    which a regional cluster has too: engine, version, node type, shards, TLS."""
    return {
        "engine": memorydb.engine,
        "engine_version": memorydb.engine_version,
        "node_type": memorydb.node_type,
        "num_shards": memorydb.shards,
        "tls_enabled": True,
    }


def client_ingress(client_security_group_ids: Sequence[pulumi.Input[str]]) -> list[aws.ec2.SecurityGroupIngressArgs]:
    """One ingress rule per client security group: TCP on the Redis port, from that group only (no CIDR)."""
    return [
        aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp",
            from_port=REDIS_PORT,
            to_port=REDIS_PORT,
            security_groups=[client],
            description="Redis over TLS from a client security group",
        )
        for client in client_security_group_ids
    ]


def _configuration_endpoint(endpoints: Sequence[aws.memorydb.outputs.ClusterClusterEndpoint]) -> str:
    """The cluster's configuration endpoint address, which cluster-aware clients connect to."""
    address = endpoints[0].address if endpoints else None
    if not address:
        raise ValueError("MemoryDB reported no cluster endpoint")
    return address


@dataclass(frozen=True)
class MemoryDbArgs:
    """Parameters
    ----------
    memorydb: engine and sizes from the stack config.
    name_prefix: ``<project>-<stack>``, for the MemoryDB names that must be unique in the region.
    vpc_id, private_subnet_ids: placement.
    key_arn: this region's KMS key.
    client_security_group_ids: the only security groups admitted on 6379.
    protect: Pulumi protection (production).
    multi_region_cluster_name: the MemoryDB Multi-Region cluster this region's cluster is a member of (None: a
        regional cluster).
    """

    memorydb: MemoryDbConfig
    name_prefix: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    key_arn: pulumi.Input[str]
    client_security_group_ids: list[pulumi.Input[str]]
    protect: bool
    multi_region_cluster_name: pulumi.Input[str] | None = None


class MemoryDbCluster(pulumi.ComponentResource):
    """The region's MemoryDB cluster, its ACL and application user, subnet group and security group.

    Consumers connect with TLS to ``endpoint_address``:``port`` as ``user_name`` with an IAM authentication token
    (their role needs ``memorydb:Connect`` on ``cluster.arn`` and ``user.arn``), from a security group listed in
    ``client_security_group_ids``; there is no password (docs/design/data-store-auth.md).

    Example:
        >>> cache = MemoryDbCluster("us-east-1-memorydb", MemoryDbArgs(config.memorydb, "multi-region-prod", ...),
        ...                         pulumi.ResourceOptions(parent=regional_stack))
        >>> cache.user_name
        'multi-region-prod-app'
    """

    security_group: aws.ec2.SecurityGroup
    subnet_group: aws.memorydb.SubnetGroup
    user: aws.memorydb.User
    acl: aws.memorydb.Acl
    cluster: aws.memorydb.Cluster
    cluster_name: str
    acl_name: str
    user_name: str
    endpoint_address: pulumi.Output[str]
    port: int

    def __init__(self, name: str, args: MemoryDbArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:cache:MemoryDbCluster", name, None, opts)
        self.cluster_name = memorydb_name(args.name_prefix)
        self.acl_name = memorydb_name(args.name_prefix, "app")
        self.user_name = memorydb_name(args.name_prefix, "app")
        self.port = REDIS_PORT
        child = pulumi.ResourceOptions(parent=self)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description=f"MemoryDB {self.cluster_name}: TLS Redis on {REDIS_PORT} from the application and EKS only",
            ingress=client_ingress(args.client_security_group_ids),
            egress=[],
            opts=child,
        )
        self.subnet_group = aws.memorydb.SubnetGroup(
            f"{name}-subnets",
            name=self.cluster_name,
            description=f"Private subnets of {self.cluster_name}, one per AZ",
            subnet_ids=args.private_subnet_ids,
            opts=child,
        )
        self._user_and_acl(name)
        self.cluster = self._cluster(name, args)
        self.endpoint_address = self.cluster.cluster_endpoints.apply(_configuration_endpoint)

        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "cluster_arn": self.cluster.arn,
                "endpoint_address": self.endpoint_address,
                "port": self.port,
                "acl_name": self.acl_name,
                "user_name": self.user_name,
                "user_arn": self.user.arn,
                "security_group_id": self.security_group.id,
            }
        )

    def _user_and_acl(self, name: str) -> None:
        """The application user, authenticated by IAM (no password), and the ACL that holds only it."""
        child = pulumi.ResourceOptions(parent=self)
        self.user = aws.memorydb.User(
            f"{name}-app-user",
            user_name=self.user_name,
            access_string=APP_ACCESS_STRING,
            authentication_mode=aws.memorydb.UserAuthenticationModeArgs(type="iam"),
            opts=child,
        )
        self.acl = aws.memorydb.Acl(f"{name}-acl", name=self.acl_name, user_names=[self.user.user_name], opts=child)

    def _cluster(self, name: str, args: MemoryDbArgs) -> aws.memorydb.Cluster:
        """The cluster: TLS, the region's key, the ACL, replicas in every shard, snapshots (a final one when protected)."""
        memorydb = args.memorydb
        return aws.memorydb.Cluster(
            f"{name}-cluster",
            name=self.cluster_name,
            description=f"{self.cluster_name} cache and application state",
            **shared_settings(memorydb),
            data_tiering=needs_data_tiering(memorydb.node_type),
            num_replicas_per_shard=memorydb.replicas_per_shard,
            port=REDIS_PORT,
            kms_key_arn=args.key_arn,
            acl_name=self.acl.name,
            subnet_group_name=self.subnet_group.name,
            security_group_ids=[self.security_group.id],
            snapshot_retention_limit=memorydb.snapshot_retention_days,
            snapshot_window=SNAPSHOT_WINDOW,
            maintenance_window=MAINTENANCE_WINDOW,
            auto_minor_version_upgrade=True,
            final_snapshot_name=f"{self.cluster_name}-final" if args.protect else None,
            multi_region_cluster_name=args.multi_region_cluster_name,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )


@dataclass(frozen=True)
class MultiRegionCacheArgs:
    """Parameters
    ----------
    memorydb: engine and sizes from the stack config (every member has the same shards, node type, engine and
        version as the Multi-Region cluster: MemoryDB requires it).
    name_prefix: ``<project>-<stack>``; the cluster's name is AWS's prefix and this suffix.
    protect: Pulumi protection and retain-on-delete (production).
    """

    memorydb: MemoryDbConfig
    name_prefix: str
    protect: bool


class MultiRegionCache(pulumi.ComponentResource):
    """The MemoryDB Multi-Region cluster every region's cluster joins (``cacheTopology: multiRegion``).

    It holds the settings its members share (node type, shards, engine and version, TLS); each region's
    ``MemoryDbCluster`` joins it with ``multi_region_cluster_name`` and keeps its own ACL and IAM user, KMS key,
    snapshots and maintenance window, which MemoryDB lets differ per member. Writes to a key in one member reach the
    others asynchronously, last writer wins (docs/design/cache.md, "Multi-Region").

    Example:
        >>> cache = MultiRegionCache("memorydb-multi-region", MultiRegionCacheArgs(config.memorydb, "multi-region-prod", True),
        ...                          pulumi.ResourceOptions(parent=global_stack))
        >>> cache.name_suffix
        'multi-region-prod'
    """

    cluster: aws.memorydb.MultiRegionCluster
    name_suffix: str
    multi_region_cluster_name: pulumi.Output[str]

    def __init__(self, name: str, args: MultiRegionCacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:cache:MultiRegionCache", name, None, opts)
        self.name_suffix = memorydb_name(args.name_prefix)
        self.cluster = aws.memorydb.MultiRegionCluster(
            f"{name}-cluster",
            multi_region_cluster_name_suffix=self.name_suffix,
            description=f"{self.name_suffix} cache and application state, replicated between the regions",
            **shared_settings(args.memorydb),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        self.multi_region_cluster_name = self.cluster.multi_region_cluster_name
        self.register_outputs(
            {"multi_region_cluster_name": self.multi_region_cluster_name, "multi_region_cluster_arn": self.cluster.arn}
        )
