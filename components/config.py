"""Typed, validated stack configuration: the only reader of the stack's config.

``load_config`` turns the raw strings the engine hands over into one frozen ``StackConfig`` with one reader per
section (``_read_regions``, ``_read_eks``, ...), or raises a ``ConfigError`` listing every bad key with the value it
got and what is allowed, before any resource is registered. ``KEYS`` names the keys ``Pulumi.yaml`` declares (a test
keeps them in step). How validation works and where to add a key: docs/design/config.md.

Example:
    >>> load_config({"regions": '["us-east-1", "eu-west-1"]', ...}, stack="prod", project="multi-region").primary.name
    'us-east-1'
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from functions.shared.app_config import FEATURE_FLAGS, NUMBER_FIELDS

RUNTIME_BOUNDS = {name: (low, high) for name, (_, low, high) in NUMBER_FIELDS.items()}

# Namespaces a stack's config may hold besides the project's own: the engine's settings (pulumi:disable-default-providers).
ENGINE_NAMESPACES = ("pulumi",)
AWS_CONFIG_NOTE = (
    "the program's AWS providers are explicit, one per region, and read no aws: config; credentials and profiles come "
    "from the environment, e.g. AWS_PROFILE"
)

MIN_REGIONS = 2
MAX_REGIONS = 6
AZ_COUNT = 3

# AWS commercial regions that offer every service a RegionalStack uses (EKS, Aurora global databases,
# MemoryDB, S3 replication time control, DynamoDB global tables).
KNOWN_REGIONS: tuple[str, ...] = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-east-1",
    "me-central-1",
    "il-central-1",
)

NAT_MODES = ("single", "per-az")
ROUTING_MODES = ("failover", "latency")
# The values CloudWatch Logs accepts for a log group's retention (PutRetentionPolicy's `retentionInDays`). Every log
# group of the stack is kept `logRetentionDays`; the policy pack asks at least a year of each (MIN_LOG_RETENTION_DAYS
# in policy/observability.py).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
KMS_DELETION_WINDOW = (7, 30)
VPC_PREFIX = (16, 24)
SUBNET_PREFIX = (17, 28)
DNS_TTL = (1, 86400)
MAX_TTL_WITH_HEALTH_CHECKS = 60
# EKS versions in standard support (14 months from release) on the date of this list: 1.34 to 2026-12-02,
# 1.35 to 2027-03-27, 1.36 to mid-2027. Drop a version when its standard support ends.
EKS_VERSIONS = ("1.34", "1.35", "1.36")
NODE_COUNT = (1, 100)
# Aurora global databases run on memory-optimized classes only; burstable (db.t*) classes are refused.
AURORA_INSTANCE_CLASS = re.compile(r"^db\.(r5|r6g|r6i|r7g|r7i|r8g|x2g)\.(large|[0-9]*xlarge)$")
AURORA_ENGINE_VERSION = re.compile(r"^1[4-7]\.[0-9]+$")
# Whether a version exists and supports global databases in a region is AWS's to say (`ops preflight` asks
# describe_db_engine_versions); this pattern only catches typos.
AURORA_INSTANCES = (1, 15)
BACKUP_RETENTION_DAYS = (7, 35)
# Secrets Manager rotates every 1 to 1000 days; a password older than a year is what the rotation is there to prevent.
MASTER_ROTATION_DAYS = (1, 365)
MEMORYDB_NODE_TYPE = re.compile(r"^db\.(t4g\.(small|medium)|(r6g|r7g|r6gd|m7g)\.(large|[0-9]*xlarge))$")
MEMORYDB_SHARDS = (1, 20)
MEMORYDB_REPLICAS = (1, 5)
MEMORYDB_SNAPSHOT_DAYS = (1, 35)
# MemoryDB's two engines and the versions each has (MemoryDB developer guide, "Engine versions"): Redis OSS stops at
# 7.1; 7.2 (Valkey 7.2.6) and 7.3 (multi-Region clusters) are Valkey only. Redis OSS 6.2 exists but is refused: the
# functions authenticate with IAM, which needs 7.0 or later ("Authenticating with IAM"; docs/design/data-store-auth.md).
MEMORYDB_ENGINE_VERSIONS: dict[str, tuple[str, ...]] = {"valkey": ("7.2", "7.3"), "redis": ("7.0", "7.1")}
MEMORYDB_VERSIONS_WITHOUT_IAM_AUTH = ("6.2",)
# cacheTopology: one cluster per region, or one MemoryDB Multi-Region cluster with a member in every region. What
# Multi-Region needs (MemoryDB developer guide, "Prerequisites and limitations"): these regions, Valkey 7.3 and later,
# R7g nodes of size XL and above, at most five regions (docs/design/cache.md, "Multi-Region").
CACHE_TOPOLOGIES = ("regional", "multiRegion")
MULTI_REGION_CACHE_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "eu-west-2",
    "ap-northeast-1",
    "ap-southeast-2",
    "ap-south-1",
    "ap-northeast-2",
    "ap-southeast-1",
)
MULTI_REGION_CACHE_ENGINE = ("valkey", ("7.3",))
MULTI_REGION_CACHE_NODE_TYPE = re.compile(r"^db\.r7g\.[0-9]*xlarge$")
MULTI_REGION_CACHE_MAX_REGIONS = 5
EC2_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[0-9]*[a-z]+$")
NONCURRENT_VERSION_DAYS = (1, 3650)
# AWS Backup keeps a recovery point up to 100 years; a vault lock's changeable-for days are at least 3 (AWS's 72-hour
# cooling-off period before a compliance lock becomes immutable).
BACKUP_DAYS = (1, 36500)
BACKUP_PLAN_RETENTION_DAYS = (7, 36500)
BACKUP_LOCK_GRACE_DAYS = (3, 36500)
BACKUP_VAULT_LOCKS = ("none", "governance", "compliance")
COMPLIANCE_LOCK_NOTE = (
    "compliance locks the vault for good once backupVaultLockChangeableForDays have passed: no one, not even the "
    "account root, can then remove the lock, shorten its retention or delete a recovery point before it expires"
)
DOMAIN_NAME = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
# Route53 health checks probe every 10 or 30 seconds.
HEALTH_CHECK_INTERVALS = (10, 30)
HEALTH_CHECK_FAILURES = (1, 10)
HEALTH_CHECK_PATH = re.compile(r"^/[A-Za-z0-9/_.-]*$")
FUNCTION_TIMEOUT = (3, 900)
# -1 leaves a function unreserved (it shares the account's pool); small accounts cannot reserve any.
RESERVED_CONCURRENCY = (-1, 1000)
MAX_RECEIVE_COUNT = (1, 100)
# The runtime settings' bounds are the functions' (functions/shared/app_config.py), which check the parameter's document.
CLOCK_SKEW_SECONDS = RUNTIME_BOUNDS["max_clock_skew_seconds"]
CACHE_TTL_SECONDS = RUNTIME_BOUNDS["cache_ttl_seconds"]
NEGATIVE_CACHE_TTL_SECONDS = RUNTIME_BOUNDS["negative_cache_ttl_seconds"]
# A warm container re-reads the parameter after this long: at least 10 s, because every container of the account's
# functions in a region shares Parameter Store's default 40 GetParameter calls a second.
APP_CONFIG_MAX_AGE_SECONDS = (10, 3600)
# How the failover runbook moves traffic: a Route53 calculated "gate" health check per region that the runbook forces
# unhealthy (Route53 control plane, in us-east-1), or Route53 ARC routing controls (a highly available data plane in
# five regions, at the price of an ARC cluster).
TRAFFIC_CONTROLS = ("healthCheckGate", "routingControl")
DRAIN_TIMEOUT_SECONDS = (30, 3600)
RTO_SECONDS = (60, 86400)
# WAF rate-based rules count per 5-minute window; the lowest limit WAF takes is 10, the highest 2,000,000,000.
WAF_RATE_LIMIT = (10, 2_000_000_000)
# API Gateway's default account throttle per region (across all APIs) is 10,000 requests per second with a burst
# bucket of 5,000; a stage's default route throttle cannot exceed it.
API_THROTTLE_RATE = (1, 10_000)
API_THROTTLE_BURST = (1, 5_000)
RPO_SECONDS = (0, 86400)
PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
PRIVATE_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


class ConfigError(ValueError):
    """One or more config keys are invalid; ``problems`` holds one message per bad key."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid stack configuration ({len(self.problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class NetworkConfig:
    """Per-region network layout: the VPC CIDR and how it is cut into subnets."""

    vpc_cidr: str
    private_subnet_prefix: int
    public_subnet_prefix: int
    nat_gateways: str


