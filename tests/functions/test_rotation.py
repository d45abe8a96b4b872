"""The master secret's rotation function (functions/rotation/handler.py), driven by moto's Secrets Manager RotateSecret
over HTTP, against the Aurora double's writer: Secrets Manager's four steps, repeated deliveries, a writer moved by a
switchover, a change RDS has not applied yet, and refusals that leave the current password in place.

Moto runs a rotation function in Docker, which this machine lacks: :class:`LambdaRunsHandlerDouble` stands for
Lambda's invoke and runs ``handle`` in-process, within an in-process moto server (``ThreadedMotoServer``).
"""

from __future__ import annotations

import json
import string
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.rotation import handler
from functions.rotation.handler import CURRENT, PASSWORD_LENGTH, PENDING, RotationError
from functions.shared.errors import ValidationError
from simulation.aurora_double import GlobalClusterDouble
from simulation.local_servers import free_port

HOME, OTHER = "us-east-1", "eu-west-1"
GLOBAL_ID = "multi-region-prod"
CLUSTERS = {HOME: f"arn:aws:rds:{HOME}:123456789012:cluster:prod-a", OTHER: f"arn:aws:rds:{OTHER}:123456789012:cluster:prod-b"}
SECRET = f"{GLOBAL_ID}/aurora/master"
FUNCTION_ARN = f"arn:aws:lambda:{HOME}:123456789012:function:{GLOBAL_ID}-secret-rotation"
FIRST = {
    "engine": "postgres",
    "host": "writer.global-abc.global.rds.amazonaws.com",
    "port": 5432,
    "dbname": "postgres",
    "username": "app_admin",
    "password": "first-Password-1!",
    "globalClusterIdentifier": GLOBAL_ID,
}


