"""``python -m ops preflight --stack NAME``: read-only checks of the AWS account before the first ``pulumi up``.

Each check prints one line, PASS or FAIL, with what it found; a FAIL adds the fix. A deploy that one of them would
stop (an engine version AWS no longer offers, a zone EKS refuses, a quota, a zone nobody delegates to, a bucket name
another account holds) stops here in seconds instead of after an hour of ``pulumi up``. Nothing is created or changed:
every call is a Describe, Get, List or Head.

exit status: 0 every check passed; 1 at least one failed; 2 bad flags or an invalid stack config
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from components.app import reserved_concurrency
from components.config import AZ_COUNT, StackConfig
from components.network_plan import REFUSED_ZONE_IDS, Zone, choose_zones
from components.packaging import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME
from components.powertools import POWERTOOLS_VERSION, powertools_layer_arn, powertools_ssm_parameter
from components.zone import zone_comment
from ops.context import Boto3Factory

AURORA_ENGINE = "aurora-postgresql"
CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=20)
# Lambda keeps this much of a region's concurrency unreserved: "You can reserve up to the Unreserved account concurrency
# value minus 100" (Lambda developer guide, configuration-concurrency); below it PutFunctionConcurrency fails with
# "decreases account's UnreservedConcurrentExecution below its minimum value".
UNRESERVED_MINIMUM = 100
# Service Quotas codes (service "vpc"); the Elastic IP quota is EC2's account attribute vpc-max-elastic-ips.
VPC_QUOTA = ("vpc", "L-F678F1CE", "VPCs per Region")
NAT_QUOTA = ("vpc", "L-FE5A380F", "NAT gateways per Availability Zone")
# Region opt-in statuses (Account API GetRegionOptStatus) under which a region can be used.
ENABLED_REGION_STATUSES = ("ENABLED", "ENABLED_BY_DEFAULT")
EKS_SUPPORTED_STATUSES = ("STANDARD_SUPPORT", "EXTENDED_SUPPORT")
# MemoryDB has no API listing the node types a region offers; its reserved-node offerings list them for these families
# only ("MemoryDB offers reserved nodes for the memory optimized R7g, R6g, and R6gd nodes", MemoryDB developer guide,
# reserved nodes). Other families (db.t4g) are reported as not checkable rather than failed.
MEMORYDB_OFFERED_FAMILIES = ("r6g", "r7g", "r6gd")
# The IAM action of an operation where its name differs ("GetLayerVersion ... also supports GetLayerVersionByArn API",
# the service authorization reference for Lambda).
IAM_ACTIONS = {"GetLayerVersionByArn": "lambda:GetLayerVersion"}
# How the Powertools layer names its package release: "Powertools for AWS Lambda (Python) V3 [arm64 - Python 3.13] with
# extra dependencies version 3.23.0" (layer_v3/layer_constructors/layer_stack.py of powertools-lambda-python at
# 083ed6262b494825707ae5b228a8b8b0d41ab1f8).
LAYER_DESCRIBED_VERSION = re.compile(r"\bversion (\d+\.\d+\.\d+)\b")

ClientFactory = Callable[[str, str], Any]
NameServerLookup = Callable[[str], set[str]]
# A region's available zones (DescribeAvailabilityZones), asked once per run for the checks that need them.
OfferedZones = Callable[[], list[dict[str, Any]]]


@dataclass(frozen=True)
class Check:
    """One check's verdict: ``name`` says what was checked, ``detail`` what was found, ``fix`` what to do on FAIL."""

    name: str
    passed: bool
    detail: str
    fix: str = ""

    def lines(self) -> list[str]:
        head = f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"
        return [head] if self.passed or not self.fix else [head, f"      fix: {self.fix}"]


class AwsClients(Boto3Factory):
    """boto3 clients for the checks (:data:`CLIENT_CONFIG`: 5 s to connect, 20 s to read, two retries); ``endpoint_url``
    points them at a local server and ``session`` shares loaded service models between instances (tests)."""

    def __init__(self, endpoint_url: str | None = None, session: Any = None) -> None:
        super().__init__(CLIENT_CONFIG, endpoint_url=endpoint_url, session=session)