@dataclass(frozen=True)
class EksConfig:
    """EKS control plane and the managed node group of every region."""

    version: str
    node_instance_type: str
    node_min: int
    node_desired: int
    node_max: int
    public_access_cidrs: tuple[str, ...]


@dataclass(frozen=True)
class AuroraConfig:
    """Aurora PostgreSQL global database: sizes apply to the cluster of every region."""

    engine_version: str
    instance_class: str
    instances_per_region: int
    backup_retention_days: int
    # Days between automatic rotations of the master secret (components/rotation.py).
    master_rotation_days: int


@dataclass(frozen=True)
class MemoryDbConfig:
    """MemoryDB cluster of every region: ``engine`` is ``valkey`` or ``redis`` (Redis OSS); ``topology`` is
    ``regional`` (a cluster per region) or ``multiRegion`` (members of one MemoryDB Multi-Region cluster)."""

    engine: str
    engine_version: str
    node_type: str
    shards: int
    replicas_per_shard: int
    snapshot_retention_days: int
    topology: str = "regional"

    @property
    def multi_region(self) -> bool:
        return self.topology == "multiRegion"


@dataclass(frozen=True)
class BackupConfig:
    """AWS Backup in every region: daily backups kept ``retention_days``, and the vault's lock.

    ``vault_lock`` is ``none``, ``governance`` (a lock that users with the IAM permission can remove) or ``compliance``
    (immutable once ``lock_changeable_for_days`` have passed). A locked vault refuses recovery points whose retention
    is outside ``lock_min_retention_days`` to ``lock_max_retention_days``.
    """

    retention_days: int
    vault_lock: str
    lock_min_retention_days: int
    lock_max_retention_days: int
    lock_changeable_for_days: int

    @property
    def locked(self) -> bool:
        return self.vault_lock != "none"


