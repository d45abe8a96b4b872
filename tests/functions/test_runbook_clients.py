"""The runbook's boto3 clients (built lazily, one per service, region and endpoint, short timeouts) and what a failed
call means (unreachable, retryable)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from functions.runbook.clients import (
    CONNECT_TIMEOUT_SECONDS,
    MAX_ATTEMPTS,
    READ_TIMEOUT_SECONDS,
    ROUTING_CONTROL_MAX_ATTEMPTS,
    Boto3Clients,
    is_retryable,
    is_unreachable,
)
from tests.support.runbook_doubles import client_error

ARC_URL = "https://host-aaaa.us-west-2.example.route53-recovery-cluster.amazonaws.com/v1"


def test_clients_are_built_once_per_service_and_region_with_short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clients = Boto3Clients()
    dynamodb = clients.dynamodb("eu-west-1")
    assert clients.dynamodb("eu-west-1") is dynamodb and clients.dynamodb("us-east-1") is not dynamodb
    assert dynamodb.meta.region_name == "eu-west-1" and dynamodb.meta.service_model.service_name == "dynamodb"
    config = dynamodb.meta.config
    assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
    assert config.retries == {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}
    assert clients.rds("eu-west-1").meta.service_model.service_name == "rds"
    assert clients.cloudwatch("us-east-1").meta.region_name == "us-east-1"
    assert clients.route53().meta.region_name == "aws-global"  # what boto3 makes of us-east-1 for the global API


def test_a_routing_control_client_talks_to_one_cluster_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clients = Boto3Clients()
    arc = clients.routing_control("us-west-2", ARC_URL)
    assert arc.meta.endpoint_url == ARC_URL and arc.meta.region_name == "us-west-2"
    assert arc.meta.config.retries == {"mode": "standard", "total_max_attempts": ROUTING_CONTROL_MAX_ATTEMPTS}
    assert clients.routing_control("us-west-2", ARC_URL) is arc


@pytest.mark.parametrize(
    ("error", "unreachable", "retryable"),
    [
        (EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"), True, True),
        (ConnectTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"), True, True),
        (ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"), True, True),
        (client_error("InternalServerError", "GetItem", status=500), True, True),
        (client_error("ServiceUnavailable", "GetItem", status=503), True, True),
        (client_error("ThrottlingException", "GetItem"), False, True),
        (client_error("ProvisionedThroughputExceededException", "PutItem"), False, True),
        (client_error("HealthCheckVersionMismatch", "UpdateHealthCheck", status=409), False, True),
        (client_error("InvalidGlobalClusterStateFault", "SwitchoverGlobalCluster"), False, True),
        (client_error("AccessDeniedException", "GetItem", status=403), False, False),
        (client_error("ValidationException", "GetItem"), False, False),
        (ValueError("not an AWS error"), False, False),
    ],
)
def test_failed_calls_are_told_apart(error: Exception, unreachable: bool, retryable: bool) -> None:
    assert (is_unreachable(error), is_retryable(error)) == (unreachable, retryable)
