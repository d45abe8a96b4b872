"""The function table (components/app_functions.py): one entry adds a function everywhere, and a bad entry is refused
with every problem named."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from components import app_functions
from components.app import AppResources, grants_policy, reserved_concurrency, validate_functions
from components.app_functions import (
    ERRORS,
    FUNCTION_TABLE,
    FunctionSpec,
    Grant,
    QueueTrigger,
    StreamTrigger,
    function_alarms,
    function_names,
)
from components.packaging import Package
from planning.diagram import build_diagram
from planning.harness import ACCOUNT_ID, ProgramRun, run_program, stack_config

# A further function: a second consumer of the region's table stream, on a real handler module, with one alarm. Its
# name is one no real entry will take, so the tests hold whatever the table gains.
EXAMPLE = "example-extra"
AUDIT = FunctionSpec(
    name=EXAMPLE,
    handler="functions.stream.handler.handle",
    trigger=StreamTrigger(),
    grants=(
        Grant("ReadStream", ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"), "stream"),
        Grant("ListStreams", ("dynamodb:ListStreams",), "*"),
        Grant("RecordFailedBatches", ("sqs:SendMessage",), "stream_failure_queue"),
    ),
    alarms=(ERRORS,),
)
PREFIX = "multi-region-dev"
# A module no one will create, for the refusals of a handler the package lacks.
MISSING_HANDLER = "functions.no_such_module.handler.handle"


@pytest.fixture(scope="module")
def extended_run() -> ProgramRun:
    """The dev stack with the table plus ``AUDIT``: nothing but the table changes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app_functions, "FUNCTION_TABLE", (*FUNCTION_TABLE, AUDIT))
        assert function_names() == (*(spec.name for spec in FUNCTION_TABLE), EXAMPLE)
        return run_program("dev", preview=False)


def _named(run: ProgramRun, name: str) -> dict[str, object]:
    (resource,) = [r for r in run.resources if r.name == name]
    return resource.inputs


def test_one_entry_adds_the_function_its_role_logs_and_trigger_in_every_region(extended_run: ProgramRun) -> None:
    for region in extended_run.region_order:
        function = _named(extended_run, f"{region}-app-{EXAMPLE}-function")
        assert (function["name"], function["handler"]) == (f"{PREFIX}-{EXAMPLE}", "functions.stream.handler.handle")
        assert function["reservedConcurrentExecutions"] == -1, "the entry names no concurrency setting: unreserved"
        assert function["memorySize"] == 256
        assert "QUEUE_URL" not in function["environment"]["variables"]  # type: ignore[index]
        assert _named(extended_run, f"{region}-app-{EXAMPLE}-logs")["name"] == f"/aws/lambda/{PREFIX}-{EXAMPLE}"
        role = _named(extended_run, f"{region}-app-{EXAMPLE}-role")
        assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}  # type: ignore[arg-type]
        policy = json.loads(_named(extended_run, f"{region}-app-{EXAMPLE}-policy")["policy"])  # type: ignore[arg-type]
        sids = [s["Sid"] for s in policy["Statement"]]
        assert sids[:3] == ["ReadStream", "ListStreams", "RecordFailedBatches"] and "OwnLogs" in sids
        table_key = next(s for s in policy["Statement"] if s["Sid"].startswith("TableKeyThroughDynamoDB"))
        assert table_key["Action"] == ["kms:Decrypt"], "no grant writes items: the table key only decrypts"
        trigger = _named(extended_run, f"{region}-app-{EXAMPLE}-trigger")
        assert trigger["functionName"] == f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function/{region}-app-{EXAMPLE}-function"
        assert trigger["eventSourceArn"] == _named(extended_run, f"{region}-app-stream-trigger")["eventSourceArn"]
        assert trigger["startingPosition"] == "TRIM_HORIZON"


