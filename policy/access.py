"""Public access: nothing reachable from the internet but HTTPS, no public data stores, no public buckets; data stores
authenticate by IAM identity where AWS offers it (docs/design/data-store-auth.md); what faces the internet is filtered
(CloudFront behind a WAF web ACL, security headers on its responses, HTTP APIs throttled)."""

from __future__ import annotations

from policy.core import (
    DISTRIBUTION,
    EKS_CLUSTER,
    LAMBDA_FUNCTION,
    RDS_CLUSTER,
    RDS_CLUSTER_INSTANCE,
    RDS_INSTANCE,
    S3_ACCOUNT_PUBLIC_ACCESS_BLOCK,
    S3_BUCKET,
    S3_PUBLIC_ACCESS_BLOCK,
    SECRET,
    Messages,
    Props,
    Stack,
    StackViolation,
    Violations,
    attached,
    block,
    blocks,
    flag,
    get,
    given,
    known,
    number,
    resource_rule,
    stack_rule,
    strings,
)

PUBLIC_CIDRS = ("0.0.0.0/0", "::/0")
HTTPS_PORT = 443.0
TCP = ("tcp", "6")
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
MEMORYDB_USER = "aws:memorydb/user:User"
# Aurora engines that offer IAM database authentication (Aurora user guide, "IAM database authentication").
IAM_AUTH_ENGINES = ("aurora-postgresql", "aurora-mysql")
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
API_STAGE = "aws:apigatewayv2/stage:Stage"
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
# The longest a secret may go between automatic rotations (auroraMasterRotationDays allows 1 to 365).
MAX_ROTATION_DAYS = 365
API_ROUTE = "aws:apigatewayv2/route:Route"
# What an anonymous route may do: read (the health checks' route, the status page's summaries).
ANONYMOUS_METHODS = ("GET", "HEAD")
# The AWS managed rule groups a CloudFront web ACL must apply: common exploits, known bad inputs (Log4j among them)
# and AWS's IP reputation list.
REQUIRED_WAF_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)


def _missing_flags(props: Props) -> list[str]:
    return [name for name in PUBLIC_ACCESS_FLAGS if flag(props.get(name)) is not True]


@resource_rule(
    "s3-public-access-block-complete",
    "S3 public access blocks turn on all four settings.",
    S3_PUBLIC_ACCESS_BLOCK,
    S3_ACCOUNT_PUBLIC_ACCESS_BLOCK,
)
def s3_public_access_block_complete(resource_type: str, props: Props) -> Messages:
    missing = _missing_flags(props)
    if missing:
        yield f"{', '.join(missing)} must be true"


@stack_rule(
    "s3-bucket-public-access-blocked",
    "Every S3 bucket has a public access block (or the account blocks public access for all buckets).",
)
def s3_bucket_public_access_blocked(stack: Stack) -> Violations:
    if any(not _missing_flags(r.props) for r in stack.of_type(S3_ACCOUNT_PUBLIC_ACCESS_BLOCK)):
        return
    for bucket in stack.of_type(*S3_BUCKET):
        if not attached(stack, (S3_PUBLIC_ACCESS_BLOCK,), bucket):
            yield StackViolation(f"bucket {bucket.name} has no public access block", bucket.urn)


@resource_rule(
    "eks-endpoint-private",
    "The EKS API endpoint is private, or public only to named operator CIDRs (never 0.0.0.0/0).",
    EKS_CLUSTER,
)
def eks_endpoint_private(resource_type: str, props: Props) -> Messages:
    vpc = block(props.get("vpcConfig"))
    if flag(vpc.get("endpointPrivateAccess")) is not True:
        yield "vpcConfig.endpointPrivateAccess must be true, so nodes reach the API inside the VPC"
    # EKS makes the endpoint public to 0.0.0.0/0 unless told otherwise.
    if flag(vpc.get("endpointPublicAccess")) is not False:
        cidrs = strings(vpc.get("publicAccessCidrs"))
        if not cidrs or set(cidrs) & set(PUBLIC_CIDRS):
            yield "a public endpoint must list publicAccessCidrs without 0.0.0.0/0 (or set endpointPublicAccess false)"


def _ingress(resource_type: str, props: Props) -> list[tuple[str, float | None, float | None, list[str]]]:
    """The ingress entries of any security-group resource, as (protocol, from port, to port, CIDRs)."""
    if resource_type == INGRESS_RULE:
        cidrs = strings(props.get("cidrIpv4")) + strings(props.get("cidrIpv6"))
        return [(str(props.get("ipProtocol")), number(props.get("fromPort")), number(props.get("toPort")), cidrs)]
    if resource_type == SECURITY_GROUP_RULE:
        rules = [props] if props.get("type") == "ingress" else []
    else:
        rules = blocks(props.get("ingress"))
    return [
        (
            str(rule.get("protocol")),
            number(rule.get("fromPort")),
            number(rule.get("toPort")),
            strings(rule.get("cidrBlocks")) + strings(rule.get("ipv6CidrBlocks")),
        )
        for rule in rules
    ]