def public_name_servers(domain: str) -> set[str]:
    """The name servers public DNS answers for ``domain`` (empty when it answers none: not delegated)."""
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(domain, "NS", lifetime=10)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers, dns.exception.Timeout):
        return set()
    return {_host(str(record.target)) for record in answer}


def run_checks(config: StackConfig, clients: ClientFactory, name_servers: NameServerLookup) -> list[Check]:
    """Every check, in the order a deploy would meet the problem. Stops after the credentials when they fail."""
    account: dict[str, str] = {}
    identity = _guard("credentials", partial(_credentials, clients, config.regions[0].name, account))
    if not identity.passed:
        return [identity]
    account_id = account["id"]
    checks = [identity, _guard("regions enabled", partial(_regions_enabled, clients, config))]
    for region in config.region_names:
        offered = cache(partial(_offered_zones, clients, region))
        checks += [_guard(f"{name} {region}", partial(check, clients, config, region, offered)) for name, check in REGION_CHECKS]
    checks.append(_guard("hosted zone", partial(_hosted_zone, clients, config, name_servers)))
    checks.append(_guard("bucket names", partial(_bucket_names, clients, config, account_id)))
    return checks


def _guard(name: str, check: Callable[[], tuple[bool, str, str]]) -> Check:
    """Run one check; an AWS error is its FAIL (with the permission or the cause), never a crash of the whole run."""
    try:
        passed, detail, fix = check()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", str(error))
        operation = error.operation_name
        return Check(name, False, f"{operation} failed: {code}: {message}", _client_error_fix(code, operation))
    except NoCredentialsError as error:
        return Check(name, False, str(error), "configure AWS credentials (aws configure, AWS_PROFILE or SSO) and retry")
    except ProfileNotFound as error:
        return Check(name, False, str(error), "set AWS_PROFILE to a profile of ~/.aws/config (aws configure list-profiles)")
    except BotoCoreError as error:
        return Check(name, False, str(error), "check that this machine reaches AWS (proxy, VPN) and retry")
    return Check(name, passed, detail, fix)


def _client_error_fix(code: str, operation: str) -> str:
    if code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"):
        return "refresh the credentials (aws sso login, or new access keys) and retry"
    if "AccessDenied" in code or code == "UnauthorizedOperation":
        return f"allow {IAM_ACTIONS.get(operation, operation)} to the identity running preflight (it only reads)"
    return "retry; if it persists, the message above names the cause"


# ---- the checks: each returns (passed, what was found, the fix) ------------------------------------------------------


def _credentials(clients: ClientFactory, region: str, account: dict[str, str]) -> tuple[bool, str, str]:
    identity = clients("sts", region).get_caller_identity()
    account["id"] = identity["Account"]
    return True, f"account {identity['Account']} as {identity['Arn']}", ""


def _regions_enabled(clients: ClientFactory, config: StackConfig) -> tuple[bool, str, str]:
    account = clients("account", config.regions[0].name)
    statuses = {name: account.get_region_opt_status(RegionName=name)["RegionOptStatus"] for name in config.region_names}
    disabled = [f"{name} ({status})" for name, status in statuses.items() if status not in ENABLED_REGION_STATUSES]
    if disabled:
        return (
            False,
            f"not enabled for this account: {', '.join(disabled)}",
            "enable them (aws account enable-region --region-name NAME; it can take minutes) or change `regions`",
        )
    return True, ", ".join(f"{name} ({status})" for name, status in statuses.items()), ""


def _offered_zones(clients: ClientFactory, region: str) -> list[dict[str, Any]]:
    """The region's available zones, as the program's getAvailabilityZones(state=available) sees them."""
    zones: list[dict[str, Any]] = clients("ec2", region).describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}, {"Name": "zone-type", "Values": ["availability-zone"]}]
    )["AvailabilityZones"]
    return zones