@dataclass(frozen=True)
class RegionConfig:
    """One region of the stack. ``role`` is ``primary`` or ``secondary``."""

    name: str
    network: NetworkConfig
    is_primary: bool

    @property
    def role(self) -> str:
        return "primary" if self.is_primary else "secondary"


@dataclass(frozen=True)
class RoutingConfig:
    """How clients reach the regions: Route53 failover (active-passive) or latency (active-active)."""

    mode: str
    dns_ttl_seconds: int
    health_checks_enabled: bool


@dataclass(frozen=True)
class EdgeConfig:
    """DNS, health checks, CloudFront and alarm delivery (the global layer). ``domain_name`` is ``None`` for a stack
    without a domain (it serves on the API's and CloudFront's own endpoints)."""

    domain_name: str | None
    create_hosted_zone: bool
    health_check_path: str
    health_check_interval_seconds: int
    health_check_failure_threshold: int
    cdn_failover_on_missing: bool
    cdn_price_class: str
    alarm_emails: tuple[str, ...]
    waf_rate_limit: int


@dataclass(frozen=True)
class AppConfig:
    """The application layer's functions, queue and cache behaviour in every region."""

    function_timeout_seconds: int
    processor_reserved_concurrency: int
    api_reserved_concurrency: int
    queue_max_receive_count: int
    max_clock_skew_seconds: int
    cache_ttl_seconds: int
    api_throttle_rate_limit: int
    api_throttle_burst_limit: int
    negative_cache_ttl_seconds: int
    feature_flags: tuple[str, ...]
    app_config_max_age_seconds: int


@dataclass(frozen=True)
class FailoverConfig:
    """The failover runbook's settings and the resilience targets the plan's budget is checked against."""

    traffic_control: str
    drain_timeout_seconds: int
    rto_seconds: int
    rpo_seconds: int


@dataclass(frozen=True)
class StackConfig:
    """The whole validated configuration of one stack."""

    project: str
    stack: str
    regions: tuple[RegionConfig, ...]
    routing: RoutingConfig
    log_retention_days: int
    kms_deletion_window_days: int
    protect_stateful_resources: bool
    eks: EksConfig
    aurora: AuroraConfig
    memorydb: MemoryDbConfig
    noncurrent_version_days: int
    backup: BackupConfig
    edge: EdgeConfig
    app: AppConfig
    failover: FailoverConfig

    @property
    def primary(self) -> RegionConfig:
        return next(r for r in self.regions if r.is_primary)

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.regions)

    @property
    def name_prefix(self) -> str:
        """``<project>-<stack>``: the prefix of every name the stack gives AWS (functions, queues, clusters, keys)."""
        return f"{self.project}-{self.stack}"


# Declared keys, in the order of Pulumi.yaml, with the Pulumi type each is declared with.
KEYS: dict[str, str] = {
    "regions": "array",
    "primaryRegion": "string",
    "vpcCidrs": "array",
    "privateSubnetPrefixLength": "integer",
    "publicSubnetPrefixLength": "integer",
    "natGateways": "string",
    "logRetentionDays": "integer",
    "kmsDeletionWindowDays": "integer",
    "protectStatefulResources": "boolean",
    "routingMode": "string",
    "dnsTtlSeconds": "integer",
    "healthChecksEnabled": "boolean",
    "eksVersion": "string",
    "eksNodeInstanceType": "string",
    "eksNodeMinSize": "integer",
    "eksNodeDesiredSize": "integer",
    "eksNodeMaxSize": "integer",
    "eksPublicAccessCidrs": "array",
    "auroraEngineVersion": "string",
    "auroraInstanceClass": "string",
    "auroraInstancesPerRegion": "integer",
    "auroraBackupRetentionDays": "integer",
    "auroraMasterRotationDays": "integer",
    "memorydbEngine": "string",
    "memorydbEngineVersion": "string",
    "memorydbNodeType": "string",
    "memorydbShards": "integer",
    "memorydbReplicasPerShard": "integer",
    "memorydbSnapshotRetentionDays": "integer",
    "cacheTopology": "string",
    "s3NoncurrentVersionDays": "integer",
    "backupRetentionDays": "integer",
    "backupVaultLock": "string",
    "backupVaultLockMinRetentionDays": "integer",
    "backupVaultLockMaxRetentionDays": "integer",
    "backupVaultLockChangeableForDays": "integer",
    "domainName": "string",
    "createHostedZone": "boolean",
    "healthCheckPath": "string",
    "healthCheckIntervalSeconds": "integer",
    "healthCheckFailureThreshold": "integer",
    "cdnFailoverOnMissing": "boolean",
    "cdnPriceClass": "string",
    "alarmEmails": "array",
    "wafRateLimit": "integer",
    "functionTimeoutSeconds": "integer",
    "processorReservedConcurrency": "integer",
    "apiReservedConcurrency": "integer",
    "queueMaxReceiveCount": "integer",
    "maxClockSkewSeconds": "integer",
    "cacheTtlSeconds": "integer",
    "negativeCacheTtlSeconds": "integer",
    "featureFlags": "array",
    "appConfigMaxAgeSeconds": "integer",
    "apiThrottleRateLimit": "integer",
    "apiThrottleBurstLimit": "integer",
    "trafficControl": "string",
    "failoverDrainTimeoutSeconds": "integer",
    "rtoSeconds": "integer",
    "rpoSeconds": "integer",
}


