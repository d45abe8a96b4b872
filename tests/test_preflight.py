"""``ops preflight`` against the moto server, with botocore's Stubber for the calls moto lacks (Aurora engine versions,
MemoryDB engine versions and node offerings, EKS versions, Lambda account settings, region opt-in): a healthy account
passes every check, and each check fails on the account problem it exists for."""

from __future__ import annotations

import argparse
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from components.app import reserved_concurrency
from components.config import StackConfig
from components.powertools import powertools_layer_arn, powertools_ssm_parameter
from components.zone import zone_comment
from ops import preflight
from ops.preflight import AwsClients, Check, run_checks
from planning.harness import stack_config

ACCOUNT = "123456789012"  # the moto server's account
SESSION = boto3.session.Session()  # its loaded service models are shared by every test's clients

# What moto does not answer, as a healthy account answers it: (operation, service) -> response, per region.
HEALTHY: dict[tuple[str, str], Any] = {
    ("rds", "describe_db_engine_versions"): {
        "DBEngineVersions": [
            {"Engine": "aurora-postgresql", "EngineVersion": "16.6", "SupportsGlobalDatabases": False},
            {"Engine": "aurora-postgresql", "EngineVersion": "16.8", "SupportsGlobalDatabases": True},
            {"Engine": "aurora-postgresql", "EngineVersion": "16.9", "SupportsGlobalDatabases": True},
        ]
    },
    ("rds", "describe_orderable_db_instance_options"): {
        "OrderableDBInstanceOptions": [{"Engine": "aurora-postgresql", "SupportsGlobalDatabases": True}]
    },
    ("memorydb", "describe_engine_versions"): {"EngineVersions": [{"Engine": "valkey", "EngineVersion": "7.3"}]},
    ("memorydb", "describe_reserved_nodes_offerings"): {"ReservedNodesOfferings": [{"ReservedNodesOfferingId": "o-1"}]},
    ("eks", "describe_cluster_versions"): {"clusterVersions": [{"clusterVersion": "1.35", "versionStatus": "STANDARD_SUPPORT"}]},
    ("lambda", "get_account_settings"): {"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000}},
    ("lambda", "get_layer_version_by_arn"): lambda region: powertools_layer(powertools_layer_arn(region)),
    ("ssm", "get_parameter"): lambda region: powertools_parameter(powertools_layer_arn(region)),
}


OFFERINGS = ("memorydb", "describe_reserved_nodes_offerings")


def powertools_layer(arn: str, release: str = "3.23.0") -> dict[str, Any]:
    """GetLayerVersionByArn's answer for the Powertools public layer ``arn`` made of ``release`` (as its publishing
    stack describes it: layer_v3/layer_constructors/layer_stack.py of powertools-lambda-python)."""
    return {
        "LayerVersionArn": arn,
        "Version": int(arn.rsplit(":", 1)[1]),
        "Description": f"Powertools for AWS Lambda (Python) V3 [arm64 - Python 3.13] with extra dependencies version {release}",
        "CompatibleRuntimes": ["python3.13"],
        "CompatibleArchitectures": ["arm64"],
        "LicenseInfo": "MIT-0",
    }


def powertools_parameter(value: str) -> dict[str, Any]:
    """GetParameter's answer for Powertools' public parameter of the pinned release, holding ``value``."""
    return {"Parameter": {"Name": powertools_ssm_parameter(), "Type": "String", "Value": value, "Version": 1}}


def listed(node_type: str) -> bool:
    return node_type.split(".")[1] in preflight.MEMORYDB_OFFERED_FAMILIES


class Account:
    """boto3 clients on the moto server; ``answer`` stubs what moto lacks (healthy unless ``changes`` says otherwise)."""

    def __init__(self, endpoint: str) -> None:
        self.clients = AwsClients(endpoint_url=endpoint, session=SESSION)
        self.stubs: dict[tuple[str, str], Stubber] = {}
        self.endpoint = endpoint

    def stub(self, service: str, region: str) -> Stubber:
        if (service, region) not in self.stubs:
            self.stubs[(service, region)] = Stubber(self.clients(service, region))
            self.stubs[(service, region)].activate()
        return self.stubs[(service, region)]

    def answer(self, config: StackConfig, changes: dict[tuple[str, str, str], Any] | None = None) -> None:
        changes = changes or {}
        home = config.regions[0].name
        for region in config.region_names:
            status = changes.get(("account", "get_region_opt_status", region), "ENABLED_BY_DEFAULT")
            self.stub("account", home).add_response(
                "get_region_opt_status", {"RegionName": region, "RegionOptStatus": status}, {"RegionName": region}
            )
        for region in config.region_names:
            for (service, operation), healthy in HEALTHY.items():
                if (service, operation) == OFFERINGS and not listed(config.memorydb.node_type):
                    continue  # not asked: MemoryDB lists no offering for the family
                answer = changes.get((service, operation, region), healthy)
                if callable(answer):  # an answer that names the region (an ARN)
                    answer = answer(region)
                if isinstance(answer, str):
                    self.stub(service, region).add_client_error(operation, answer, f"{answer} (stubbed)")
                else:
                    self.stub(service, region).add_response(operation, answer)

    def client(self, service: str, region: str) -> Any:
        return SESSION.client(service, region_name=region, endpoint_url=self.endpoint)  # type: ignore[call-overload]


def published(zone_servers: dict[str, set[str]]) -> preflight.NameServerLookup:
    """Public DNS as a table: the name servers each domain is delegated to (none for an unknown name)."""
    return lambda domain: zone_servers.get(domain, set())


def verdicts(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def failed(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks if not check.passed}


@pytest.fixture
def account(aws_endpoint: str) -> Account:
    return Account(aws_endpoint)


DEV = stack_config("dev")


def test_a_healthy_account_passes_every_check(account: Account) -> None:
    account.answer(DEV)
    checks = run_checks(DEV, account.clients, published({}))
    assert [c.name for c in checks] == [
        "credentials",
        "regions enabled",
        *(
            f"{check} {region}"
            for region in DEV.region_names
            for check in (
                "availability zones",
                "aurora version",
                "aurora instance class",
                "memorydb",
                "eks version",
                "lambda concurrency",
                "powertools layer",
                "network quotas",
            )
        ),
        "hosted zone",
        "bucket names",
    ]
    assert failed(checks) == {}, [line for c in checks for line in c.lines()]
    for stub in account.stubs.values():
        stub.assert_no_pending_responses()
    found = verdicts(checks)
    assert found["credentials"].detail.startswith(f"account {ACCOUNT} as arn:aws:")
    # moto's us-east-1 has use1-az3 behind us-east-1e: the zones are chosen by ID and it is skipped.
    assert found["availability zones us-east-1"].detail == (
        "use1-az1 = us-east-1b, use1-az2 = us-east-1c, use1-az4 = us-east-1d (skips use1-az3: EKS "
        "(UnsupportedAvailabilityZoneException))"
    )
    assert "the stack reserves 0" in found["lambda concurrency us-east-1"].detail
    # Dev's db.t4g.small has no reserved-node offering to look it up by, and the line says so.
    assert found["memorydb us-east-1"].detail.endswith("(the node type is not listed by any MemoryDB API: not checked)")


def test_the_command_prints_pass_lines_and_exits_zero(account: Account, capsys: pytest.CaptureFixture[str]) -> None:
    account.answer(DEV)
    code = preflight.run(argparse.Namespace(stack="dev"), account.clients, published({}))
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert all(line.startswith("PASS  ") for line in out[:-1])
    assert out[-1] == f"preflight dev: {len(out) - 1} passed, 0 failed"


def test_expired_credentials_stop_at_the_first_check_with_the_fix(account: Account, capsys: pytest.CaptureFixture[str]) -> None:
    account.stub("sts", "us-east-1").add_client_error("get_caller_identity", "ExpiredToken", "The security token expired")
    code = preflight.run(argparse.Namespace(stack="dev"), account.clients, published({}))
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out == [
        "FAIL  credentials: GetCallerIdentity failed: ExpiredToken: The security token expired",
        "      fix: refresh the credentials (aws sso login, or new access keys) and retry",
        "preflight dev: 0 passed, 1 failed",
    ]


@pytest.mark.parametrize(
    ("profile", "found", "fix"),
    [
        (None, "Unable to locate credentials", "configure AWS credentials (aws configure, AWS_PROFILE or SSO) and retry"),
        (
            "no-such-profile",
            "The config profile (no-such-profile) could not be found",
            "set AWS_PROFILE to a profile of ~/.aws/config (aws configure list-profiles)",
        ),
    ],
    ids=["no credentials at all", "a profile that does not exist"],
)
def test_missing_credentials_fail_the_first_check_with_how_to_set_them(
    aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, profile: str | None, found: str, fix: str
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    if profile:
        monkeypatch.setenv("AWS_PROFILE", profile)
    # No file, and no instance metadata lookup (which would leave this machine).
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    checks = run_checks(DEV, AwsClients(endpoint_url=aws_endpoint), published({}))
    assert [c.lines() for c in checks] == [[f"FAIL  credentials: {found}", f"      fix: {fix}"]]


def test_an_invalid_stack_is_exit_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert preflight.run(argparse.Namespace(stack="nope")) == 2
    assert "no stack file Pulumi.nope.yaml" in capsys.readouterr().err


def test_a_region_not_enabled_fails(account: Account) -> None:
    account.answer(DEV, {("account", "get_region_opt_status", "eu-west-1"): "DISABLED"})
    problem = failed(run_checks(DEV, account.clients, published({})))
    assert list(problem) == ["regions enabled"]
    assert problem["regions enabled"].detail == "not enabled for this account: eu-west-1 (DISABLED)"
    assert "aws account enable-region" in problem["regions enabled"].fix


def test_a_region_without_three_usable_zones_fails(account: Account) -> None:
    config = stack_config("dev", {"regions": ["us-east-1", "us-west-1"]})  # moto's us-west-1 has two zones
    account.answer(config)
    problem = failed(run_checks(config, account.clients, published({})))
    assert list(problem) == ["availability zones us-west-1"]
    assert "the region offers 2 usable AZs" in problem["availability zones us-west-1"].detail


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ({"DBEngineVersions": [{"EngineVersion": "16.9", "SupportsGlobalDatabases": True}]}, "16.8 is not offered in eu-west-1"),
        (
            {"DBEngineVersions": [{"EngineVersion": "16.8", "SupportsGlobalDatabases": False}]},
            "16.8 does not support global databases in eu-west-1",
        ),
    ],
)
def test_an_aurora_version_without_global_databases_fails(account: Account, answer: dict[str, Any], detail: str) -> None:
    account.answer(DEV, {("rds", "describe_db_engine_versions", "eu-west-1"): answer})
    problem = failed(run_checks(DEV, account.clients, published({})))
    assert list(problem) == ["aurora version eu-west-1"]
    assert problem["aurora version eu-west-1"].detail.endswith(detail)
    assert problem["aurora version eu-west-1"].fix.startswith("set auroraEngineVersion to one of")


def test_an_instance_class_not_orderable_fails(account: Account) -> None:
    account.answer(DEV, {("rds", "describe_orderable_db_instance_options", "us-east-1"): {"OrderableDBInstanceOptions": []}})
    problem = failed(run_checks(DEV, account.clients, published({})))
    assert list(problem) == ["aurora instance class us-east-1"]
    assert problem["aurora instance class us-east-1"].detail == (
        "db.r6g.large is not orderable for aurora-postgresql 16.8 in us-east-1"
    )


@pytest.mark.parametrize(
    ("operation", "answer", "detail"),
    [
        ("describe_engine_versions", {"EngineVersions": []}, "valkey 7.3 is not offered in us-east-1"),
        ("describe_reserved_nodes_offerings", {"ReservedNodesOfferings": []}, "node type db.r7g.large is not offered"),
    ],
)
def test_a_memorydb_engine_or_node_type_not_offered_fails(account: Account, operation: str, answer: Any, detail: str) -> None:
    config = stack_config("dev", {"memorydbNodeType": "db.r7g.large"})
    account.answer(config, {("memorydb", operation, "us-east-1"): answer})
    problem = failed(run_checks(config, account.clients, published({})))
    assert list(problem) == ["memorydb us-east-1"]
    assert problem["memorydb us-east-1"].detail.startswith(detail)


def test_an_unsupported_eks_version_fails(account: Account) -> None:
    unsupported = {"clusterVersions": [{"clusterVersion": "1.35", "versionStatus": "UNSUPPORTED"}]}
    account.answer(DEV, {("eks", "describe_cluster_versions", "eu-west-1"): unsupported})
    problem = failed(run_checks(DEV, account.clients, published({})))
    assert list(problem) == ["eks version eu-west-1"]
    assert problem["eks version eu-west-1"].detail == "Kubernetes 1.35 is UNSUPPORTED in eu-west-1"


def test_reservations_a_low_concurrency_quota_cannot_hold_fail(account: Account) -> None:
    """Prod reserves 20 + 20 + 50 per region (and what a further entry of the table reserves); a new account's quota
    of 50 cannot keep 100 unreserved beside them."""
    config = stack_config("prod", {"domainName": ""})
    further = {f: n for f, n in reserved_concurrency(config.app).items() if f not in ("processor", "stream", "api")}
    reserved = 20 + 20 + 50 + sum(max(n, 0) for n in further.values())
    low = {"AccountLimit": {"ConcurrentExecutions": 50, "UnreservedConcurrentExecutions": 50}}
    account.answer(config, {("lambda", "get_account_settings", region): low for region in config.region_names})
    problem = failed(run_checks(config, account.clients, published({})))
    assert list(problem) == [f"lambda concurrency {region}" for region in config.region_names]
    check = problem["lambda concurrency us-east-1"]
    assert check.detail == (
        f"50 unreserved of 50; the stack reserves {reserved}, leaving {50 - reserved} (Lambda keeps at least 100 unreserved)"
    )
    assert "set processorReservedConcurrency and apiReservedConcurrency to -1" in check.fix


def test_the_same_low_quota_passes_a_stack_that_reserves_nothing(account: Account) -> None:
    low = {"AccountLimit": {"ConcurrentExecutions": 10, "UnreservedConcurrentExecutions": 10}}
    account.answer(DEV, {("lambda", "get_account_settings", region): low for region in DEV.region_names})
    assert failed(run_checks(DEV, account.clients, published({}))) == {}


def test_elastic_ips_at_their_quota_fail(account: Account) -> None:
    ec2 = account.client("ec2", "us-east-1")
    for _ in range(5):  # moto's vpc-max-elastic-ips
        ec2.allocate_address(Domain="vpc")
    account.answer(DEV)
    problem = failed(run_checks(DEV, account.clients, published({})))
    assert list(problem) == ["network quotas us-east-1"]
    assert problem["network quotas us-east-1"].detail == "Elastic IP addresses: 5 used + 1 new > 5"


def test_nat_gateways_at_their_quota_in_a_zone_the_stack_uses_fail(account: Account) -> None:
    ec2 = account.client("ec2", "us-east-1")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    # use1-az1 (us-east-1b in moto's account) is the first zone the stack takes.
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="172.31.200.0/24", AvailabilityZoneId="use1-az1")["Subnet"]["SubnetId"]
    for _ in range(5):  # moto's quota of NAT gateways per zone; private ones need no Elastic IP
        ec2.create_nat_gateway(SubnetId=subnet, ConnectivityType="private")
    account.answer(DEV)
    problem = failed(run_checks(DEV, account.clients, published({})))
    assert list(problem) == ["network quotas us-east-1"]
    assert problem["network quotas us-east-1"].detail == "NAT gateways per Availability Zone: 5 used + 1 new > 5"