@resource_rule(
    "security-group-public-ingress-https-only",
    "Security groups admit the internet (0.0.0.0/0, ::/0) only on TCP 443.",
    SECURITY_GROUP,
    DEFAULT_SECURITY_GROUP,
    SECURITY_GROUP_RULE,
    INGRESS_RULE,
)
def security_group_public_ingress_https_only(resource_type: str, props: Props) -> Messages:
    for protocol, from_port, to_port, cidrs in _ingress(resource_type, props):
        public = sorted(set(cidrs) & set(PUBLIC_CIDRS))
        if public and (protocol.lower() not in TCP or (from_port, to_port) != (HTTPS_PORT, HTTPS_PORT)):
            ports = "all ports" if from_port is None or to_port is None else f"ports {from_port:g}-{to_port:g}"
            yield f"ingress from {', '.join(public)} on {protocol} {ports}: only tcp 443 may be open to the internet"


@resource_rule(
    "rds-not-publicly-accessible",
    "Database instances have no public address.",
    RDS_CLUSTER_INSTANCE,
    RDS_INSTANCE,
)
def rds_not_publicly_accessible(resource_type: str, props: Props) -> Messages:
    if flag(props.get("publiclyAccessible")) is True:
        yield "publiclyAccessible must be false"


@resource_rule(
    "subnet-no-auto-public-ip",
    "Subnets do not give instances public IP addresses on launch.",
    "aws:ec2/subnet:Subnet",
)
def subnet_no_auto_public_ip(resource_type: str, props: Props) -> Messages:
    if flag(props.get("mapPublicIpOnLaunch")) is True:
        yield "mapPublicIpOnLaunch must be false: NAT gateways and load balancers get their addresses explicitly"


@resource_rule(
    "lambda-in-vpc",
    "Lambda functions run in private subnets with a security group.",
    LAMBDA_FUNCTION,
    advisory=(
        "a recommendation: a function that reaches data in the VPC belongs in it (and the application functions "
        "are), but one that only calls AWS APIs, such as a failover runbook that must work while a region's "
        "network is impaired, can be safer outside it"
    ),
)
def lambda_in_vpc(resource_type: str, props: Props) -> Messages:
    vpc = block(props.get("vpcConfig"))
    if not given(vpc, "subnetIds") or not given(vpc, "securityGroupIds"):
        yield "vpcConfig must list subnetIds and securityGroupIds"


@resource_rule(
    "cloudfront-origin-access-control",
    "CloudFront reads S3 origins through an origin access control, so the buckets stay private.",
    DISTRIBUTION,
)
def cloudfront_origin_access_control(resource_type: str, props: Props) -> Messages:
    for origin in blocks(props.get("origins")):
        domain = str(known(origin, "domainName"))
        is_s3 = ".s3." in domain or ".s3-" in domain or domain.endswith(".s3.amazonaws.com")
        if is_s3 and not given(origin, "originAccessControlId") and not given(origin, "s3OriginConfig", "originAccessIdentity"):
            yield f"S3 origin {origin.get('originId')} has no originAccessControlId: the bucket would have to be public"


@resource_rule(
    "memorydb-user-iam-authentication",
    "MemoryDB users authenticate with IAM (a short-lived SigV4 token), not a long-lived password.",
    MEMORYDB_USER,
)
def memorydb_user_iam_authentication(resource_type: str, props: Props) -> Messages:
    mode = block(props.get("authenticationMode"))
    kind = known(mode, "type")
    if kind != "iam":
        yield f"authenticationMode.type is {kind!r}: must be 'iam' (Valkey, or Redis OSS 7.0 or later), no password"


@resource_rule(
    "aurora-iam-database-authentication",
    "Aurora clusters have IAM database authentication on, so clients need no database password.",
    RDS_CLUSTER,
)
def aurora_iam_database_authentication(resource_type: str, props: Props) -> Messages:
    if known(props, "engine") in IAM_AUTH_ENGINES and flag(props.get("iamDatabaseAuthenticationEnabled")) is not True:
        yield "iamDatabaseAuthenticationEnabled must be true"


@resource_rule(
    "cloudfront-web-acl",
    "CloudFront distributions are behind a WAFv2 web ACL.",
    DISTRIBUTION,
)
def cloudfront_web_acl(resource_type: str, props: Props) -> Messages:
    if not given(props, "webAclId"):
        yield "webAclId must be the ARN of a WAFv2 web ACL of scope CLOUDFRONT (created in us-east-1)"


def _managed_group(rule: Props) -> str | None:
    statement = block(get(rule, "statement", "managedRuleGroupStatement"))
    return str(statement["name"]) if statement.get("vendorName") == "AWS" and statement.get("name") else None


