"""The typed stack config: valid stacks load, and every invalid value is refused before anything is registered."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import KNOWN_REGIONS, ConfigError, StackConfig
from planning.harness import execute, read_project, stack_config


def _load(stack: str, **overrides: Any) -> StackConfig:
    return stack_config(stack, overrides)


def test_prod_loads_with_production_settings() -> None:
    cfg = _load("prod")
    assert cfg.region_names == ("us-east-1", "eu-west-1")
    assert cfg.primary.name == "us-east-1"
    assert [r.role for r in cfg.regions] == ["primary", "secondary"]
    assert cfg.protect_stateful_resources is True
    assert cfg.regions[0].network.nat_gateways == "per-az"
    assert cfg.routing.mode == "failover" and cfg.routing.dns_ttl_seconds <= 60
    assert cfg.name_prefix == "multi-region-prod"


def test_dev_is_the_same_shape_smaller_and_unprotected() -> None:
    prod, dev = _load("prod"), _load("dev")
    assert dev.region_names == prod.region_names
    assert dev.protect_stateful_resources is False
    assert dev.regions[0].network.nat_gateways == "single"
    assert dev.eks.node_desired < prod.eks.node_desired
    assert dev.aurora.instances_per_region < prod.aurora.instances_per_region


def test_defaults_deploy_in_a_new_account() -> None:
    """What a stack gets without setting a key: a Valkey cache, an Aurora version AWS still offers for new global
    clusters, and no reserved Lambda concurrency (new accounts' quotas leave none to reserve); prod reserves on purpose."""
    cfg = _load("dev")
    assert (cfg.memorydb.engine, cfg.memorydb.engine_version) == ("valkey", "7.3")
    assert cfg.aurora.engine_version == "16.8"
    assert (cfg.app.processor_reserved_concurrency, cfg.app.api_reserved_concurrency) == (-1, -1)
    defaults = read_project().defaults
    assert int(defaults["processorReservedConcurrency"]) == int(defaults["apiReservedConcurrency"]) == -1
    prod = _load("prod").app
    assert (prod.processor_reserved_concurrency, prod.api_reserved_concurrency) == (20, 50)


def test_six_regions_are_accepted() -> None:
    regions = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1"]
    cidrs = [f"10.{i}.0.0/16" for i in range(1, 7)]
    cfg = _load("prod", regions=regions, vpcCidrs=cidrs)
    assert cfg.region_names == tuple(regions)


# key, overrides, fragments the message must contain (the key, the bad value, what is allowed)
INVALID: list[tuple[str, dict[str, Any], list[str]]] = [
    ("unknown region", {"regions": ["us-east-1", "eu-west-9"]}, ["regions: got 'eu-west-9'", "allowed: AWS regions us-east-1"]),
    ("duplicate region", {"regions": ["us-east-1", "us-east-1"]}, ["regions:", "each region once; repeated: us-east-1"]),
    (
        "one region",
        {"regions": ["us-east-1"], "vpcCidrs": ["10.10.0.0/16"]},
        ["regions: got ['us-east-1']", "from 2 to 6 regions"],
    ),
    (
        "seven regions",
        {
            "regions": ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3"],
            "vpcCidrs": [f"10.{i}.0.0/16" for i in range(7)],
        },
        ["regions:", "from 2 to 6 regions"],
    ),
    (
        "primary not in regions",
        {"primaryRegion": "us-west-2"},
        ["primaryRegion: got 'us-west-2'", "one of regions: us-east-1, eu-west-1"],
    ),
    ("regions not a list", {"regions": "us-east-1"}, ["regions: got 'us-east-1'", "a YAML list of strings"]),
    ("malformed CIDR", {"vpcCidrs": ["10.10.0.0/16", "10.20.0.300/16"]}, ["vpcCidrs: got '10.20.0.300/16'", "CIDR notation"]),
    ("host bits set", {"vpcCidrs": ["10.10.0.1/16", "10.20.0.0/16"]}, ["vpcCidrs: got '10.10.0.1/16'", "no host bits set"]),
    (
        "overlapping CIDRs",
        {"vpcCidrs": ["10.10.0.0/16", "10.10.128.0/17"]},
        ["vpcCidrs: got ['10.10.0.0/16', '10.10.128.0/17']", "non-overlapping"],
    ),
    ("public CIDR", {"vpcCidrs": ["10.10.0.0/16", "8.8.0.0/16"]}, ["vpcCidrs: got '8.8.0.0/16'", "a private range"]),
    ("VPC too large", {"vpcCidrs": ["10.0.0.0/8", "172.16.0.0/16"]}, ["vpcCidrs: got '10.0.0.0/8'", "from /16 to /24"]),
    ("one CIDR for two regions", {"vpcCidrs": ["10.10.0.0/16"]}, ["vpcCidrs: got ['10.10.0.0/16']", "one CIDR per region"]),
    ("subnets do not fit", {"privateSubnetPrefixLength": 17}, ["privateSubnetPrefixLength: got 17", "/18 or longer"]),
    ("subnet prefix absurd", {"publicSubnetPrefixLength": 40}, ["publicSubnetPrefixLength: got 40", "from 17 to 28"]),
    ("unknown NAT mode", {"natGateways": "two"}, ["natGateways: got 'two'", "one of single, per-az"]),
    ("negative retention", {"logRetentionDays": -1}, ["logRetentionDays: got -1", "one of 1, 3, 5, 7"]),
    ("retention not a number", {"logRetentionDays": "a week"}, ["logRetentionDays: got 'a week'", "a whole number"]),
    ("KMS window too short", {"kmsDeletionWindowDays": 3}, ["kmsDeletionWindowDays: got 3", "from 7 to 30"]),
    ("protection not a boolean", {"protectStatefulResources": "yes"}, ["protectStatefulResources: got 'yes'", "true or false"]),
    ("unknown routing mode", {"routingMode": "round-robin"}, ["routingMode: got 'round-robin'", "one of failover, latency"]),
    (
        "TTL over 60 with health checks",
        {"dnsTtlSeconds": 300},
        ["dnsTtlSeconds: got 300", "at most 60 while healthChecksEnabled"],
    ),
    (
        "failover without health checks",
        {"healthChecksEnabled": False},
        ["healthChecksEnabled: got False", "true when routingMode is failover"],
    ),
    (
        "health-check gates without health checks",
        {"routingMode": "latency", "healthChecksEnabled": False, "trafficControl": "healthCheckGate"},
        ["healthChecksEnabled: got False", "true unless trafficControl is routingControl"],
    ),
    ("EKS version out of support", {"eksVersion": "1.29"}, ["eksVersion: got '1.29'", "one of 1.34, 1.35, 1.36"]),
    (
        "node sizes out of order",
        {"eksNodeMinSize": 5, "eksNodeDesiredSize": 3},
        ["eksNodeDesiredSize:", "eksNodeMinSize <= eksNodeDesiredSize"],
    ),
    ("absurd node count", {"eksNodeMaxSize": 10000}, ["eksNodeMaxSize: got 10000", "from 1 to 100"]),
    (
        "EKS API open to the world",
        {"eksPublicAccessCidrs": ["0.0.0.0/0"]},
        ["eksPublicAccessCidrs: got '0.0.0.0/0'", "never the whole internet"],
    ),
    (
        "burstable Aurora class",
        {"auroraInstanceClass": "db.t4g.medium"},
        ["auroraInstanceClass: got 'db.t4g.medium'", "burstable"],
    ),
    ("backups too short", {"auroraBackupRetentionDays": 1}, ["auroraBackupRetentionDays: got 1", "from 7 to 35"]),
    (
        "a master secret never rotated",
        {"auroraMasterRotationDays": 0},
        ["auroraMasterRotationDays: got 0", "from 1 to 365"],
    ),
    (
        "a master password kept over a year",
        {"auroraMasterRotationDays": 400},
        ["auroraMasterRotationDays: got 400", "from 1 to 365"],
    ),
    ("no MemoryDB replica", {"memorydbReplicasPerShard": 0}, ["memorydbReplicasPerShard: got 0", "from 1 to 5"]),
    (
        "a Valkey version on Redis OSS",
        {"memorydbEngine": "redis", "memorydbEngineVersion": "7.2"},
        ["memorydbEngineVersion: got '7.2'", "a redis version: 7.0, 7.1", "set memorydbEngine to valkey"],
    ),
    (
        "a Redis OSS version without IAM authentication",
        {"memorydbEngine": "redis", "memorydbEngineVersion": "6.2"},
        ["memorydbEngineVersion: got '6.2'", "a redis version: 7.0, 7.1", "has no IAM authentication"],
    ),
    (
        "a zone to create without a domain",
        {"domainName": "", "createHostedZone": True},
        ["createHostedZone: got True", "false while domainName is empty"],
    ),
    ("domain with capitals", {"domainName": "App.Example.com"}, ["domainName: got 'App.Example.com'", "or empty for no domain"]),
    ("unknown MemoryDB engine", {"memorydbEngine": "memcached"}, ["memorydbEngine: got 'memcached'", "one of valkey, redis"]),
    ("undeclared key", {"regoins": ["us-east-1"]}, ["regoins: got", "declared keys regions, primaryRegion"]),
    ("WAF rate limit below WAF's minimum", {"wafRateLimit": 5}, ["wafRateLimit: got 5", "from 10 to 2000000000"]),
    (
        "API throttle over the account quota",
        {"apiThrottleRateLimit": 20000},
        ["apiThrottleRateLimit: got 20000", "from 1 to 10000"],
    ),
    ("API burst of zero", {"apiThrottleBurstLimit": 0}, ["apiThrottleBurstLimit: got 0", "from 1 to 5000"]),
    ("unknown cache topology", {"cacheTopology": "global"}, ["cacheTopology: got 'global'", "one of regional, multiRegion"]),
    (
        "multi-region cache in a region without MemoryDB Multi-Region",
        {"cacheTopology": "multiRegion", "memorydbNodeType": "db.r7g.xlarge", "regions": ["us-east-1", "ca-central-1"]},
        [
            "cacheTopology: got 'multiRegion'",
            "regional, or multiRegion with every region among",
            "eu-west-2",
            "ca-central-1 is not",
        ],
    ),
    (
        "multi-region cache on Valkey 7.2",
        {"cacheTopology": "multiRegion", "memorydbNodeType": "db.r7g.xlarge", "memorydbEngineVersion": "7.2"},
        ["cacheTopology: got 'multiRegion'", "memorydbEngine valkey at memorydbEngineVersion 7.3 (got valkey 7.2)"],
    ),
    (
        "multi-region cache on Redis OSS",
        {
            "cacheTopology": "multiRegion",
            "memorydbNodeType": "db.r7g.xlarge",
            "memorydbEngine": "redis",
            "memorydbEngineVersion": "7.1",
        },
        ["cacheTopology: got 'multiRegion'", "(got redis 7.1)"],
    ),
    (
        "multi-region cache on nodes smaller than xlarge",
        {"cacheTopology": "multiRegion"},
        ["cacheTopology: got 'multiRegion'", "memorydbNodeType db.r7g.xlarge or larger (got db.r7g.large)"],
    ),
    (
        "multi-region cache over six regions",
        {
            "cacheTopology": "multiRegion",
            "memorydbNodeType": "db.r7g.xlarge",
            "regions": ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "eu-west-2"],
            "vpcCidrs": [f"10.{n}.0.0/16" for n in (10, 20, 30, 40, 50, 60)],
        },
        ["cacheTopology: got 'multiRegion'", "at most 5 regions; regions has 6"],
    ),
]


