"""`python -m ops plan`: the README's main job, run as a user runs it. Every report goes to a temporary directory: the
suite never touches a user's `.build/plan/<stack>/` (a guard around each test checks it)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from components.app import reserved_concurrency
from ops import __main__ as cli
from planning.harness import ROOT, ProgramRun
from planning.plan import DOCS_DIR, REPORT_NAME, build_report, default_out_dir, render_placement
from tests.support.program import ProgramRunner

REPORT_FILES = ["architecture.dot", "architecture.png", "architecture.svg", REPORT_NAME]


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``directory`` with its size and modification time (nothing when it does not exist)."""
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*") if p.is_file()}


@pytest.fixture(autouse=True)
def users_reports_untouched() -> Iterator[None]:
    """The reports a user's `./run plan` left in `.build/plan/<stack>/` are the same after each test."""
    before = {stack: _snapshot(default_out_dir(stack)) for stack in ("prod", "dev")}
    yield
    assert {stack: _snapshot(default_out_dir(stack)) for stack in before} == before, "a test wrote into .build/plan/"


def _plan(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m ops plan ARGS --out OUT`` in a new process, from the project's root as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ops", "plan", *args, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


Plan = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def plan(run_stack: ProgramRunner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Plan:
    """``python -m ops plan ARGS --out OUT`` in this process (its status, stdout and stderr), on the session's cached run
    of each config: the entry point itself is run as a new process by the tests of invalid config and unknown stacks."""

    def cached(stack: str, *, preview: bool, overrides: dict[str, Any], project: object = None) -> ProgramRun:
        return run_stack(stack, preview=preview, **overrides)

    monkeypatch.setattr("planning.harness.run_program", cached)

    def run(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        status = cli.main(["plan", *args, "--out", str(out)])
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(["ops", "plan", *args], status, captured.out, captured.err)

    return run


def test_prod_plan_prints_the_tree_counts_and_outputs(plan: Plan, tmp_path: Path) -> None:
    result = plan(tmp_path, "--stack", "prod")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    sections = [line for line in out.splitlines() if line and not line.startswith(" ")]
    sections = sections[: sections.index("Outputs") + 1]  # the report's sections follow (checked at the end)
    assert sections[0] == "Offline plan of stack 'prod' (preview mode under mocks)"
    assert [s.split(" (")[0] for s in sections[1:4]] == ["global", "us-east-1", "eu-west-1"]
    assert sections[-6] == "Resources by type"
    global_part = out.split("\nus-east-1 (", 1)[0]
    for component in ("aurora-global [us-east-1]", "items [us-east-1]", "cdn [us-east-1]", "api-traffic [us-east-1]"):
        assert component in global_part, f"{component} is not listed as global"
    assert "us-east-1-net" not in global_part
    assert sections[-5].startswith("Cross-region parity: 2 regions (us-east-1, eu-west-1), ")
    assert sections[-5].endswith(" resources each, no differences")
    assert sections[-4] == "Engines, zones and reservations"
    assert sections[-3] == "Domain: app.example.com, in the existing public hosted zone of that name"
    assert sections[-2].startswith("Cost per day before traffic (on-demand list prices of us-east-1 as of ")
    assert sections[-1] == "Outputs"
    assert "    multi-region:network:Network  us-east-1-net" in out, "regional children are indented under their stack"
    assert "      aws:ec2/vpc:Vpc  us-east-1-net-vpc" in out
    assert "aws:kms/key:Key  us-east-1-kms-key [protected]" in out
    counts = out.split("Resources by type\n", 1)[1].split("\n\n", 1)[0]
    count_line = next(line for line in counts.splitlines() if line.strip().startswith("aws:ec2/natGateway:NatGateway"))
    assert count_line.split() == ["aws:ec2/natGateway:NatGateway", "6"]
    parity = out.split("Cross-region parity: ", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert not [line for line in parity if line.startswith("  difference: ")]
    assert [line.split(": ", 2)[1] for line in parity if line.startswith("  expected: ")] == [
        "aws:rds/cluster:Cluster aurora-cluster masterPassword",
        "aws:rds/cluster:Cluster aurora-cluster masterUsername",
    ]
    assert "masterPassword: us-east-1 [secret], eu-west-1 (absent)" in out, "the secret is never shown"
    assert "  primaryRegion: us-east-1" in out
    assert "vpcId: (known after update)" in out
    # The report follows the plan: the shipped prod stack is within its budget and passes the policy pack (status 0).
    tail = [line for line in out.splitlines() if line and not line.startswith(" ")]
    tail = tail[tail.index("Outputs") + 1 :]
    assert tail[0] == "Resilience budget (targets: rtoSeconds 900, rpoSeconds 900)"
    assert tail[1] == "Policy pack" and tail[2].startswith("Architecture diagram (2 region clusters, ") and len(tail) == 3
    assert "  every budget is within its target" in out
    assert "policy pack multi-region-guardrails on prod: " in out and "; passed" in out
    for name in REPORT_FILES:
        assert f"  written: {tmp_path / name}" in out
        assert (tmp_path / name).stat().st_size > 0


def test_the_report_goes_to_build_plan_stack_by_default(
    cached_plan: ProgramRun, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Without --out, under the project's `.build/plan/<stack>/` (here a stand-in project root: the user's report is
    not overwritten)."""
    monkeypatch.setattr("planning.plan.ROOT", tmp_path)
    assert default_out_dir("prod") == tmp_path / ".build" / "plan" / "prod"
    assert cli.main(["plan", "--stack", "prod"]) == 0
    out = capsys.readouterr().out
    written = [line.removeprefix("  written: ") for line in out.splitlines() if line.startswith("  written: ")]
    assert sorted(written) == [f".build/plan/prod/{name}" for name in REPORT_FILES]
    assert sorted(p.name for p in (tmp_path / ".build" / "plan" / "prod").iterdir()) == REPORT_FILES


def test_dev_plan_in_update_mode_shows_mock_values(plan: Plan, tmp_path: Path) -> None:
    result = plan(tmp_path, "--stack", "dev", "--mode", "update")
    assert result.returncode == 0, result.stderr
    assert "vpcId: us-east-1-net-vpc-id" in result.stdout
    assert "[protected]" not in result.stdout
    # The committed dev stack has no domain, and the plan says what one would add.
    assert "\nDomain: none (domainName is empty)\n" in result.stdout
    assert "A domain (domainName, with createHostedZone or an existing public zone) would add:" in result.stdout
    assert "api.<domain> failover records on the gates" in result.stdout


def test_the_plan_shows_the_defaults_a_first_deploy_asks_for(run_stack: ProgramRunner) -> None:
    aurora = (
        "  Aurora aurora-postgresql 16.8 (engine version ignored after creation; "
        "lifecycle open-source-rds-extended-support-disabled)"
    )
    assert render_placement(run_stack("dev")) == [
        "Engines, zones and reservations",
        aurora,
        "  us-east-1: MemoryDB valkey 7.3; zones use1-az1, use1-az2, use1-az4; reserved concurrency none",
        "  eu-west-1: MemoryDB valkey 7.3; zones euw1-az1, euw1-az2, euw1-az3; reserved concurrency none",
    ]
    prod_run = run_stack("prod")
    prod = render_placement(prod_run)
    assert prod[1] == aurora
    assert prod_run.config is not None
    # The three functions' reservations written out; a further entry's from the setting it names, if any.
    reserved = {f: n for f, n in reserved_concurrency(prod_run.config.app).items() if n >= 0}
    reserved |= {"api": 50, "processor": 20, "stream": 20}
    listed = ", ".join(f"multi-region-prod-{f}={n}" for f, n in sorted(reserved.items()))
    assert prod[2].endswith(f"reserved concurrency {listed}")


def test_invalid_config_exits_non_zero_with_the_error_and_no_traceback(tmp_path: Path) -> None:
    result = _plan(tmp_path, "--set", "natGateways=two", "--set", "dnsTtlSeconds=300")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "natGateways: got 'two'; allowed: one of single, per-az" in result.stderr
    assert "dnsTtlSeconds: got 300" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_stack_names_the_stacks_there_are(tmp_path: Path) -> None:
    result = _plan(tmp_path, "--stack", "staging")
    assert result.returncode == 2
    assert "no stack file Pulumi.staging.yaml; stacks: dev, prod" in result.stderr


def test_set_changes_the_plan_for_this_run_only(plan: Plan, tmp_path: Path) -> None:
    result = plan(
        tmp_path,
        "--set",
        "regions=[us-east-1, eu-west-1, us-west-2]",
        "--set",
        "vpcCidrs=[10.1.0.0/16, 10.2.0.0/16, 10.3.0.0/16]",
    )
    assert result.returncode == 0, result.stderr
    assert "\nus-west-2 (" in result.stdout


def test_over_budget_and_policy_violations_exit_with_their_codes(plan: Plan, tmp_path: Path) -> None:
    """rtoSeconds 60 is below any failover's budget and rpoSeconds 600 below S3's replication time (exit 4); prod
    without protection breaks mandatory policies (exit 8); both: 12. stderr names the key, the target and the budget."""
    out = tmp_path / "plan"
    overrides = ("rtoSeconds=60", "rpoSeconds=600", "protectStatefulResources=false")
    result = plan(out, "--stack", "prod", *(arg for item in overrides for arg in ("--set", item)))
    assert result.returncode == cli.EXIT_BUDGET | cli.EXIT_POLICY == 12, result.stderr
    errors = result.stderr.splitlines()
    assert "error: rtoSeconds: the planned switchover RTO budget is 741 s, over the target of 60 s" in errors
    assert "error: rtoSeconds: the unplanned failover RTO budget is 771 s, over the target of 60 s" in errors
    assert "error: rpoSeconds: the S3 buckets unplanned failover RPO budget is 900 s, over the target of 600 s" in errors
    assert any(line.startswith("error: policy rds-deletion-protection: ") for line in errors)
    assert "  OVER: rtoSeconds: the unplanned failover RTO budget is 771 s, over the target of 60 s" in result.stdout
    assert "FAILED: " in result.stdout
    assert sorted(p.name for p in out.iterdir()) == REPORT_FILES
    report = (out / REPORT_NAME).read_text()
    assert "![architecture of prod](architecture.svg)" in report
    assert "- **over**: rtoSeconds: the planned switchover RTO budget is 741 s, over the target of 60 s" in report


@pytest.fixture
def cached_plan(run_stack: ProgramRunner, monkeypatch: pytest.MonkeyPatch) -> ProgramRun:
    """``main`` in this process, on the session's cached preview run of prod instead of a fresh one."""
    run = run_stack("prod", preview=True)
    monkeypatch.setattr("planning.harness.run_program", lambda *args, **kwargs: run)
    return run


def test_a_missing_graphviz_is_a_warning_unless_the_docs_need_the_picture(
    cached_plan: ProgramRun, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr("planning.diagram.shutil.which", lambda _: None)
    assert cli.main(["plan", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "warning: the diagram was not rendered: Graphviz `dot` was not found on PATH" in captured.err
    assert "sudo apt-get install graphviz" in captured.err
    assert "  every budget is within its target" in captured.out, "the budget is still reported"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["architecture.dot", REPORT_NAME]
    assert "Not rendered: Graphviz `dot` was not found" in (tmp_path / REPORT_NAME).read_text()
    assert cli.main(["plan", "--out", str(tmp_path), "--docs"]) == cli.EXIT_DIAGRAM
    assert "error: the diagram was not rendered" in capsys.readouterr().err


def test_a_dot_failure_exits_1(cached_plan: ProgramRun, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("planning.plan.to_dot", lambda diagram: "digraph { a -> }")
    assert cli.main(["plan", "--out", str(tmp_path)]) == cli.EXIT_DIAGRAM


def test_docs_get_a_copy_of_the_picture(cached_plan: ProgramRun, tmp_path: Path) -> None:
    report = build_report(cached_plan, tmp_path / "out", docs_dir=tmp_path / "docs")
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == ["architecture.png", "architecture.svg"]
    assert (tmp_path / "docs" / "architecture.svg").read_bytes() == (tmp_path / "out" / "architecture.svg").read_bytes()
    assert len(report.files) == 6 and report.render_error is None


def test_the_readme_shows_the_prod_diagram() -> None:
    """``python -m ops plan --stack prod --docs`` wrote the picture the README embeds."""
    assert "![Architecture of the prod stack](docs/architecture.png)" in (ROOT / "README.md").read_text()
    for name in ("architecture.png", "architecture.svg"):
        assert (DOCS_DIR / name).stat().st_size > 10_000