class Context:
    aws_request_id = "rotation-request"
    function_name = f"{GLOBAL_ID}-secret-rotation"

    def __init__(self, remaining_ms: int = 300_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Clients:
    """The handler's clients: Secrets Manager on the moto server, RDS from the Aurora double."""

    def __init__(self, endpoint: str, aurora: GlobalClusterDouble) -> None:
        self.endpoint, self.aurora = endpoint, aurora

    def secretsmanager(self) -> Any:
        return boto3.client(
            "secretsmanager", region_name=HOME, endpoint_url=self.endpoint, aws_access_key_id="t", aws_secret_access_key="t"
        )

    def rds(self, region: str) -> Any:
        return self.aurora.client(region)


class LambdaRunsHandlerDouble:
    """Lambda as moto's RotateSecret calls it (``get_function``, ``invoke``): the rotation function's ARN only, each
    step run by ``handle`` in-process, ``deliveries`` times (Lambda may deliver an event more than once)."""

    def __init__(self, clients: Clients, context: Context, deliveries: int = 1) -> None:
        self.clients, self.context, self.deliveries = clients, context, deliveries
        self.steps: list[str] = []

    def get_function(self, name: str, qualifier: str | None = None) -> object:
        if name != FUNCTION_ARN:
            raise ValueError(f"no function {name}")
        return self

    def invoke(self, name: str, qualifier: str | None, body: str, headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body)
        for _ in range(self.deliveries):
            self.steps.append(event["Step"])
            handler.handle(event, self.context, clients=self.clients)
        return b""


def test_the_lambda_double_runs_only_its_function() -> None:
    double = LambdaRunsHandlerDouble(Clients("http://127.0.0.1:1", GlobalClusterDouble(GLOBAL_ID, CLUSTERS, HOME)), Context())
    assert double.get_function(FUNCTION_ARN) is double
    with pytest.raises(ValueError, match="no function"):
        double.get_function(FUNCTION_ARN + "-other")


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def world(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Clients, GlobalClusterDouble, Any]]:
    """The master secret with its first value, the global database with that password, and a Lambda that runs the
    handler."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=5).close()
    monkeypatch.setenv("AWS_REGION", HOME)
    aurora = GlobalClusterDouble(GLOBAL_ID, CLUSTERS, HOME, password=FIRST["password"])
    clients = Clients(moto_endpoint, aurora)
    secrets = clients.secretsmanager()
    secrets.create_secret(Name=SECRET, SecretString=json.dumps(FIRST))
    yield clients, aurora, secrets


def _lambda(monkeypatch: pytest.MonkeyPatch, clients: Clients, **kwargs: Any) -> LambdaRunsHandlerDouble:
    import moto.awslambda.utils

    double = LambdaRunsHandlerDouble(clients, **{"context": Context(), **kwargs})
    monkeypatch.setattr(moto.awslambda.utils, "get_backend", lambda account, region: double)
    return double


def _rotate(secrets: Any) -> None:
    secrets.rotate_secret(SecretId=SECRET, RotationLambdaARN=FUNCTION_ARN, RotationRules={"AutomaticallyAfterDays": 30})


def _value(secrets: Any, stage: str = CURRENT) -> dict[str, Any]:
    return dict(json.loads(secrets.get_secret_value(SecretId=SECRET, VersionStage=stage)["SecretString"]))


def test_a_rotation_gives_the_writer_and_the_secret_one_new_password(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clients, aurora, secrets = world
    double = _lambda(monkeypatch, clients)
    _rotate(secrets)
    assert double.steps == ["createSecret", "setSecret", "testSecret", "finishSecret"]
    current = _value(secrets)
    assert current["password"] != FIRST["password"] and aurora.password == current["password"]
    assert {k: v for k, v in current.items() if k != "password"} == {k: v for k, v in FIRST.items() if k != "password"}
    assert _value(secrets, "AWSPREVIOUS") == FIRST
    (modify,) = [c for c in aurora.calls if c.operation == "ModifyDBCluster"]
    assert modify.region == HOME and modify.params == {
        "DBClusterIdentifier": "prod-a",
        "MasterUserPassword": current["password"],
        "ApplyImmediately": True,
    }


def test_after_a_switchover_the_password_is_set_on_the_writer_in_the_other_region(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients, aurora, secrets = world
    aurora.describes_per_switch = 0
    aurora.client(HOME).switchover_global_cluster(GlobalClusterIdentifier=GLOBAL_ID, TargetDbClusterIdentifier=CLUSTERS[OTHER])
    _lambda(monkeypatch, clients)
    _rotate(secrets)
    (modify,) = [c for c in aurora.calls if c.operation == "ModifyDBCluster"]
    assert modify.region == OTHER and modify.params["DBClusterIdentifier"] == "prod-b"
    assert aurora.password == _value(secrets)["password"]


def test_every_step_delivered_twice_makes_one_new_version(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clients, aurora, secrets = world
    double = _lambda(monkeypatch, clients, deliveries=2)
    _rotate(secrets)
    assert len(double.steps) == 8
    stages = secrets.describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    assert sorted(label for labels in stages.values() for label in labels if label != PENDING) == ["AWSCURRENT", "AWSPREVIOUS"]
    assert aurora.password == _value(secrets)["password"]
    modifies = [c.params["MasterUserPassword"] for c in aurora.calls if c.operation == "ModifyDBCluster"]
    assert len(modifies) == 2 and len(set(modifies)) == 1


def test_the_test_step_waits_until_rds_has_applied_the_change(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clients, aurora, secrets = world
    aurora.describes_per_password = 3
    slept: list[float] = []
    monkeypatch.setattr(handler.time, "sleep", slept.append)
    _lambda(monkeypatch, clients)
    _rotate(secrets)
    assert slept == [handler.POLL_SECONDS] * 3  # three describes show the change pending
    assert aurora.password == _value(secrets)["password"]


def test_a_change_not_applied_before_the_deadline_fails_and_the_current_password_stays(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients, aurora, secrets = world
    aurora.describes_per_password = 100
    _lambda(monkeypatch, clients, context=Context(remaining_ms=5_000))
    with pytest.raises(ClientError):
        _rotate(secrets)
    assert _value(secrets) == FIRST  # AWSCURRENT still names the first password; the retry finishes the rotation


def test_an_unreachable_writer_region_fails_the_rotation_and_loses_nothing(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clients, aurora, secrets = world
    aurora.set_down(HOME, True)
    _lambda(monkeypatch, clients)
    with pytest.raises(ClientError):
        _rotate(secrets)
    assert _value(secrets) == FIRST and aurora.password == FIRST["password"]


def test_the_step_directly_is_refused_without_rotation_or_for_an_unknown_version(world: Any) -> None:
    clients, _, secrets = world
    event = {"SecretId": SECRET, "ClientRequestToken": "a" * 36, "Step": "createSecret"}
    with pytest.raises(ValidationError, match=r"SecretId: .* rotation turned off"):
        handler.rotate(event, clients, HOME, lambda: 300.0)
    secrets.put_secret_value(SecretId=SECRET, SecretString=json.dumps(FIRST))
    assert _value(secrets) == FIRST


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ("text", "event"),
        ({"ClientRequestToken": "t", "Step": "createSecret"}, "SecretId"),
        ({"SecretId": "s", "ClientRequestToken": "", "Step": "createSecret"}, "ClientRequestToken"),
        ({"SecretId": "s", "ClientRequestToken": "t", "Step": "rotate"}, "Step"),
    ],
)
def test_a_malformed_event_is_refused_naming_the_field(event: Any, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        handler.parse_event(event)
    assert refused.value.field == field
    if field == "Step":
        assert "createSecret, setSecret, testSecret, finishSecret" in refused.value.message


def test_new_passwords_are_what_aurora_accepts_with_every_character_class() -> None:
    for _ in range(200):
        password = handler.new_password()
        assert len(password) == PASSWORD_LENGTH <= 41
        assert not set(password) & set('/"@ ')
        for chars in (string.ascii_lowercase, string.ascii_uppercase, string.digits, handler.PASSWORD_SPECIALS):
            assert set(password) & set(chars)


def test_a_writer_that_is_not_a_cluster_arn_is_refused() -> None:
    with pytest.raises(RotationError, match="not a cluster ARN"):
        handler.Writer.from_arn("arn:aws:rds:us-east-1:1:db:instance-1")
    assert handler.Writer.from_arn(CLUSTERS[OTHER]) == handler.Writer(OTHER, "prod-b")