_V = TypeVar("_V")


class _Reader:
    """Parses raw config strings by declared type, collecting one problem per bad key."""

    def __init__(self, raw: Mapping[str, str | None]) -> None:
        self.raw = raw
        self.problems: list[str] = []
        # Every value read and valid, by key: what the checks across sections look at.
        self.parsed: dict[str, Any] = {}

    def fail(self, key: str, value: object, allowed: str) -> None:
        self.problems.append(f"{key}: got {value!r}; allowed: {allowed}")

    def _valid(self, key: str, value: _V) -> _V:
        self.parsed[key] = value
        return value

    def _get(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            self.problems.append(f"{key}: missing; declare it in Pulumi.yaml or set it with `pulumi config set {key}`")
        return value

    def string(self, key: str, choices: Sequence[str] | None = None) -> str | None:
        value = self._get(key)
        if value is None:
            return None
        if choices is not None and value not in choices:
            self.fail(key, value, "one of " + ", ".join(choices))
            return None
        return self._valid(key, value)

    def integer(self, key: str, bounds: tuple[int, int] | None = None, choices: Sequence[int] | None = None) -> int | None:
        value = self._get(key)
        if value is None:
            return None
        allowed = _describe_ints(bounds, choices)
        try:
            number = int(str(value).strip())
        except ValueError:
            self.fail(key, value, f"a whole number, {allowed}")
            return None
        if (bounds and not bounds[0] <= number <= bounds[1]) or (choices and number not in choices):
            self.fail(key, number, allowed)
            return None
        return self._valid(key, number)

    def pattern(self, key: str, regex: re.Pattern[str], allowed: str) -> str | None:
        value = self._get(key)
        if value is None:
            return None
        if not regex.match(value):
            self.fail(key, value, allowed)
            return None
        return self._valid(key, value)

    def boolean(self, key: str) -> bool | None:
        value = self._get(key)
        if value is None:
            return None
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            self.fail(key, value, "true or false")
            return None
        return self._valid(key, text == "true")

    def string_list(self, key: str) -> list[str] | None:
        value = self._get(key)
        if value is None:
            return None
        try:
            parsed: Any = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            self.fail(key, value, "a YAML list of strings")
            return None
        if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
            self.fail(key, parsed, "a YAML list of strings")
            return None
        return self._valid(key, parsed)


def _describe_ints(bounds: tuple[int, int] | None, choices: Sequence[int] | None) -> str:
    if choices:
        return "one of " + ", ".join(str(c) for c in choices)
    if bounds:
        return f"from {bounds[0]} to {bounds[1]}"
    return "any whole number"


def _check_regions(r: _Reader, regions: list[str] | None, primary: str | None) -> list[str] | None:
    if regions is None:
        return None
    ok = True
    if not MIN_REGIONS <= len(regions) <= MAX_REGIONS:
        r.fail("regions", regions, f"from {MIN_REGIONS} to {MAX_REGIONS} regions")
        ok = False
    for name in regions:
        if name not in KNOWN_REGIONS:
            r.fail("regions", name, "AWS regions " + ", ".join(KNOWN_REGIONS))
            ok = False
    duplicates = sorted({n for n in regions if regions.count(n) > 1})
    if duplicates:
        r.fail("regions", regions, f"each region once; repeated: {', '.join(duplicates)}")
        ok = False
    if primary is not None and primary not in regions:
        r.fail("primaryRegion", primary, "one of regions: " + ", ".join(regions))
        ok = False
    return regions if ok else None


def _check_cidrs(r: _Reader, regions: list[str] | None, cidrs: list[str] | None) -> list[ipaddress.IPv4Network] | None:
    if cidrs is None:
        return None
    if regions is not None and len(cidrs) != len(regions):
        r.fail("vpcCidrs", cidrs, f"one CIDR per region, in the order of regions ({len(regions)} expected)")
        return None
    networks: list[ipaddress.IPv4Network] = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            r.fail("vpcCidrs", cidr, f"an IPv4 network in CIDR notation with no host bits set ({exc})")
            continue
        if not isinstance(network, ipaddress.IPv4Network):
            r.fail("vpcCidrs", cidr, "an IPv4 network (IPv6-only VPCs are not supported)")
            continue
        if not VPC_PREFIX[0] <= network.prefixlen <= VPC_PREFIX[1]:
            r.fail("vpcCidrs", cidr, f"a prefix length from /{VPC_PREFIX[0]} to /{VPC_PREFIX[1]}")
            continue
        if not any(network.subnet_of(block) for block in PRIVATE_RANGES):
            r.fail("vpcCidrs", cidr, "a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)")
            continue
        networks.append(network)
    if len(networks) != len(cidrs):
        return None
    for i, a in enumerate(networks):
        for b in networks[i + 1 :]:
            if a.overlaps(b):
                r.fail("vpcCidrs", [str(a), str(b)], "non-overlapping CIDRs, so that the regions can be peered")
                return None
    return networks


def _check_public_cidrs(r: _Reader, cidrs: list[str] | None) -> tuple[str, ...] | None:
    if cidrs is None:
        return None
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            r.fail("eksPublicAccessCidrs", cidr, "CIDRs with no host bits set, e.g. 203.0.113.0/24")
            return None
        if network.prefixlen == 0:
            r.fail(
                "eksPublicAccessCidrs",
                cidr,
                "specific operator CIDRs; never the whole internet (leave empty for a private endpoint)",
            )
            return None
    return tuple(cidrs)


def _check_memorydb_version(r: _Reader, engine: str | None, version: str | None) -> str | None:
    """A version of the chosen engine; a version of the other engine names the engine that has it."""
    if engine is None or version is None:
        return None
    if version in MEMORYDB_ENGINE_VERSIONS[engine]:
        return version
    owner = [name for name, versions in MEMORYDB_ENGINE_VERSIONS.items() if version in versions]
    hint = f" ({version} is a {owner[0]} version: set memorydbEngine to {owner[0]})" if owner else ""
    if version in MEMORYDB_VERSIONS_WITHOUT_IAM_AUTH:
        hint = f" ({version} has no IAM authentication, which the functions use: 7.0 or later)"
    r.fail("memorydbEngineVersion", version, f"a {engine} version: " + ", ".join(MEMORYDB_ENGINE_VERSIONS[engine]) + hint)
    return None


def _check_node_counts(r: _Reader, low: int | None, desired: int | None, high: int | None) -> None:
    if low is not None and desired is not None and high is not None and not low <= desired <= high:
        r.fail(
            "eksNodeDesiredSize",
            {"min": low, "desired": desired, "max": high},
            "eksNodeMinSize <= eksNodeDesiredSize <= eksNodeMaxSize",
        )


def did_you_mean(key: str, prefix: str = "") -> str:
    """A hint naming the declared key closest to a misspelt one (empty when none is close).

    Example:
        >>> did_you_mean("auroraEngineVersio")
        '; did you mean auroraEngineVersion?'
    """
    by_lower = {k.lower(): k for k in KEYS}
    close = difflib.get_close_matches(key.lower(), by_lower, n=1, cutoff=0.6)
    return f"; did you mean {prefix}{by_lower[close[0]]}?" if close else ""


def project_values(
    config: Mapping[str, str | None], project: str, where: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """The values of the ``<project>:`` keys of a stack's whole config, without the namespace; ``where`` tells where
    each key was written (a stack file's name and line), for the messages.

    Raises
    ------
    ConfigError
        For each key in another namespace (``myproject:regions`` after a rename, ``aws:region`` for a default
        provider the program does not use), naming it and the project key it may have meant.
    """
    values: dict[str, str | None] = {}
    problems = []
    for name, value in config.items():
        at = f"{where[name]}: " if where and name in where else ""
        namespace, sep, key = name.partition(":")
        if sep and namespace == project:
            values[key] = value
        elif not sep:
            hint = did_you_mean(name, project + ":")
            problems.append(f"{at}{name}: a key without a namespace; the project's keys are {project}:<key>{hint}")
        elif namespace not in ENGINE_NAMESPACES:
            why = AWS_CONFIG_NOTE if namespace == "aws" else "the program reads only its own project's keys"
            problems.append(f"{at}{name}: outside the project's namespace {project!r} ({why}){did_you_mean(key, project + ':')}")
    if problems:
        raise ConfigError(problems)
    return values


def load_config(raw: Mapping[str, str | None], stack: str, project: str) -> StackConfig:
    """Validate raw config values and build the typed ``StackConfig``: one reader per section, then the checks
    across sections, then one ``ConfigError`` with every problem.

    Parameters
    ----------
    raw:
        Key (without the ``multi-region:`` namespace) to the raw value as the Pulumi engine passes it:
        a string, arrays as JSON text. Missing keys are errors: ``Pulumi.yaml`` declares a default for each.
    stack:
        The stack name (``prod``, ``dev``, ...), used in names and tags.
    project:
        The project name (``name`` in ``Pulumi.yaml``), used in names, tags and the metrics namespace.

    Raises
    ------
    ConfigError
        Listing every invalid key with its value and what is allowed.
    """
    r = _Reader(raw)
    regions = _read_regions(r)
    retention = r.integer("logRetentionDays", choices=LOG_RETENTION_DAYS)
    window = r.integer("kmsDeletionWindowDays", KMS_DELETION_WINDOW)
    protect = r.boolean("protectStatefulResources")
    routing = _read_routing(r)
    eks = _read_eks(r)
    aurora = _read_aurora(r)
    memorydb = _read_memorydb(r)
    noncurrent_days = r.integer("s3NoncurrentVersionDays", NONCURRENT_VERSION_DAYS)
    backup = _read_backup(r)
    edge = _read_edge(r)
    app = _read_app(r)
    failover = _read_failover(r)
    _check_health_checks(r)
    _check_unknown_keys(r)
    if r.problems:
        raise ConfigError(r.problems)
    assert regions is not None and routing is not None and eks is not None and aurora is not None
    assert memorydb is not None and edge is not None and app is not None and failover is not None and backup is not None
    assert retention is not None and window is not None and protect is not None and noncurrent_days is not None
    return StackConfig(
        project=project,
        stack=stack,
        regions=regions,
        routing=routing,
        log_retention_days=retention,
        kms_deletion_window_days=window,
        protect_stateful_resources=protect,
        eks=eks,
        aurora=aurora,
        memorydb=memorydb,
        noncurrent_version_days=noncurrent_days,
        backup=backup,
        edge=edge,
        app=app,
        failover=failover,
    )


_T = TypeVar("_T")


def _complete(build: Callable[..., _T], *values: object) -> _T | None:
    """``build(*values)`` when every value was read; ``None`` when one was bad (its problem is already recorded)."""
    return None if any(v is None for v in values) else build(*values)


def _read_regions(r: _Reader) -> tuple[RegionConfig, ...] | None:
    """The regions, the primary, and each region's network: its VPC CIDR and the subnets cut from it."""
    from components.network_plan import SubnetPlanError, plan_subnets

    primary = r.string("primaryRegion")
    regions = _check_regions(r, r.string_list("regions"), primary)
    networks = _check_cidrs(r, regions, r.string_list("vpcCidrs"))
    private_prefix = r.integer("privateSubnetPrefixLength", SUBNET_PREFIX)
    public_prefix = r.integer("publicSubnetPrefixLength", SUBNET_PREFIX)
    nat = r.string("natGateways", NAT_MODES)
    if networks is not None and private_prefix is not None and public_prefix is not None:
        for network in networks:
            try:
                plan_subnets(str(network), private_prefix, public_prefix, AZ_COUNT)
            except SubnetPlanError as exc:
                r.fail(exc.key, exc.value, exc.allowed)
                return None
    if regions is None or networks is None or primary is None:
        return None
    return (
        tuple(
            RegionConfig(name=name, network=layout, is_primary=name == primary)
            for name, network in zip(regions, networks, strict=True)
            if (layout := _complete(NetworkConfig, str(network), private_prefix, public_prefix, nat)) is not None
        )
        or None
    )


def _read_routing(r: _Reader) -> RoutingConfig | None:
    return _complete(
        RoutingConfig,
        r.string("routingMode", ROUTING_MODES),
        r.integer("dnsTtlSeconds", DNS_TTL),
        r.boolean("healthChecksEnabled"),
    )


def _read_eks(r: _Reader) -> EksConfig | None:
    version = r.string("eksVersion", EKS_VERSIONS)
    node_type = r.pattern("eksNodeInstanceType", EC2_INSTANCE_TYPE, "an EC2 instance type such as m7g.large")
    node_min = r.integer("eksNodeMinSize", NODE_COUNT)
    node_desired = r.integer("eksNodeDesiredSize", NODE_COUNT)
    node_max = r.integer("eksNodeMaxSize", NODE_COUNT)
    _check_node_counts(r, node_min, node_desired, node_max)
    public_cidrs = _check_public_cidrs(r, r.string_list("eksPublicAccessCidrs"))
    return _complete(EksConfig, version, node_type, node_min, node_desired, node_max, public_cidrs)


def _read_aurora(r: _Reader) -> AuroraConfig | None:
    return _complete(
        AuroraConfig,
        r.pattern("auroraEngineVersion", AURORA_ENGINE_VERSION, "an Aurora PostgreSQL version such as 16.6 (14 to 17)"),
        r.pattern(
            "auroraInstanceClass",
            AURORA_INSTANCE_CLASS,
            "a memory-optimized class global databases support (db.r5, db.r6g, db.r6i, db.r7g, db.r7i, db.r8g, db.x2g; "
            ".large or .Nxlarge); burstable db.t* classes are not supported",
        ),
        r.integer("auroraInstancesPerRegion", AURORA_INSTANCES),
        r.integer("auroraBackupRetentionDays", BACKUP_RETENTION_DAYS),
        r.integer("auroraMasterRotationDays", MASTER_ROTATION_DAYS),
    )


def _read_memorydb(r: _Reader) -> MemoryDbConfig | None:
    engine = r.string("memorydbEngine", tuple(MEMORYDB_ENGINE_VERSIONS))
    return _complete(
        MemoryDbConfig,
        engine,
        _check_memorydb_version(r, engine, r.string("memorydbEngineVersion")),
        r.pattern(
            "memorydbNodeType",
            MEMORYDB_NODE_TYPE,
            "a MemoryDB node type: db.t4g.small|medium, or db.r6g, db.r7g, db.r6gd, db.m7g .large/.Nxlarge",
        ),
        r.integer("memorydbShards", MEMORYDB_SHARDS),
        r.integer("memorydbReplicasPerShard", MEMORYDB_REPLICAS),
        r.integer("memorydbSnapshotRetentionDays", MEMORYDB_SNAPSHOT_DAYS),
        _check_cache_topology(r, engine),
    )


def _check_cache_topology(r: _Reader, engine: str | None) -> str | None:
    """``multiRegion`` only where MemoryDB Multi-Region runs: its regions, engine and version, node types and count."""
    topology = r.string("cacheTopology", CACHE_TOPOLOGIES)
    if topology != "multiRegion":
        return topology
    allowed, problems_before = "regional, or multiRegion with ", len(r.problems)
    for region in r.parsed.get("regions") or []:
        if region not in MULTI_REGION_CACHE_REGIONS:
            where = ", ".join(MULTI_REGION_CACHE_REGIONS)
            among = f"every region among those MemoryDB Multi-Region runs in ({where}); {region} is not"
            r.fail("cacheTopology", topology, allowed + among)
    count = len(r.parsed.get("regions") or [])
    if count > MULTI_REGION_CACHE_MAX_REGIONS:
        r.fail("cacheTopology", topology, f"{allowed}at most {MULTI_REGION_CACHE_MAX_REGIONS} regions; regions has {count}")
    version, (needed_engine, versions) = r.parsed.get("memorydbEngineVersion"), MULTI_REGION_CACHE_ENGINE
    if engine is not None and (engine != needed_engine or version not in versions):
        r.fail(
            "cacheTopology",
            topology,
            f"{allowed}memorydbEngine {needed_engine} at memorydbEngineVersion {', '.join(versions)} (got {engine} {version})",
        )
    node_type = r.parsed.get("memorydbNodeType")
    if node_type is not None and not MULTI_REGION_CACHE_NODE_TYPE.match(node_type):
        r.fail("cacheTopology", topology, f"{allowed}memorydbNodeType db.r7g.xlarge or larger (got {node_type})")
    return topology if len(r.problems) == problems_before else None


def _read_backup(r: _Reader) -> BackupConfig | None:
    """The backup plan's retention and the vault lock; a locked vault must admit the plan's retention."""
    retention = r.integer("backupRetentionDays", BACKUP_PLAN_RETENTION_DAYS)
    lock = r.string("backupVaultLock")
    if lock is not None and lock not in BACKUP_VAULT_LOCKS:
        r.fail(
            "backupVaultLock",
            lock,
            f"one of {', '.join(BACKUP_VAULT_LOCKS)} (none: no lock; governance: a lock users with the IAM permission "
            f"can remove; {COMPLIANCE_LOCK_NOTE})",
        )
        lock = None
    low = r.integer("backupVaultLockMinRetentionDays", BACKUP_DAYS)
    high = r.integer("backupVaultLockMaxRetentionDays", BACKUP_DAYS)
    grace = r.integer("backupVaultLockChangeableForDays", BACKUP_LOCK_GRACE_DAYS)
    if lock not in (None, "none") and low is not None and high is not None:
        if low > high:
            r.fail("backupVaultLockMinRetentionDays", low, f"at most backupVaultLockMaxRetentionDays ({high})")
        elif retention is not None and not low <= retention <= high:
            r.fail(
                "backupRetentionDays",
                retention,
                f"from backupVaultLockMinRetentionDays to backupVaultLockMaxRetentionDays ({low} to {high}) while "
                f"backupVaultLock is {lock}: the locked vault refuses recovery points kept longer or shorter",
            )
            retention = None
    return _complete(BackupConfig, retention, lock, low, high, grace)


def _read_edge(r: _Reader) -> EdgeConfig | None:
    """The domain and its zone, the health checks, CloudFront and the alarm addresses."""
    domain = r.string("domainName")
    if domain and not DOMAIN_NAME.match(domain):
        r.fail("domainName", domain, "a lower-case DNS name you control, e.g. app.example.com, or empty for no domain")
        domain = None
    create_zone = r.boolean("createHostedZone")
    if create_zone and domain == "":
        r.fail("createHostedZone", True, "false while domainName is empty: a hosted zone needs a domain")
    health_path = r.pattern("healthCheckPath", HEALTH_CHECK_PATH, "an absolute URL path such as /health")
    interval = r.integer("healthCheckIntervalSeconds", choices=HEALTH_CHECK_INTERVALS)
    failures = r.integer("healthCheckFailureThreshold", HEALTH_CHECK_FAILURES)
    failover_on_missing = r.boolean("cdnFailoverOnMissing")
    price_class = r.string("cdnPriceClass", PRICE_CLASSES)
    emails = r.string_list("alarmEmails")
    waf_rate_limit = r.integer("wafRateLimit", WAF_RATE_LIMIT)
    bad_email = next((e for e in emails or [] if not EMAIL.match(e)), None)
    if bad_email is not None:
        r.fail("alarmEmails", bad_email, "email addresses such as oncall@example.com")
        emails = None
    if domain is None or emails is None:
        return None
    # An empty domainName is valid: the stack serves on the API's and CloudFront's own endpoints.
    return _complete(
        partial(EdgeConfig, domain or None),
        create_zone,
        health_path,
        interval,
        failures,
        failover_on_missing,
        price_class,
        tuple(emails),
        waf_rate_limit,
    )


def _read_app(r: _Reader) -> AppConfig | None:
    return _complete(
        AppConfig,
        r.integer("functionTimeoutSeconds", FUNCTION_TIMEOUT),
        r.integer("processorReservedConcurrency", RESERVED_CONCURRENCY),
        r.integer("apiReservedConcurrency", RESERVED_CONCURRENCY),
        r.integer("queueMaxReceiveCount", MAX_RECEIVE_COUNT),
        r.integer("maxClockSkewSeconds", CLOCK_SKEW_SECONDS),
        r.integer("cacheTtlSeconds", CACHE_TTL_SECONDS),
        r.integer("apiThrottleRateLimit", API_THROTTLE_RATE),
        r.integer("apiThrottleBurstLimit", API_THROTTLE_BURST),
        r.integer("negativeCacheTtlSeconds", NEGATIVE_CACHE_TTL_SECONDS),
        _check_feature_flags(r, r.string_list("featureFlags")),
        r.integer("appConfigMaxAgeSeconds", APP_CONFIG_MAX_AGE_SECONDS),
    )


def _check_feature_flags(r: _Reader, flags: list[str] | None) -> tuple[str, ...] | None:
    """The flags switched on: each a known flag, none twice."""
    if flags is None:
        return None
    allowed = "a list of distinct feature flags from: " + ", ".join(FEATURE_FLAGS)
    if any(flag not in FEATURE_FLAGS for flag in flags) or len(set(flags)) != len(flags):
        unknown = [flag for flag in flags if flag not in FEATURE_FLAGS]
        twice = sorted({flag for flag in flags if flags.count(flag) > 1})
        what = f"unknown {', '.join(unknown)}" if unknown else f"twice: {', '.join(twice)}"
        r.fail("featureFlags", flags, f"{allowed} ({what})")
        return None
    return tuple(flags)


def _read_failover(r: _Reader) -> FailoverConfig | None:
    return _complete(
        FailoverConfig,
        r.string("trafficControl", TRAFFIC_CONTROLS),
        r.integer("failoverDrainTimeoutSeconds", DRAIN_TIMEOUT_SECONDS),
        r.integer("rtoSeconds", RTO_SECONDS),
        r.integer("rpoSeconds", RPO_SECONDS),
    )


def _check_health_checks(r: _Reader) -> None:
    """Across sections: what the DNS TTL, the routing mode and the runbook's traffic control ask of health checks."""
    ttl, health_checks = r.parsed.get("dnsTtlSeconds"), r.parsed.get("healthChecksEnabled")
    if health_checks and ttl is not None and ttl > MAX_TTL_WITH_HEALTH_CHECKS:
        r.fail(
            "dnsTtlSeconds",
            ttl,
            f"at most {MAX_TTL_WITH_HEALTH_CHECKS} while healthChecksEnabled is true, so failover takes effect quickly",
        )
    if r.parsed.get("routingMode") == "failover" and health_checks is False:
        r.fail("healthChecksEnabled", False, "true when routingMode is failover: failover records need health checks")
    elif r.parsed.get("trafficControl") == "healthCheckGate" and health_checks is False:
        r.fail(
            "healthChecksEnabled",
            False,
            "true unless trafficControl is routingControl: the failover runbook's healthCheckGate gate is a calculated "
            "health check over the region's health check",
        )


def _check_unknown_keys(r: _Reader) -> None:
    for key in sorted(k for k, v in r.raw.items() if k not in KEYS and v is not None):
        r.fail(key, r.raw[key], "declared keys " + ", ".join(KEYS) + did_you_mean(key))


def load_from_pulumi() -> StackConfig:
    """Read every key the engine passed in for this project and stack (declared or not) and validate them."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env

    project = pulumi.get_project()
    return load_config(project_values({**get_config_env(), **CONFIG.get()}, project), pulumi.get_stack(), project)