@pytest.mark.parametrize(("overrides", "fragments"), [(o, f) for _, o, f in INVALID], ids=[case for case, _, _ in INVALID])
def test_invalid_config_is_refused_before_any_resource(overrides: dict[str, Any], fragments: list[str]) -> None:
    run = execute("prod", preview=False, overrides=overrides)
    assert run.error is not None, "the program accepted an invalid config"
    message = str(run.error)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "Traceback" not in message
    assert run.resources == [], f"registered before validation: {[r.name for r in run.resources]}"


def test_cache_topology_is_regional_by_default_and_multi_region_where_memorydb_offers_it() -> None:
    assert _load("prod").memorydb.topology == _load("dev").memorydb.topology == "regional"
    assert read_project().defaults["cacheTopology"] == "regional"
    multi = _load("prod", cacheTopology="multiRegion", memorydbNodeType="db.r7g.2xlarge").memorydb
    assert (multi.topology, multi.multi_region, multi.node_type) == ("multiRegion", True, "db.r7g.2xlarge")


def test_latency_routing_controls_may_gate_without_health_checks() -> None:
    cfg = _load("prod", routingMode="latency", healthChecksEnabled=False, dnsTtlSeconds=120, trafficControl="routingControl")
    assert (cfg.routing.health_checks_enabled, cfg.failover.traffic_control) == (False, "routingControl")


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        _load("prod", natGateways="two", routingMode="dns", kmsDeletionWindowDays=99)
    assert len(caught.value.problems) == 3
    assert {p.split(":")[0] for p in caught.value.problems} == {"natGateways", "routingMode", "kmsDeletionWindowDays"}


def test_missing_key_names_the_key() -> None:
    with pytest.raises(ConfigError, match="primaryRegion: missing"):
        _load("prod", primaryRegion=None)


def test_known_regions_have_three_availability_zones_in_every_listed_region() -> None:
    # The list is what the validation error offers; keep it free of typos and duplicates.
    assert len(set(KNOWN_REGIONS)) == len(KNOWN_REGIONS)
    assert all(r.count("-") == 2 and r[-1].isdigit() for r in KNOWN_REGIONS)