def test_one_entry_adds_its_alarms_dashboard_widgets_diagram_label_and_output(
    extended_run: ProgramRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    alarms = {a.inputs["name"]: a for a in extended_run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    (dashboard,) = extended_run.of_type("aws:cloudwatch/dashboard:Dashboard")
    monkeypatch.setattr(app_functions, "FUNCTION_TABLE", (*FUNCTION_TABLE, AUDIT))  # the diagram reads the table
    diagram = build_diagram(extended_run)
    for region in extended_run.region_order:
        errors = alarms[f"{PREFIX}-{EXAMPLE}-errors-{region}"]
        assert (errors.region, errors.inputs["metricName"]) == (region, "Errors")
        assert errors.inputs["dimensions"] == {"FunctionName": f"{PREFIX}-{EXAMPLE}"}
        assert f"{PREFIX}-{EXAMPLE}-throttles-{region}" not in alarms, "the entry asks for errors only"
        assert f"{PREFIX}-processor-throttles-{region}" in alarms
        (app,) = [n for n in diagram.nodes if n.region == region and n.label.startswith("Lambda: ")]
        names = (*(spec.name for spec in FUNCTION_TABLE), EXAMPLE)
        assert app.label.splitlines()[0] == f"Lambda: {', '.join(sorted(names))}"
        assert extended_run.outputs["application"][region]["functions"] == {f: f"{PREFIX}-{f}" for f in names}
    assert f'"FunctionName", "{PREFIX}-{EXAMPLE}"' in dashboard.inputs["dashboardBody"]


def test_the_table_starts_with_the_three_functions() -> None:
    assert function_names()[:3] == ("processor", "stream", "api")
    assert [a.suffix for a in function_alarms("p", "eu-west-1")][:2] == [
        "processor-errors-eu-west-1",
        "processor-throttles-eu-west-1",
    ]


def _package() -> Package:
    root = Path(__file__).resolve().parent.parent / "functions"
    entries = tuple(sorted(str(p.relative_to(root.parent)) for p in root.rglob("*.py")))
    return Package(path=Path("unused.zip"), sha256_b64="", entries=entries)


def test_the_program_tables_are_valid() -> None:
    validate_functions(FUNCTION_TABLE, _package(), PREFIX)


def test_an_entry_naming_no_concurrency_setting_reserves_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_functions, "FUNCTION_TABLE", (*FUNCTION_TABLE, AUDIT))
    assert AUDIT.concurrency is None
    reserved = reserved_concurrency(stack_config("prod").app)
    assert (reserved["processor"], reserved["stream"], reserved["api"], reserved[EXAMPLE]) == (20, 20, 50, -1)


def test_a_bad_entry_is_refused_with_every_field_and_what_it_allows() -> None:
    bad = FunctionSpec(
        name="Audit",
        handler=MISSING_HANDLER,
        trigger=QueueTrigger("audit-queue"),
        grants=(Grant("Items", ("dynamodb:GetItem",), "items"),),
        environment=("TOKEN",),
        concurrency="audit_concurrency",
        alarms=("latency",),
    )
    with pytest.raises(ValueError) as refused:
        validate_functions((*FUNCTION_TABLE, bad, FUNCTION_TABLE[0]), _package(), PREFIX)
    message = str(refused.value)
    for expected in (
        "function 'processor' is in the table twice",
        "function 'Audit': name must be lower-case letters, digits and '-'",
        "no module functions/no_such_module/handler.py in the package",
        "grant Items: resource 'items' is not '*' or one of table, stream,",
        "environment 'TOKEN' is not one of QUEUE_URL, HEALTH_PATH",
        "concurrency 'audit_concurrency' is not None (unreserved) or one of processor_reserved_concurrency, "
        "api_reserved_concurrency",
        "alarm 'latency' is not one of errors, throttles",
        "trigger.queue 'audit-queue' is not one of events, events-dlq, stream-failures",
    ):
        assert expected in message, expected


def test_a_trigger_without_the_grants_lambda_checks_is_refused() -> None:
    consumer = FunctionSpec(name="drain", handler="functions.processor.handler.handle", trigger=QueueTrigger(), grants=())
    second_api = dataclasses.replace(FUNCTION_TABLE[2], name="api2")
    with pytest.raises(ValueError) as refused:
        validate_functions((*FUNCTION_TABLE, consumer, second_api), _package(), PREFIX)
    message = str(refused.value)
    assert "function 'drain': grants lack sqs:ReceiveMessage on events_queue, which its trigger needs" in message
    assert "route 'POST /events' is claimed twice" in message
    assert "only one function may serve the HTTP API" in message


def _refusal(*entries: FunctionSpec, prefix: str = PREFIX) -> str:
    with pytest.raises(ValueError) as refused:
        validate_functions((*FUNCTION_TABLE, *entries), _package(), prefix)
    return str(refused.value)


@dataclasses.dataclass(frozen=True)
class TopicTrigger:
    """A trigger the application layer has no builder for."""

    topic: str = "events"


def test_an_unknown_trigger_type_is_refused_with_the_types_there_are() -> None:
    unknown = dataclasses.replace(AUDIT, trigger=TopicTrigger())  # type: ignore[arg-type]
    message = _refusal(unknown)
    assert f"function {EXAMPLE!r}: trigger TopicTrigger is not one of QueueTrigger, StreamTrigger, ApiTrigger" in message


def test_a_second_consumer_of_a_queue_is_refused() -> None:
    processor = FUNCTION_TABLE[0]
    assert isinstance(processor.trigger, QueueTrigger)
    message = _refusal(dataclasses.replace(processor, name=EXAMPLE, concurrency=None))
    assert "trigger.queue 'events' is consumed twice (one function per queue" in message


def test_the_runbooks_name_is_refused() -> None:
    message = _refusal(dataclasses.replace(AUDIT, name="runbook"))
    assert f"function 'runbook': name 'runbook' is taken ({PREFIX}-runbook is another function); not one of runbook" in message


def test_a_name_past_lambdas_64_characters_is_refused_with_the_room_left() -> None:
    prefix = "multi-region-production"  # 23 characters and the '-': 40 are left for the name
    fits, too_long = "a" * 40, "a" * 41
    validate_functions((*FUNCTION_TABLE, dataclasses.replace(AUDIT, name=fits)), _package(), prefix)
    message = _refusal(dataclasses.replace(AUDIT, name=too_long), prefix=prefix)
    assert (
        f"name {too_long!r}: the function name '{prefix}-{too_long}' has 65 characters, Lambda allows at most 64 "
        "(at most 40 for the name with this prefix)"
    ) in message


def test_writes_and_sends_are_derived_from_the_grants() -> None:
    resources = _resources()
    writer = dataclasses.replace(AUDIT, grants=(*AUDIT.grants, Grant("TableItems", ("dynamodb:PutItem",), "table")))
    reader = dataclasses.replace(AUDIT, grants=(Grant("TableItems", ("dynamodb:GetItem",), "table"),))
    keys = {
        name: {s["Sid"]: s["Action"] for s in grants_policy(spec, resources, "/aws/lambda/p-x")["Statement"]}
        for name, spec in (("writer", writer), ("reader", reader))
    }
    assert keys["writer"]["TableKeyThroughDynamoDBEuWest1"] == [
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
    ]
    assert keys["writer"]["RegionKeyThroughSqs"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert keys["reader"]["TableKeyThroughDynamoDBEuWest1"] == ["kms:Decrypt"]
    assert keys["reader"]["RegionKeyThroughSqs"] == ["kms:Decrypt"]


def _resources() -> AppResources:
    arn = "arn:aws:{}:eu-west-1:111122223333:{}"
    return AppResources(
        partition="aws",
        region="eu-west-1",
        account_id="111122223333",
        table=arn.format("dynamodb", "table/t"),
        stream=arn.format("dynamodb", "table/t/stream/x"),
        events_queue=arn.format("sqs", "q"),
        dead_letter_queue=arn.format("sqs", "q-dlq"),
        stream_failure_queue=arn.format("sqs", "q-failures"),
        key=arn.format("kms", "key/k"),
        table_key=arn.format("kms", "key/k"),
        cache_cluster=arn.format("memorydb", "cluster/c"),
        cache_user=arn.format("memorydb", "user/u"),
    )