def _zones(clients: ClientFactory, config: StackConfig, region: str, offered: OfferedZones) -> tuple[bool, str, str]:
    answer = offered()
    try:
        chosen = chosen_zones(answer)
    except ValueError as error:
        return False, str(error), "choose a region with three usable availability zones (`regions`)"
    skipped = sorted({z["ZoneId"] for z in answer} & set(REFUSED_ZONE_IDS))
    note = f" (skips {', '.join(f'{z}: {REFUSED_ZONE_IDS[z]}' for z in skipped)})" if skipped else ""
    return True, ", ".join(f"{z.zone_id} = {z.name}" for z in chosen) + note, ""


def chosen_zones(answer: list[dict[str, Any]]) -> list[Zone]:
    """The zones the network will use, from DescribeAvailabilityZones (the program's own choice, by zone ID)."""
    return choose_zones([z["ZoneName"] for z in answer], [z["ZoneId"] for z in answer], AZ_COUNT)


def _aurora_version(clients: ClientFactory, config: StackConfig, region: str, offered: OfferedZones) -> tuple[bool, str, str]:
    wanted = config.aurora.engine_version
    versions = list(_engine_versions(clients("rds", region)))
    found = [v for v in versions if v["EngineVersion"] == wanted]
    global_capable = [v["EngineVersion"] for v in versions if v.get("SupportsGlobalDatabases")]
    fix = f"set auroraEngineVersion to one of {', '.join(global_capable[-5:]) or '(none offered)'}"
    if not found:
        return False, f"{AURORA_ENGINE} {wanted} is not offered in {region}", fix
    if not found[0].get("SupportsGlobalDatabases"):
        return False, f"{AURORA_ENGINE} {wanted} does not support global databases in {region}", fix
    return True, f"{AURORA_ENGINE} {wanted} supports global databases", ""


def _engine_versions(rds: Any) -> Iterator[dict[str, Any]]:
    marker: str | None = None
    while True:
        page = rds.describe_db_engine_versions(Engine=AURORA_ENGINE, **({"Marker": marker} if marker else {}))
        yield from page["DBEngineVersions"]
        marker = page.get("Marker")
        if not marker:
            return


def _aurora_class(clients: ClientFactory, config: StackConfig, region: str, offered: OfferedZones) -> tuple[bool, str, str]:
    aurora = config.aurora
    options = clients("rds", region).describe_orderable_db_instance_options(
        Engine=AURORA_ENGINE, EngineVersion=aurora.engine_version, DBInstanceClass=aurora.instance_class
    )["OrderableDBInstanceOptions"]
    if not options:
        return (
            False,
            f"{aurora.instance_class} is not orderable for {AURORA_ENGINE} {aurora.engine_version} in {region}",
            "set auroraInstanceClass to a class offered there (aws rds describe-orderable-db-instance-options)",
        )
    if not any(o.get("SupportsGlobalDatabases", True) for o in options):
        return (
            False,
            f"{aurora.instance_class} does not support global databases in {region}",
            "set auroraInstanceClass to a db.r* class",
        )
    return True, f"{aurora.instance_class} orderable with {AURORA_ENGINE} {aurora.engine_version}", ""


def _memorydb(clients: ClientFactory, config: StackConfig, region: str, offered: OfferedZones) -> tuple[bool, str, str]:
    memorydb = config.memorydb
    client = clients("memorydb", region)
    versions = client.describe_engine_versions(Engine=memorydb.engine, EngineVersion=memorydb.engine_version)["EngineVersions"]
    if not versions:
        return (
            False,
            f"{memorydb.engine} {memorydb.engine_version} is not offered in {region}",
            "set memorydbEngine and memorydbEngineVersion to an engine version offered there "
            f"(aws memorydb describe-engine-versions --engine {memorydb.engine} --region {region})",
        )
    found = f"{memorydb.engine} {memorydb.engine_version} on {memorydb.node_type}"
    if memorydb.node_type.split(".")[1] not in MEMORYDB_OFFERED_FAMILIES:
        return True, f"{found} (the node type is not listed by any MemoryDB API: not checked)", ""
    offerings = client.describe_reserved_nodes_offerings(NodeType=memorydb.node_type)["ReservedNodesOfferings"]
    if not offerings:
        return (
            False,
            f"node type {memorydb.node_type} is not offered in {region}",
            "set memorydbNodeType to a node type offered there (aws memorydb describe-reserved-nodes-offerings)",
        )
    return True, found, ""


