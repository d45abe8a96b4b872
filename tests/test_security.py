"""Cross-cutting guarantees over every resource of every region: reachability and protection."""

from __future__ import annotations

from typing import Any

import pytest

from planning.harness import ProgramRun
from tests.support.program import ProgramRunner

WORLD = {"0.0.0.0/0", "::/0"}
# Types whose loss loses data or access to data: protected (and kept on delete) in prod, free to go in dev.
STATEFUL_TYPES = (
    "aws:kms/key:Key",
    "aws:rds/globalCluster:GlobalCluster",
    "aws:rds/cluster:Cluster",
    "aws:memorydb/cluster:Cluster",
    "aws:eks/cluster:Cluster",
    "aws:secretsmanager/secret:Secret",
    "aws:dynamodb/table:Table",
)


def _rules(group_inputs: dict[str, Any], direction: str) -> list[dict[str, Any]]:
    return list(group_inputs.get(direction) or [])


def test_nothing_admits_the_world_except_https(stack_run: ProgramRun) -> None:
    groups = [
        g
        for g in stack_run.resources
        if g.type in ("aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    ]
    assert groups
    for group in groups:
        for rule in _rules(group.inputs, "ingress"):
            open_to = WORLD & set(rule.get("cidrBlocks", []) + rule.get("ipv6CidrBlocks", []))
            if open_to:
                assert (rule["fromPort"], rule["toPort"]) == (443, 443), f"{group.name} admits {open_to} beyond 443"
    standalone = [r for r in stack_run.resources if r.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"]
    for rule in standalone:
        assert rule.inputs.get("cidrIpv4") not in WORLD or rule.inputs.get("fromPort") == 443


@pytest.mark.parametrize(("port", "store"), [(5432, "aurora-sg"), (6379, "memorydb-sg")])
def test_data_stores_admit_only_their_clients_by_group(stack_run: ProgramRun, port: int, store: str) -> None:
    for region in stack_run.regions():
        group = next(g for g in stack_run.of_type("aws:ec2/securityGroup:SecurityGroup", region) if g.name.endswith(store))
        sources: set[str] = set()
        for rule in _rules(group.inputs, "ingress"):
            assert (rule["fromPort"], rule["toPort"]) == (port, port)
            assert not rule.get("cidrBlocks") and not rule.get("ipv6CidrBlocks"), f"{group.name} admits addresses"
            sources |= set(rule["securityGroups"])
        assert sources == {f"{region}-app-sg-id", f"{region}-eks-cluster-cluster-sg-id"}


def test_stateful_resources_protected_in_prod_and_free_in_dev(run_stack: ProgramRunner) -> None:
    prod, dev = run_stack("prod"), run_stack("dev")
    for type_ in STATEFUL_TYPES:
        assert prod.of_type(type_), f"no {type_} in prod"
        for resource in prod.of_type(type_):
            assert resource.protect and resource.retain_on_delete, f"prod {resource.name} is not protected"
        for resource in dev.of_type(type_):
            assert not resource.protect and not resource.retain_on_delete, f"dev {resource.name} is protected"
    data_buckets = [b for b in prod.of_type("aws:s3/bucket:Bucket") if b.name.endswith("-bucket-data")]
    assert len(data_buckets) == 2 and all(b.protect for b in data_buckets)
    assert not any(b.protect for b in dev.of_type("aws:s3/bucket:Bucket"))


def test_service_deletion_protection_follows_the_stack(run_stack: ProgramRunner) -> None:
    for stack, protected in (("prod", True), ("dev", False)):
        run = run_stack(stack)
        for cluster in run.of_type("aws:rds/cluster:Cluster") + run.of_type("aws:rds/globalCluster:GlobalCluster"):
            assert cluster.inputs["deletionProtection"] is protected
        for cluster in run.of_type("aws:eks/cluster:Cluster"):
            assert cluster.inputs["deletionProtection"] is protected
        for table in run.of_type("aws:dynamodb/table:Table"):
            assert table.inputs["deletionProtectionEnabled"] is protected
            assert all(r["deletionProtectionEnabled"] is protected for r in table.inputs["replicas"])
