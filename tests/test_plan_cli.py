"""`python -m ops plan`: the README's main job, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys

from ops.harness import ROOT


def _plan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops", "plan", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_prod_plan_prints_the_tree_counts_and_outputs() -> None:
    result = _plan("--stack", "prod")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    sections = [line for line in out.splitlines() if line and not line.startswith(" ")]
    assert sections[0] == "Offline plan of stack 'prod' (preview mode under mocks)"
    assert [s.split(" (")[0] for s in sections[1:4]] == ["global", "us-east-1", "eu-west-1"]
    assert sections[-3] == "Resources by type"
    global_part = out.split("\nus-east-1 (", 1)[0]
    for component in ("aurora-global [us-east-1]", "items [us-east-1]", "cdn [us-east-1]", "api-traffic [us-east-1]"):
        assert component in global_part, f"{component} is not listed as global"
    assert "us-east-1-net" not in global_part
    assert sections[-2].startswith("Cross-region parity: 2 regions (us-east-1, eu-west-1), ")
    assert sections[-2].endswith(" resources each, no differences")
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


def test_dev_plan_in_update_mode_shows_mock_values() -> None:
    result = _plan("--stack", "dev", "--mode", "update")
    assert result.returncode == 0, result.stderr
    assert "vpcId: us-east-1-net-vpc-id" in result.stdout
    assert "[protected]" not in result.stdout


def test_invalid_config_exits_non_zero_with_the_error_and_no_traceback() -> None:
    result = _plan("--set", "natGateways=two", "--set", "dnsTtlSeconds=300")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "natGateways: got 'two'; allowed: one of single, per-az" in result.stderr
    assert "dnsTtlSeconds: got 300" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_stack_names_the_stacks_there_are() -> None:
    result = _plan("--stack", "staging")
    assert result.returncode == 2
    assert "no stack file Pulumi.staging.yaml; stacks: dev, prod" in result.stderr


def test_set_changes_the_plan_for_this_run_only() -> None:
    result = _plan(
        "--set", "regions=[us-east-1, eu-west-1, us-west-2]", "--set", "vpcCidrs=[10.1.0.0/16, 10.2.0.0/16, 10.3.0.0/16]"
    )
    assert result.returncode == 0, result.stderr
    assert "\nus-west-2 (" in result.stdout
