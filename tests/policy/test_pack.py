"""The pack (policy/pack.py and the pack's project files): enough rules, each named and described once, levels
explained, and a pack that runs in a virtualenv of its own."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from policy import access, encryption, iam, multiregion, observability, protection, tls
from policy.core import ResourceRule
from policy.pack import PACK_NAME, RULES, policies

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policy"
MODULES = (encryption, tls, access, protection, iam, observability, multiregion)


def test_the_pack_has_at_least_25_rules_each_named_and_described_once() -> None:
    assert len(RULES) >= 25
    assert len({r.name for r in RULES}) == len(RULES)
    assert len({r.description for r in RULES}) == len(RULES)
    assert [r for m in MODULES for r in m.RULES] == list(RULES)


def test_rules_are_mandatory_unless_they_say_why_they_only_advise() -> None:
    advisory = [r for r in RULES if r.enforcement_level is EnforcementLevel.ADVISORY]
    assert {r.name for r in advisory} == {"lambda-in-vpc", "lambda-tracing", "state-machine-tracing"}
    assert all(r.advisory and len(r.advisory) > 40 for r in advisory)
    assert all(r.enforcement_level is EnforcementLevel.MANDATORY for r in RULES if r not in advisory)


def test_every_concern_of_the_issue_has_rules() -> None:
    names = {r.name for r in RULES}
    for needed in (
        "rds-storage-encrypted",
        "cloudfront-tls-1-2",
        "s3-public-access-block-complete",
        "rds-deletion-protection",
        "dynamodb-pitr",
        "rds-backup-retention",
        "iam-no-wildcard-actions",
        "log-group-retention",
        "dynamodb-replicated-to-every-region",
        "cdn-origin-failover",
        "dns-routing-health-checked",
        "dns-ttl-with-health-checks",
        "s3-replication-time-control",
    ):
        assert needed in names


def test_policies_wrap_the_same_rules_for_the_engine() -> None:
    built = policies()
    assert [p.name for p in built] == [r.name for r in RULES]
    for policy, rule in zip(built, RULES, strict=True):
        expected = ResourceValidationPolicy if isinstance(rule, ResourceRule) else StackValidationPolicy
        assert isinstance(policy, expected)
        assert (policy.description, policy.enforcement_level) == (rule.description, rule.enforcement_level)


def test_the_project_file_declares_a_python_pack_with_its_own_virtualenv() -> None:
    project = yaml.safe_load((POLICY / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    assert project["description"]
    assert PACK_NAME == "multi-region-guardrails"


def test_the_pack_requirements_are_pinned_to_the_versions_the_tests_use() -> None:
    def pins(path: Path) -> dict[str, str]:
        lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
        return dict(line.split("==") for line in lines if "==" in line)

    pack = pins(POLICY / "requirements.txt")
    assert pack == {"pulumi-policy": "1.21.0", "pulumi": pins(ROOT / "requirements.txt")["pulumi"]}
    assert pins(ROOT / "requirements-dev.txt")["pulumi-policy"] == pack["pulumi-policy"]


def test_the_pack_imports_only_the_standard_library_pulumi_policy_and_itself() -> None:
    """The CLI's virtualenv for the pack holds pulumi-policy and its dependencies, not the program's packages.
    (evaluate.py is the offline evaluator: it runs in the project's environment, never in the pack's.)"""
    allowed = {"pulumi_policy", "policy", "__future__"} | set(sys.stdlib_module_names)
    for path in sorted(POLICY.glob("*.py")):
        if path.name == "evaluate.py":
            continue
        tree = ast.parse(path.read_text())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}
        assert imported <= allowed, (path.name, imported - allowed)


def test_the_readme_states_the_rule_count() -> None:
    section = (ROOT / "README.md").read_text().split("## Policy pack", 1)[1].split("\n## ", 1)[0]
    assert f"with {len(RULES)} rules" in section
    assert "pulumi preview --stack prod --policy-pack policy" in section