def _eks_version(clients: ClientFactory, config: StackConfig, region: str, offered: OfferedZones) -> tuple[bool, str, str]:
    wanted = config.eks.version
    answer = clients("eks", region).describe_cluster_versions(clusterVersions=[wanted], includeAll=True)["clusterVersions"]
    status = next((v.get("versionStatus", v.get("status", "")) for v in answer if v.get("clusterVersion") == wanted), None)
    if status not in EKS_SUPPORTED_STATUSES:
        return (
            False,
            f"Kubernetes {wanted} is {'not offered' if status is None else status} in {region}",
            "set eksVersion to a version in standard support (aws eks describe-cluster-versions)",
        )
    return True, f"Kubernetes {wanted} ({status})", ""


def reservations(config: StackConfig) -> int:
    """Concurrency the stack reserves in each region: the processor and the stream handler share
    processorReservedConcurrency each, the API apiReservedConcurrency; -1 reserves nothing."""
    return sum(max(value, 0) for value in reserved_concurrency(config.app).values())


def _lambda_concurrency(clients: ClientFactory, config: StackConfig, region: str, offered: OfferedZones) -> tuple[bool, str, str]:
    limit = clients("lambda", region).get_account_settings()["AccountLimit"]
    unreserved = int(limit["UnreservedConcurrentExecutions"])
    reserved = reservations(config)
    found = f"{unreserved} unreserved of {limit['ConcurrentExecutions']}; the stack reserves {reserved}"
    if reserved and unreserved - reserved < UNRESERVED_MINIMUM:
        return (
            False,
            f"{found}, leaving {unreserved - reserved} (Lambda keeps at least {UNRESERVED_MINIMUM} unreserved)",
            "set processorReservedConcurrency and apiReservedConcurrency to -1, or ask for a higher Lambda concurrent "
            f"executions quota in {region} (Service Quotas, L-B99A9384)",
        )
    return True, found, ""


def _network_quotas(clients: ClientFactory, config: StackConfig, region: str, offered: OfferedZones) -> tuple[bool, str, str]:
    ec2 = clients("ec2", region)
    quotas = clients("service-quotas", region)
    network = next(r.network for r in config.regions if r.name == region)
    nat_count = AZ_COUNT if network.nat_gateways == "per-az" else 1
    try:
        nat_zones = [zone.zone_id for zone in chosen_zones(offered())[:nat_count]]
    except ValueError:
        nat_zones = []  # the zones check reports it

    def quota(spec: tuple[str, str, str]) -> int:
        return int(quotas.get_service_quota(ServiceCode=spec[0], QuotaCode=spec[1])["Quota"]["Value"])

    vpcs = len(ec2.describe_vpcs()["Vpcs"])
    addresses = len(ec2.describe_addresses()["Addresses"])
    attributes = ec2.describe_account_attributes(AttributeNames=["vpc-max-elastic-ips"])["AccountAttributes"]
    eip_quota = int(attributes[0]["AttributeValues"][0]["AttributeValue"])
    gateways = ec2.describe_nat_gateways(Filters=[{"Name": "state", "Values": ["pending", "available"]}])["NatGateways"]
    subnet_ids = sorted({g["SubnetId"] for g in gateways})
    subnets = ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"] if subnet_ids else []
    zone_of = {s["SubnetId"]: s["AvailabilityZoneId"] for s in subnets}
    # The fullest of the zones the stack puts a NAT gateway in.
    per_zone = max([sum(1 for g in gateways if zone_of.get(g["SubnetId"]) == z) for z in nat_zones] or [0])
    needs = [
        (VPC_QUOTA[2], vpcs, 1, quota(VPC_QUOTA)),
        ("Elastic IP addresses", addresses, nat_count, eip_quota),
        (NAT_QUOTA[2], per_zone, 1, quota(NAT_QUOTA)),
    ]
    short = [f"{name}: {used} used + {more} new > {limit}" for name, used, more, limit in needs if used + more > limit]
    if short:
        return (
            False,
            "; ".join(short),
            f"release unused ones in {region} or ask for a higher quota (Service Quotas console, {region})",
        )
    return True, "; ".join(f"{name} {used}+{more} of {limit}" for name, used, more, limit in needs), ""


