"""policy/__main__.py: the pack the Pulumi CLI runs, built and queried the way the engine does, without the engine.

``PolicyPack(...)`` starts the analyzer's gRPC server, prints its port and sleeps until interrupted. The test runs
``__main__.py`` as ``python -m pulumi.policy`` would, with that sleep replaced: while the real server is up, it
asks the analyzer what the engine asks (its policies, then an analysis of a resource and of a stack), and then
interrupts it, which is how the SDK stops the server.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pulumi_policy.policy as sdk
import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.core import ResourceRule
from policy.pack import PACK_NAME, RULES

MAIN = Path(__file__).resolve().parents[2] / "policy" / "__main__.py"
EAST, WEST = "us-east-1", "eu-west-1"
TABLE_URN = "urn:pulumi:prod::multi-region::aws:dynamodb/table:Table::items"


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(props, struct_pb2.Struct())


def engine_provider(region: str) -> Any:
    props = struct({"region": region, "defaultTags": '{"tags": {"role": "primary"}}'})
    return proto.AnalyzerProviderResource(
        type="pulumi:providers:aws", properties=props, urn=f"urn:aws-{region}", name=f"aws-{region}"
    )


def engine_calls(servicer: Any) -> dict[str, Any]:
    """What the engine asks a policy pack: its policies, a resource's analysis, the stack's analysis."""
    cluster = proto.AnalyzeRequest(
        type="aws:rds/cluster:Cluster",
        properties=struct({"storageEncrypted": False, "kmsKeyId": UNKNOWN_STRING_VALUE}),
        urn="urn:cluster",
        name="cluster",
        provider=engine_provider(EAST),
    )
    table = proto.AnalyzerResource(
        type="aws:dynamodb/table:Table",
        properties=struct({"name": "items"}),
        urn=TABLE_URN,
        name="items",
        provider=engine_provider(EAST),
    )
    queue = proto.AnalyzerResource(
        type="aws:sqs/queue:Queue", properties=struct({}), urn="urn:queue", name="queue", provider=engine_provider(WEST)
    )
    return {
        "info": servicer.GetAnalyzerInfo(None, None),
        "resource": servicer.Analyze(cluster, None),
        "stack": servicer.AnalyzeStack(proto.AnalyzeStackRequest(resources=[table, queue]), None),
    }


@pytest.fixture
def analyzer(monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]) -> dict[str, Any]:
    servicers: list[Any] = []
    answers: dict[str, Any] = {}
    add_servicer = analyzer_pb2_grpc.add_AnalyzerServicer_to_server

    def add(servicer: Any, server: Any) -> None:
        servicers.append(servicer)
        add_servicer(servicer, server)

    def sleep(_seconds: float) -> None:
        answers.update(engine_calls(servicers[0]))
        raise KeyboardInterrupt

    monkeypatch.setattr(analyzer_pb2_grpc, "add_AnalyzerServicer_to_server", add)
    monkeypatch.setattr(sdk, "time", SimpleNamespace(sleep=sleep))
    monkeypatch.setattr(sys, "path", list(sys.path))
    runpy.run_path(str(MAIN), run_name="__main__")
    answers["port"] = capsysbinary.readouterr().out.decode().strip()
    return answers


def test_the_pack_serves_every_rule_with_its_level(analyzer: dict[str, Any]) -> None:
    info = analyzer["info"]
    assert analyzer["port"].isdigit()
    assert info.name == PACK_NAME
    served = {p.name: (p.description, p.enforcementLevel, p.policy_type) for p in info.policies}
    assert len(served) == len(RULES) >= 25
    for rule in RULES:
        level = proto.ADVISORY if rule.advisory else proto.MANDATORY
        kind = proto.PolicyType.POLICY_TYPE_RESOURCE if isinstance(rule, ResourceRule) else proto.PolicyType.POLICY_TYPE_STACK
        assert served[rule.name] == (rule.description, level, kind)


def test_the_engine_gets_the_rules_verdict_on_a_resource(analyzer: dict[str, Any]) -> None:
    by_rule = {d.policyName: d for d in analyzer["resource"].diagnostics}
    assert "storageEncrypted must be true" in by_rule["rds-storage-encrypted"].message
    assert by_rule["rds-storage-encrypted"].enforcementLevel == proto.MANDATORY
    # The key is known only after the update: set, so it is no violation, and nothing failed to run.
    assert "kmsKeyId" not in by_rule["rds-storage-encrypted"].message
    assert "rds-iam-authentication" in by_rule and "during preview" not in by_rule["rds-iam-authentication"].message


def test_the_engine_gets_stack_violations_with_regions_from_its_providers(analyzer: dict[str, Any]) -> None:
    diagnostics = [d for d in analyzer["stack"].diagnostics if d.policyName == "dynamodb-replicated-to-every-region"]
    assert [(d.urn, d.message.splitlines()[-1]) for d in diagnostics] == [(TABLE_URN, "table items has no replica in eu-west-1")]
    parity = [
        d.message.splitlines()[-1] for d in analyzer["stack"].diagnostics if d.policyName == "stateful-stores-in-every-region"
    ]
    assert parity == [f"{EAST} has 0 aws:sqs/queue:Queue where {WEST} has 1: a failover to {EAST} would find them missing"]
