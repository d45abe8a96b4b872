"""The GitHub workflows lint clean: actionlint (syntax, expressions, action inputs and runtimes, the `run:` scripts
through ShellCheck) and zizmor (security audits, run offline) report nothing. Each tool is also shown to report a
mistake planted in a copy of the workflows, so a tool that checks nothing cannot pass."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent  # the tools install into the virtualenv with requirements-dev.txt
# Audits zizmor runs without the network; each must be scheduled on every workflow, or the check is hollow.
OFFLINE_AUDITS = ("artipacked", "excessive-permissions", "template-injection", "unpinned-uses", "dangerous-triggers")
SHA_PIN = re.compile(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}; `./run test` installs requirements-dev.txt")
    return str(path)


def actionlint(workflows: Path) -> list[dict[str, Any]]:
    """actionlint's findings over the workflow files in ``workflows`` (ShellCheck on, pyflakes off: no Python steps)."""
    files = sorted(str(path) for path in workflows.glob("*.yml"))
    command = [_tool("actionlint"), "-no-color", "-format", "{{json .}}", "-shellcheck", _tool("shellcheck"), "-pyflakes="]
    result = subprocess.run([*command, *files], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode in (0, 1), f"actionlint failed ({result.returncode}): {result.stderr}"  # 1: findings
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return findings


def zizmor(workflows: Path) -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
    """zizmor's findings over ``workflows`` with every persona's audits, offline, no config and no ignore comments;
    and the audits it scheduled on each file (from its debug log)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")}
    dead = "http://127.0.0.1:9"  # a request that slipped past --offline fails here instead of leaving the machine
    env |= {"HTTPS_PROXY": dead, "HTTP_PROXY": dead, "ALL_PROXY": dead, "NO_COLOR": "1"}
    command = [_tool("zizmor"), "--offline", "--no-config", "--no-ignores", "--persona", "pedantic", "--format", "json"]
    result = subprocess.run(
        [*command, "--no-progress", "-v", str(workflows)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    findings: list[dict[str, Any]] = json.loads(result.stdout or "null") or []
    assert result.returncode == 0 or findings, f"zizmor failed ({result.returncode}): {result.stderr[-2000:]}"
    scheduled: dict[str, set[str]] = {}
    for audit, file in re.findall(r"scheduling ([\w-]+) on file://(\S+)", result.stderr):
        scheduled.setdefault(Path(file).name, set()).add(audit)
    return findings, scheduled


def describe(findings: list[dict[str, Any]]) -> list[str]:
    """One line per finding, for the assertion message."""
    lines = []
    for finding in findings:
        if "ident" in finding:  # zizmor
            lines.append(f"zizmor {finding['ident']}: {finding['desc']}")
        else:  # actionlint
            lines.append(f"actionlint {finding['filepath']}:{finding['line']}: {finding['message']} [{finding['kind']}]")
    return lines


def test_actionlint_finds_nothing() -> None:
    assert describe(actionlint(WORKFLOWS)) == []


def test_zizmor_runs_its_audits_offline_and_finds_nothing() -> None:
    findings, scheduled = zizmor(WORKFLOWS)
    assert describe(findings) == []
    assert sorted(scheduled) == sorted(path.name for path in WORKFLOWS.glob("*.yml")), "every workflow was audited"
    for name, audits in scheduled.items():
        assert set(OFFLINE_AUDITS) <= audits, f"{name}: audits not run: {set(OFFLINE_AUDITS) - audits}"


def workflows() -> dict[str, Any]:
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(WORKFLOWS.glob("*.yml"))}


def test_every_action_is_pinned_to_a_commit_with_its_tag() -> None:
    """zizmor wants a hash; the tag beside it tells a reader (and a dependency bot) which release the hash is."""
    paths = sorted(WORKFLOWS.glob("*.yml"))
    assert paths, f"no workflow in {WORKFLOWS}"
    for path in paths:
        uses = [line.strip().removeprefix("- ") for line in path.read_text().splitlines() if "uses:" in line]
        assert uses, f"{path.name} uses no action"
        for line in uses:
            assert SHA_PIN.fullmatch(line), f"{path.name}: {line!r} is not `uses: owner/repo@<40-hex sha> # vX.Y.Z`"


def test_jobs_get_least_permissions_no_persisted_token_and_the_org_qualified_stack() -> None:
    """What zizmor does not insist on: nothing granted at the top, a checkout that leaves no token in .git/config
    (zizmor trusts checkout v6 and later to keep it out), and the stack named in the Pulumi organisation's variable."""
    found = workflows()
    assert found, f"no workflow in {WORKFLOWS}"
    checked = set()
    for name, workflow in found.items():
        assert workflow["permissions"] == {}, f"{name}: top-level permissions must be {{}}"
        for job_name, job in workflow["jobs"].items():
            where = f"{name} job {job_name}"
            assert "contents" in job["permissions"], f"{where}: no per-job permissions"
            for step in job["steps"]:
                uses = step.get("uses", "")
                if uses.startswith("actions/checkout@"):
                    checked.add("checkout")
                    assert step["with"]["persist-credentials"] is False, f"{where}: checkout persists the token"
                if uses.startswith("pulumi/actions@"):
                    checked.add("pulumi")
                    assert step["with"]["stack-name"] == "${{ vars.PULUMI_ORG }}/prod", where
    assert checked == {"checkout", "pulumi"}, "the workflows check out the code and run Pulumi"


def _planted(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the workflows with ``old`` replaced by ``new`` in preview.yml (which must contain it)."""
    copy = tmp_path / ".github" / "workflows"  # where zizmor collects workflows from
    shutil.copytree(WORKFLOWS, copy)
    workflow = copy / "preview.yml"
    text = workflow.read_text()
    assert old in text, f"preview.yml no longer contains {old!r}: update the planted mistake"
    workflow.write_text(text.replace(old, new, 1))
    return copy


@pytest.mark.parametrize(
    ("old", "new", "audit"),
    [
        ("run: ./run test", 'run: echo "${{ github.event.pull_request.title }}"', "template-injection"),
        ("@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1", "@v7", "unpinned-uses"),
        ("permissions: {}", "permissions: write-all", "excessive-permissions"),
    ],
)
def test_zizmor_reports_a_planted_mistake(tmp_path: Path, old: str, new: str, audit: str) -> None:
    findings, _ = zizmor(_planted(tmp_path, old, new))
    assert audit in {finding["ident"] for finding in findings}, describe(findings)


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("python-version: ${{ matrix.python }}", "python-version: ${{ matrix.pyton }}", "expression"),
        ('if [ -z "${!name}" ]', "if [ -z $PULUMI_ORG$name ]", "shellcheck"),
        ("timeout-minutes: 60", "timeout-minutes: sixty", "syntax-check"),
    ],
)
def test_actionlint_reports_a_planted_mistake(tmp_path: Path, old: str, new: str, kind: str) -> None:
    findings = actionlint(_planted(tmp_path, old, new))
    assert kind in {finding["kind"] for finding in findings}, describe(findings)