def _powertools_layer(clients: ClientFactory, config: StackConfig, region: str, offered: OfferedZones) -> tuple[bool, str, str]:
    """The pinned public layer exists in ``region`` and is the pinned release: its description names the package
    version, and Powertools' public SSM parameter for that version (when there is one) holds the same ARN."""
    arn, parameter = powertools_layer_arn(region), powertools_ssm_parameter()
    fix = (
        f"in components/powertools.py set POWERTOOLS_LAYER_VERSION to the layer version of Powertools {POWERTOOLS_VERSION} "
        f"(aws ssm get-parameter --name {parameter} --region {region}), or move POWERTOOLS_VERSION and the "
        "requirements-dev.txt pin to the release that layer version carries (README, Powertools)"
    )
    try:
        layer = clients("lambda", region).get_layer_version_by_arn(Arn=arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        return False, f"{arn} does not exist", fix
    problems = []
    described = LAYER_DESCRIBED_VERSION.search(layer.get("Description", ""))
    if described and described[1] != POWERTOOLS_VERSION:
        problems.append(f"it is Powertools {described[1]} (its description), the pin is {POWERTOOLS_VERSION}")
    for field, pinned in (("CompatibleRuntimes", LAMBDA_RUNTIME), ("CompatibleArchitectures", LAMBDA_ARCHITECTURE)):
        if layer.get(field) and pinned not in layer[field]:
            problems.append(f"its {field} are {', '.join(layer[field])}, not {pinned}")
    try:
        published: str | None = clients("ssm", region).get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
        published = None
    if published is not None and published != arn:
        problems.append(f"Powertools' parameter {parameter} names {published}")
    if problems:
        return False, f"{arn}: " + "; ".join(problems), fix
    found = [f"Powertools {described[1]} (its description)" if described else "its description names no version"]
    found += [f"the ARN {parameter} names"] if published else [f"{parameter} does not exist: not compared"]
    return True, f"{arn}: " + "; ".join(found), ""


RegionCheck = Callable[[ClientFactory, StackConfig, str, OfferedZones], tuple[bool, str, str]]
# The checks made in every region, in the order a deploy meets what they catch: (name, check).
REGION_CHECKS: tuple[tuple[str, RegionCheck], ...] = (
    ("availability zones", _zones),
    ("aurora version", _aurora_version),
    ("aurora instance class", _aurora_class),
    ("memorydb", _memorydb),
    ("eks version", _eks_version),
    ("lambda concurrency", _lambda_concurrency),
    ("powertools layer", _powertools_layer),
    ("network quotas", _network_quotas),
)


def _hosted_zone(clients: ClientFactory, config: StackConfig, name_servers: NameServerLookup) -> tuple[bool, str, str]:
    domain = config.edge.domain_name
    if not domain:
        return True, "no domainName: the stack answers on the API's and CloudFront's own endpoints", ""
    route53 = clients("route53", config.regions[0].name)
    zones = route53.list_hosted_zones_by_name(DNSName=domain)["HostedZones"]
    zone = next((z for z in zones if z["Name"].rstrip(".") == domain and not z.get("Config", {}).get("PrivateZone")), None)
    if zone is None:
        if config.edge.create_hosted_zone:
            return (
                True,
                f"{domain} will be created; delegate it to the name servers in the stack output hostedZoneNameServers "
                "as soon as `pulumi up` creates it (ACM validation waits for it at most 75 minutes)",
                "",
            )
        return (
            False,
            f"no public hosted zone named {domain} in this account",
            f"create it, or set createHostedZone to true, or remove domainName (pulumi config rm {config.project}:domainName)",
        )
    ours = zone.get("Config", {}).get("Comment") == zone_comment(domain, config.name_prefix)
    if config.edge.create_hosted_zone and not ours:
        return (
            False,
            f"a public hosted zone named {domain} already exists ({zone['Id']}), and createHostedZone would make a second "
            "one with other name servers, which nothing delegates to",
            f"use the existing zone: pulumi config set {config.project}:createHostedZone false",
        )
    assigned = {_host(ns) for ns in route53.get_hosted_zone(Id=zone["Id"])["DelegationSet"]["NameServers"]}
    answered = name_servers(domain)
    if answered != assigned:
        found = ", ".join(sorted(answered)) or "no NS records"
        return (
            False,
            f"{domain} is not delegated to its zone: public DNS answers {found}; the zone's name servers are "
            f"{', '.join(sorted(assigned))}",
            f"in the parent zone of {domain}, set an NS record for {domain} with those four name servers",
        )
    return True, f"{domain} delegated to {', '.join(sorted(assigned))}", ""


def bucket_names(config: StackConfig, account_id: str) -> list[tuple[str, str]]:
    """(region, name) of every bucket the stack names: globally unique, so another account may hold one."""
    from components.storage import bucket_name

    return [
        (region, bucket_name(config.project, config.stack, region, account_id, suffix))
        for region in config.region_names
        for suffix in ("", "logs")
    ]


def _bucket_names(clients: ClientFactory, config: StackConfig, account_id: str) -> tuple[bool, str, str]:
    names = bucket_names(config, account_id)
    taken, ours = [], []
    for region, name in names:
        try:
            clients("s3", region).head_bucket(Bucket=name)
            ours.append(name)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("403", "AccessDenied", "Forbidden"):
                taken.append(name)
            elif code not in ("404", "NoSuchBucket", "NotFound"):
                raise
    if taken:
        return (
            False,
            f"held by another account: {', '.join(taken)}",
            "use another stack name (the names are <project>-<stack>-<region>-<account>[-logs])",
        )
    note = f"; already this account's: {', '.join(ours)} (an earlier deploy of this stack)" if ours else ""
    return True, f"{len(names) - len(ours)} free{note}", ""


def _host(name: str) -> str:
    return name.rstrip(".").lower()


# ---- the command ----------------------------------------------------------------------------------------------------


def add_parser(commands: Any) -> None:
    from ops.stack import add_stack_argument

    parser = commands.add_parser(
        "preflight",
        help="read-only checks of the AWS account before the first `pulumi up`: PASS/FAIL per check, with the fix",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
        epilog=__doc__.split("\n\n")[2] if __doc__ else None,
    )
    add_stack_argument(parser)


def run(args: argparse.Namespace, clients: ClientFactory | None = None, name_servers: NameServerLookup | None = None) -> int:
    """``python -m ops preflight``; ``clients`` and ``name_servers`` are for tests (the moto server, a fixed answer)."""
    from planning.harness import stack_config

    try:
        config = stack_config(args.stack)
    except (FileNotFoundError, ValueError) as error:  # ConfigError and StackFileError are ValueErrors
        print(f"error: --stack {args.stack}: {error}", file=sys.stderr)
        return 2
    checks = run_checks(config, clients or AwsClients(), name_servers or public_name_servers)
    for check in checks:
        print("\n".join(check.lines()))
    failed = sum(1 for c in checks if not c.passed)
    print(f"preflight {args.stack}: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0