@resource_rule(
    "waf-managed-rules-and-rate-limit",
    "CloudFront web ACLs apply AWS's common, known-bad-inputs and IP-reputation rule groups and block by rate per IP.",
    WEB_ACL,
)
def waf_managed_rules_and_rate_limit(resource_type: str, props: Props) -> Messages:
    if known(props, "scope") != "CLOUDFRONT":
        return
    rules = blocks(known(props, "rules"))
    applied = {group: rule for rule in rules if (group := _managed_group(rule))}
    for group in REQUIRED_WAF_GROUPS:
        if group not in applied:
            yield f"no rule applies the AWS managed rule group {group}"
        elif "none" not in block(applied[group].get("overrideAction")):
            yield f"the rule of {group} must have overrideAction none (its rules' own actions), not count"
    rate_rules = [rule for rule in rules if get(rule, "statement", "rateBasedStatement")]
    if not any("block" in block(rule.get("action")) for rule in rate_rules):
        yield "no rate-based rule blocks clients over a request limit (rateBasedStatement with action block)"


@resource_rule(
    "cloudfront-response-headers-policy",
    "Every CloudFront cache behaviour adds security headers through a response headers policy.",
    DISTRIBUTION,
)
def cloudfront_response_headers_policy(resource_type: str, props: Props) -> Messages:
    behaviours = [("defaultCacheBehavior", block(props.get("defaultCacheBehavior")))]
    behaviours += [(f"orderedCacheBehaviors {b.get('pathPattern')}", b) for b in blocks(props.get("orderedCacheBehaviors"))]
    for where, behaviour in behaviours:
        if not given(behaviour, "responseHeadersPolicyId"):
            yield f"{where} has no responseHeadersPolicyId (HSTS, nosniff, frame and referrer policies)"


@resource_rule(
    "api-stage-throttled",
    "API Gateway v2 stages throttle every route (WAF does not attach to HTTP APIs).",
    API_STAGE,
)
def api_stage_throttled(resource_type: str, props: Props) -> Messages:
    settings = block(props.get("defaultRouteSettings"))
    for limit in ("throttlingRateLimit", "throttlingBurstLimit"):
        value = known(settings, limit)
        if not given(settings, limit) or (value is not None and (number(value) or 0) <= 0):
            yield f"defaultRouteSettings.{limit} must be a positive limit"


def _rotation_problems(rotation: Props) -> list[str]:
    rules = block(rotation.get("rotationRules"))
    days = known(rules, "automaticallyAfterDays")
    if given(rules, "scheduleExpression"):
        return []
    if not given(rules, "automaticallyAfterDays"):
        return ["rotationRules sets neither automaticallyAfterDays nor scheduleExpression"]
    if days is not None and not 1 <= (number(days) or 0) <= MAX_ROTATION_DAYS:
        return [f"rotationRules.automaticallyAfterDays is {days}; allowed: 1 to {MAX_ROTATION_DAYS}"]
    return []


@stack_rule(
    "secret-rotation",
    f"Every Secrets Manager secret rotates automatically by a function, at least every {MAX_ROTATION_DAYS} days.",
)
def secret_rotation(stack: Stack) -> Violations:
    rotations = stack.of_type(SECRET_ROTATION)
    for secret in stack.of_type(SECRET):
        found = [r for r in rotations if stack.depends_on(r, secret)]
        if not found:
            yield StackViolation(f"secret {secret.name} has no SecretRotation (rotation by a function)", secret.urn)
        for rotation in found:
            if not given(rotation.props, "rotationLambdaArn"):
                yield StackViolation(f"rotation {rotation.name} of {secret.name} names no rotationLambdaArn", rotation.urn)
            for problem in _rotation_problems(rotation.props):
                yield StackViolation(f"rotation {rotation.name} of {secret.name}: {problem}", rotation.urn)


@resource_rule(
    "api-anonymous-routes-read-only",
    "An API Gateway v2 route without authorization only reads (GET or HEAD): no anonymous write route.",
    API_ROUTE,
)
def api_anonymous_routes_read_only(resource_type: str, props: Props) -> Messages:
    authorization = known(props, "authorizationType")
    route_key = known(props, "routeKey")
    if (authorization is None and given(props, "authorizationType")) or not isinstance(route_key, str):
        return  # unknown until deployed: nothing to judge
    method = route_key.split(" ", 1)[0]
    if authorization in (None, "NONE") and method not in ANONYMOUS_METHODS:
        yield f"route {route_key!r} takes anonymous requests; an anonymous route may only be {' or '.join(ANONYMOUS_METHODS)}"


RULES = (
    s3_public_access_block_complete,
    s3_bucket_public_access_blocked,
    eks_endpoint_private,
    security_group_public_ingress_https_only,
    rds_not_publicly_accessible,
    subnet_no_auto_public_ip,
    lambda_in_vpc,
    cloudfront_origin_access_control,
    memorydb_user_iam_authentication,
    aurora_iam_database_authentication,
    cloudfront_web_acl,
    waf_managed_rules_and_rate_limit,
    cloudfront_response_headers_policy,
    api_stage_throttled,
    secret_rotation,
    api_anonymous_routes_read_only,
)
