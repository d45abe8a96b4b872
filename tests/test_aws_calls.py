"""The reader of the Lambda code's AWS calls (tests/support/aws_calls.py), on the real handlers and on small cases."""

from __future__ import annotations

import ast

import pytest

from tests.support import aws_calls
from tests.support.aws_calls import AmbiguousOperationError, AwsCall, handler_calls


def _actions(entry: str) -> list[str]:
    return sorted(call.action for call in handler_calls(entry))


def test_each_handler_reaches_exactly_the_calls_its_code_makes() -> None:
    assert _actions("functions.api.handler.handle") == [
        "cloudwatch:GetMetricData",
        "cloudwatch:ListMetrics",
        "dynamodb:GetItem",
        "sqs:SendMessage",
    ]
    # The write path's TransactWriteItems is authorised by the Put and the Update it carries.
    assert _actions("functions.processor.handler.handle") == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    # The stream handler's dict lookups (record.get(...)) do not reach StateCache.get, which it never constructs.
    assert _actions("functions.stream.handler.handle") == ["dynamodb:PutItem"]
    runbook = _actions("functions.runbook.handler.handle")
    # The steps are reached through the runner's table of steps; the Aurora, traffic and metric calls through them.
    assert {"rds:SwitchoverGlobalCluster", "rds:FailoverGlobalCluster", "route53:UpdateHealthCheck"} <= set(runbook)
    assert {"route53-recovery-cluster:UpdateRoutingControlStates", "cloudwatch:GetMetricData"} <= set(runbook)
    assert {a for a in runbook if a.startswith("dynamodb:")} == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}


def test_the_rotation_function_reads_and_stages_the_secret_and_sets_the_password_on_the_writer() -> None:
    assert _actions("functions.rotation.handler.handle") == [
        "rds:DescribeDBClusters",
        "rds:DescribeGlobalClusters",
        "rds:ModifyDBCluster",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ]


def test_the_services_are_those_the_code_builds_clients_for() -> None:
    assert aws_calls.client_services() == {
        "cloudwatch",
        "dynamodb",
        "rds",
        "route53",
        "route53-recovery-cluster",
        "secretsmanager",
        "sqs",
        # The runtime-settings parameter, read through Powertools' SSMProvider on this client (its GetParameter is
        # Powertools' call, which the IAM grant tests derive from the function's environment).
        "ssm",
    }
    assert AwsCall("cloudwatch", "GetMetricData").action == "cloudwatch:GetMetricData"


def test_an_unknown_entry_is_refused_with_an_example() -> None:
    with pytest.raises(ValueError, match=r"functions\.api\.handler\.nothing is not a function of functions/; e\.g\. "):
        handler_calls("functions.api.handler.nothing")


def test_an_operation_two_services_share_is_refused() -> None:
    """``tag_resource`` is an operation of several of the services: a method of that name cannot be attributed."""
    module = aws_calls._modules()["functions.api.handler"]
    function = aws_calls._Function("functions.api.handler.tagging", module.name, None, ast.parse("client.tag_resource()"))
    with pytest.raises(AmbiguousOperationError, match=r"uses \.tag_resource, an operation of .* and "):
        list(aws_calls._edges(function))