def test_a_zone_that_does_not_exist_fails_unless_the_stack_creates_it(account: Account) -> None:
    looked_up = stack_config("dev", {"domainName": "app.example.com", "createHostedZone": False})
    account.answer(looked_up)
    problem = failed(run_checks(looked_up, account.clients, published({})))
    assert list(problem) == ["hosted zone"]
    assert problem["hosted zone"].detail == "no public hosted zone named app.example.com in this account"

    created = stack_config("dev", {"domainName": "app.example.com", "createHostedZone": True})
    account.answer(created)
    check = verdicts(run_checks(created, account.clients, published({})))["hosted zone"]
    assert check.passed and "will be created" in check.detail and "hostedZoneNameServers" in check.detail


def test_a_zone_nobody_delegates_to_fails_and_a_delegated_one_passes(account: Account) -> None:
    route53 = account.client("route53", "us-east-1")
    zone = route53.create_hosted_zone(Name="app.example.com", CallerReference="preflight")
    servers = {ns.rstrip(".").lower() for ns in zone["DelegationSet"]["NameServers"]}
    config = stack_config("dev", {"domainName": "app.example.com", "createHostedZone": False})

    account.answer(config)
    problem = failed(run_checks(config, account.clients, published({"app.example.com": {"ns1.parking.example"}})))
    assert list(problem) == ["hosted zone"]
    assert problem["hosted zone"].detail.startswith("app.example.com is not delegated to its zone: public DNS answers ns1")
    assert (
        problem["hosted zone"].fix
        == "in the parent zone of app.example.com, set an NS record for app.example.com with those four name servers"
    )

    account.answer(config)
    check = verdicts(run_checks(config, account.clients, published({"app.example.com": servers})))["hosted zone"]
    assert check.passed, check.lines()


def test_a_zone_made_by_hand_fails_when_the_stack_would_create_a_second_one(account: Account) -> None:
    """Route53 allows two zones of one name: a created one would have name servers nobody delegates to."""
    created = stack_config("dev", {"domainName": "app.example.com", "createHostedZone": True})
    route53 = account.client("route53", "us-east-1")
    zone = route53.create_hosted_zone(Name="app.example.com", CallerReference="by-hand")
    servers = {ns.rstrip(".").lower() for ns in zone["DelegationSet"]["NameServers"]}
    account.answer(created)
    problem = failed(run_checks(created, account.clients, published({"app.example.com": servers})))
    assert list(problem) == ["hosted zone"]
    assert problem["hosted zone"].detail.startswith("a public hosted zone named app.example.com already exists")
    assert problem["hosted zone"].fix == "use the existing zone: pulumi config set multi-region:createHostedZone false"

    # The stack's own zone (after its first deploy) is recognised by its comment and passes once delegated.
    route53.update_hosted_zone_comment(Id=zone["HostedZone"]["Id"], Comment=zone_comment("app.example.com", created.name_prefix))
    account.answer(created)
    check = verdicts(run_checks(created, account.clients, published({"app.example.com": servers})))["hosted zone"]
    assert check.passed, check.lines()


def test_a_bucket_name_another_account_holds_fails(account: Account) -> None:
    account.answer(DEV)
    s3 = account.stub("s3", "eu-west-1")
    s3.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
    s3.add_client_error("head_bucket", "404", "Not Found", http_status_code=404)
    problem = failed(run_checks(DEV, account.clients, published({})))
    assert list(problem) == ["bucket names"]
    assert problem["bucket names"].detail == f"held by another account: multi-region-dev-eu-west-1-{ACCOUNT}"


def test_a_bucket_this_account_already_has_passes_as_ours(account: Account) -> None:
    account.client("s3", "us-east-1").create_bucket(Bucket=f"multi-region-dev-us-east-1-{ACCOUNT}")
    account.answer(DEV)
    check = verdicts(run_checks(DEV, account.clients, published({})))["bucket names"]
    assert check.passed
    assert (
        check.detail == f"3 free; already this account's: multi-region-dev-us-east-1-{ACCOUNT} (an earlier deploy of this stack)"
    )


LAYER = "powertools layer eu-west-1"
PARAMETER = "/aws/service/powertools/python/arm64/python3.13/3.23.0"


def test_the_pinned_powertools_layer_is_asked_for_by_its_arn_and_parameter(account: Account) -> None:
    arn = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27"
    account.stub("lambda", "eu-west-1").add_response("get_layer_version_by_arn", powertools_layer(arn), {"Arn": arn})
    account.stub("ssm", "eu-west-1").add_response("get_parameter", powertools_parameter(arn), {"Name": PARAMETER})
    passed, detail, fix = preflight._powertools_layer(account.clients, DEV, "eu-west-1", list)
    assert (passed, detail, fix) == (True, f"{arn}: Powertools 3.23.0 (its description); the ARN {PARAMETER} names", "")
    for stub in account.stubs.values():
        stub.assert_no_pending_responses()


def _layer_failure(account: Account, changes: dict[tuple[str, str, str], Any]) -> Check:
    account.answer(DEV, changes)
    problem = failed(run_checks(DEV, account.clients, published({})))
    assert list(problem) == [LAYER]
    return problem[LAYER]


def test_a_layer_version_that_does_not_exist_fails_with_what_to_change(account: Account) -> None:
    check = _layer_failure(account, {("lambda", "get_layer_version_by_arn", "eu-west-1"): "ResourceNotFoundException"})
    assert check.detail == f"{powertools_layer_arn('eu-west-1')} does not exist"
    assert check.fix == (
        "in components/powertools.py set POWERTOOLS_LAYER_VERSION to the layer version of Powertools 3.23.0 "
        f"(aws ssm get-parameter --name {PARAMETER} --region eu-west-1), or move POWERTOOLS_VERSION and the "
        "requirements-dev.txt pin to the release that layer version carries (README, Powertools)"
    )


def test_a_layer_of_another_release_fails(account: Account) -> None:
    """The package pin moved to 3.24.0 and the layer version did not: layer 27 still says 3.23.0."""
    other = powertools_layer(powertools_layer_arn("eu-west-1"), release="3.22.1")
    check = _layer_failure(account, {("lambda", "get_layer_version_by_arn", "eu-west-1"): other})
    assert check.detail == f"{powertools_layer_arn('eu-west-1')}: it is Powertools 3.22.1 (its description), the pin is 3.23.0"
    assert "set POWERTOOLS_LAYER_VERSION" in check.fix


def test_a_layer_for_another_runtime_or_architecture_fails(account: Account) -> None:
    other = {**powertools_layer(powertools_layer_arn("eu-west-1")), "CompatibleArchitectures": ["x86_64"]}
    check = _layer_failure(account, {("lambda", "get_layer_version_by_arn", "eu-west-1"): other})
    assert check.detail.endswith(": its CompatibleArchitectures are x86_64, not arm64")


def test_a_public_parameter_naming_another_layer_version_fails(account: Account) -> None:
    newer = powertools_layer_arn("eu-west-1").replace(":27", ":28")
    check = _layer_failure(account, {("ssm", "get_parameter", "eu-west-1"): powertools_parameter(newer)})
    assert check.detail == f"{powertools_layer_arn('eu-west-1')}: Powertools' parameter {PARAMETER} names {newer}"


def test_a_missing_public_parameter_is_reported_not_failed(account: Account) -> None:
    account.answer(DEV, {("ssm", "get_parameter", region): "ParameterNotFound" for region in DEV.region_names})
    checks = verdicts(run_checks(DEV, account.clients, published({})))
    assert failed(list(checks.values())) == {}
    assert checks[LAYER].detail == (
        f"{powertools_layer_arn('eu-west-1')}: Powertools 3.23.0 (its description); {PARAMETER} does not exist: not compared"
    )


def test_a_denied_layer_lookup_names_the_iam_action(account: Account) -> None:
    check = _layer_failure(account, {("lambda", "get_layer_version_by_arn", "eu-west-1"): "AccessDeniedException"})
    assert check.detail == "GetLayerVersionByArn failed: AccessDeniedException: AccessDeniedException (stubbed)"
    assert check.fix == "allow lambda:GetLayerVersion to the identity running preflight (it only reads)"
