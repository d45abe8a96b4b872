"""The regional API handler, called in-process with HTTP API (payload 2.0) events, against a real Redis server and the
moto server's DynamoDB and SQS."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from functions.api import handler
from functions.api.handler import Api, handle
from functions.shared.cache import ItemCache, cache_breaker
from functions.shared.clients import aws_client, redis_client
from functions.shared.events import parse_event
from functions.shared.log import JsonFormatter, now_ms
from functions.shared.metrics import Metrics
from functions.shared.schema import STATUS_ACTIVE, STATUS_FENCED
from functions.shared.settings import Settings
from functions.shared.state import AppState, ItemTable, transition
from simulation.http_api import http_api_event
from simulation.local_servers import RedisServer, free_port
from simulation.local_tables import create_items_table as create_table
from tests.support.cache_doubles import CallCounter, CountingRedis, put_item
from tests.support.dynamo import function_client

REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
TABLE = "multi-region-test-items"


@pytest.fixture
def settings(redis_server: RedisServer) -> Settings:
    return Settings(
        region=REGION,
        table_name=TABLE,
        cache_host=redis_server.host,
        cache_port=redis_server.port,
        cache_tls=False,
        cache_cluster=False,
    )


@pytest.fixture
def table(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> ItemTable:
    """The table with its real schema and the state record as the first deploy writes it (active here, epoch 1)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    client = function_client("dynamodb", REGION)
    create_table(client, TABLE)
    table = ItemTable(client, TABLE)
    client.put_item(TableName=TABLE, Item=AppState(STATUS_ACTIVE, REGION, 1, 0, "pulumi").to_item())
    put_item(table, "item-1", data={"n": 7}, version=3, timestamp=1_700_000_000_000, region=OTHER_REGION)
    return table


@pytest.fixture
def sqs(table: ItemTable) -> Any:
    return function_client("sqs", REGION)


@pytest.fixture
def queue_url(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName="multi-region-test-events")["QueueUrl"])


@pytest.fixture
def redis_calls(settings: Settings) -> Iterator[CountingRedis]:
    client = redis_client(settings)
    client.flushdb()
    yield CountingRedis(client)
    client.close()


@pytest.fixture
def metrics_out() -> io.StringIO:
    return io.StringIO()


ApiFactory = Callable[..., Api]


@pytest.fixture
def make_api(settings: Settings, table: ItemTable, sqs: Any, redis_calls: CountingRedis, metrics_out: io.StringIO) -> ApiFactory:
    """Builds an Api as a container would, for ``region``, with a given Redis client and queue."""

    def build(*, region: str = REGION, redis: Any = redis_calls, queue_url: str = "") -> Api:
        regional = Settings(**{**settings.__dict__, "region": region, "queue_url": queue_url})
        metrics = Metrics("api", stream=metrics_out)
        cache = ItemCache(redis, regional.cache_ttl_seconds, metrics, breaker=cache_breaker(metrics))
        return Api(regional, table, sqs, cache, metrics, state_cache_seconds=0.0)

    return build


@pytest.fixture
def api(make_api: ApiFactory, queue_url: str) -> Api:
    return make_api(queue_url=queue_url)


def request(route: str, *, item_id: str | None = None, body: Any = None, query: dict[str, str] | None = None) -> dict[str, Any]:
    return http_api_event(route, item_id=item_id, body=body, query=query, request_id=f"req-{route}")


def call(api: Api, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = handle(event, None, api)
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def messages(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages"):
        received.extend(batch)
    return received


def fence(table: ItemTable) -> None:
    transition(table, expected_epoch=1, to_status=STATUS_FENCED, active_region=REGION, updated_by="test")


def event_body(**overrides: Any) -> dict[str, Any]:
    return {"id": "item-2", "data": {"colour": "blue"}, "timestamp": now_ms(), "idempotencyKey": "key-1", **overrides}


# ---- GET /items/{id} -------------------------------------------------------------------------------------


ITEM_1 = {"Id": "item-1", "Data": {"n": 7}, "Version": 3, "Timestamp": 1_700_000_000_000, "LastUpdatedRegion": OTHER_REGION}


def test_get_item_reads_through_the_cache(api: Api, table: ItemTable) -> None:
    get_items = CallCounter(table.client, "dynamodb", "GetItem")
    status, body, headers = call(api, request("GET /items/{id}", item_id="item-1"))
    assert (status, body, headers["x-cache"]) == (200, ITEM_1, "db")
    status, body, headers = call(api, request("GET /items/{id}", item_id="item-1"))
    assert (status, body, headers["x-cache"]) == (200, ITEM_1, "cache")
    assert get_items.count == 1


def test_get_item_shows_only_the_public_attributes_of_a_copy_a_writer_cached(api: Api) -> None:
    api.cache.store("item-9", {**ITEM_1, "Id": "item-9", "Version": "4", "IdempotencyKey": "k", "PayloadHash": "h"})
    status, body, _ = call(api, request("GET /items/{id}", item_id="item-9"))
    assert (status, body) == (200, {**ITEM_1, "Id": "item-9", "Version": 4})


def test_a_missing_item_is_404_and_then_served_from_the_negative_entry(api: Api, table: ItemTable) -> None:
    get_items = CallCounter(table.client, "dynamodb", "GetItem")
    for source in ("db", "negative-cache"):
        status, body, headers = call(api, request("GET /items/{id}", item_id="nope"))
        assert (status, body["error"], body["field"], headers["x-cache"]) == (404, "not_found", "id", source)
    assert get_items.count == 1


@pytest.mark.parametrize("bad_id", ["", "a#b", "STATE#application", "-starts-with-dash", "x" * 129, "sp ace", "é"])
def test_a_bad_item_id_is_400_naming_the_id(api: Api, table: ItemTable, bad_id: str) -> None:
    get_items = CallCounter(table.client, "dynamodb", "GetItem")
    status, body, _ = call(api, request("GET /items/{id}", item_id=bad_id))
    assert status == 400
    assert (body["error"], body["field"]) == ("validation", "id")
    assert body["message"]
    assert get_items.count == 0


def test_a_missing_path_parameter_is_400_naming_the_id(api: Api) -> None:
    status, body, _ = call(api, request("GET /items/{id}"))
    assert (status, body["field"]) == (400, "id")


def test_reads_continue_while_the_region_is_fenced(api: Api, table: ItemTable) -> None:
    fence(table)
    status, body, _ = call(api, request("GET /items/{id}", item_id="item-1"))
    assert (status, body) == (200, ITEM_1)


def test_a_table_that_cannot_be_read_is_503(api: Api, table: ItemTable) -> None:
    table.client.delete_table(TableName=TABLE)
    status, body, headers = call(api, request("GET /items/{id}", item_id="item-1"))
    assert (status, body["error"], body["field"]) == (503, "unavailable", "dependency")
    assert headers["Retry-After"] == "5"


# ---- POST /events --------------------------------------------------------------------------------------


def test_post_event_enqueues_exactly_one_normalised_message(api: Api, sqs: Any, queue_url: str) -> None:
    sent = event_body(expectedVersion=0)
    status, body, _ = call(api, request("POST /events", body=json.dumps(sent, indent=2)))
    assert (status, body["accepted"], body["id"], body["idempotencyKey"]) == (202, True, "item-2", "key-1")
    (message,) = messages(sqs, queue_url)
    assert message["MessageId"] == body["messageId"]
    assert message["Body"] == json.dumps(sent, sort_keys=True, separators=(",", ":"))
    assert parse_event(message["Body"], now_ms=now_ms(), max_skew_ms=300_000).as_body() == sent


def test_a_base64_body_is_decoded(api: Api, sqs: Any, queue_url: str) -> None:
    event = request("POST /events")
    event["body"] = base64.b64encode(json.dumps(event_body()).encode()).decode()
    event["isBase64Encoded"] = True
    status, _, _ = call(api, event)
    assert status == 202
    assert len(messages(sqs, queue_url)) == 1


BAD_BODIES = [
    pytest.param("{not json", "body", id="invalid-json"),
    pytest.param("", "body", id="empty"),
    pytest.param("[1, 2]", "body", id="array"),
    pytest.param(event_body(id=None), "id", id="id-null"),
    pytest.param({k: v for k, v in event_body().items() if k != "id"}, "id", id="id-missing"),
    pytest.param(event_body(id="a/b"), "id", id="id-slash"),
    pytest.param(event_body(data=[1, 2]), "data", id="data-array"),
    pytest.param({k: v for k, v in event_body().items() if k != "data"}, "data", id="data-missing"),
    pytest.param(event_body(timestamp="yesterday"), "timestamp", id="timestamp-string"),
    pytest.param(event_body(timestamp=-1), "timestamp", id="timestamp-negative"),
    pytest.param(event_body(timestamp=now_ms() + 3_600_000), "timestamp", id="timestamp-future"),
    pytest.param(event_body(idempotencyKey=""), "idempotencyKey", id="key-empty"),
    pytest.param(event_body(idempotencyKey="k#1"), "idempotencyKey", id="key-hash"),
    pytest.param(event_body(expectedVersion="3"), "expectedVersion", id="expected-version-string"),
    pytest.param(event_body(expectedVersion=-1), "expectedVersion", id="expected-version-negative"),
    pytest.param(event_body(colour="red"), "colour", id="unknown-field"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_a_bad_event_is_400_naming_the_field_and_nothing_is_enqueued(
    api: Api, sqs: Any, queue_url: str, body: Any, field: str
) -> None:
    status, answer, _ = call(api, request("POST /events", body=body))
    assert status == 400
    assert (answer["error"], answer["field"]) == ("validation", field)
    assert answer["message"]
    assert messages(sqs, queue_url) == []


def test_invalid_base64_is_400_naming_the_body(api: Api) -> None:
    event = request("POST /events", body="%%%")
    event["isBase64Encoded"] = True
    status, body, _ = call(api, event)
    assert (status, body["field"]) == (400, "body")


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param("abc", id="bad-padding"),
        pytest.param(base64.b64encode(b"\xff\xfe{}").decode(), id="not-utf8"),
        pytest.param(base64.b64encode(b"[1, 2]").decode(), id="json-array"),
    ],
)
def test_a_base64_body_that_is_not_a_json_object_is_400_naming_the_body(api: Api, sqs: Any, queue_url: str, encoded: str) -> None:
    event = request("POST /events", body=encoded)
    event["isBase64Encoded"] = True
    status, body, _ = call(api, event)
    assert (status, body["error"], body["field"]) == (400, "validation", "body")
    assert messages(sqs, queue_url) == []


def test_a_base64_body_naming_a_bad_field_is_400_naming_that_field(api: Api) -> None:
    event = request("POST /events")
    event["body"] = base64.b64encode(json.dumps(event_body(timestamp="yesterday")).encode()).decode()
    event["isBase64Encoded"] = True
    status, body, _ = call(api, event)
    assert (status, body["error"], body["field"]) == (400, "validation", "timestamp")


def test_a_fenced_region_refuses_events_with_a_retryable_503(api: Api, table: ItemTable, sqs: Any, queue_url: str) -> None:
    fence(table)
    status, body, headers = call(api, request("POST /events", body=event_body()))
    assert (status, body["error"], body["field"]) == (503, "unavailable", "state")
    assert "fenced" in body["message"]
    assert headers["Retry-After"] == "5"
    assert messages(sqs, queue_url) == []


def test_a_passive_region_refuses_events(make_api: ApiFactory, sqs: Any, queue_url: str) -> None:
    passive = make_api(region=OTHER_REGION, queue_url=queue_url)
    status, body, _ = call(passive, request("POST /events", body=event_body()))
    assert (status, body["field"]) == (503, "state")
    assert messages(sqs, queue_url) == []


def test_the_write_check_reuses_a_state_read_for_a_moment(api: Api, table: ItemTable, sqs: Any, queue_url: str) -> None:
    ticks = iter([0.0, 0.5, 1.5])
    api.clock, api.state_cache_seconds = lambda: next(ticks), 1.0
    get_items = CallCounter(table.client, "dynamodb", "GetItem")
    for key in ("key-1", "key-2", "key-3"):
        assert call(api, request("POST /events", body=event_body(idempotencyKey=key)))[0] == 202
    assert get_items.count == 2  # read at 0.0, reused at 0.5, read again at 1.5
    assert len(messages(sqs, queue_url)) == 3


def test_a_fifo_queue_gets_a_group_and_a_deduplication_id(make_api: ApiFactory, sqs: Any) -> None:
    url = sqs.create_queue(QueueName="events.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    fifo = make_api(queue_url=url)
    for _ in range(2):  # the same event twice: SQS keeps one
        assert call(fifo, request("POST /events", body=event_body(timestamp=1_700_000_000_000)))[0] == 202
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"])["Messages"]
    assert len(received) == 1
    assert received[0]["Attributes"]["MessageGroupId"] == "item-2"


# ---- GET /health and GET /state --------------------------------------------------------------------------


def test_health_is_200_when_active_here_with_table_and_cache_up_for_one_read_and_one_ping(
    api: Api, table: ItemTable, redis_calls: CountingRedis
) -> None:
    get_items = CallCounter(table.client, "dynamodb", "GetItem")
    status, body, _ = call(api, request("GET /health"))
    assert status == 200
    assert (body["healthy"], body["failed"], body["region"]) == (True, [], REGION)
    assert body["checks"] == {"table": "ok", "state": "ok", "cache": "ok"}
    assert (get_items.count, redis_calls.calls) == (1, 1)


def test_health_is_503_when_the_region_is_fenced_but_reads_may_still_be_served(api: Api, table: ItemTable) -> None:
    fence(table)
    status, body, _ = call(api, request("GET /health"))
    assert (status, body["healthy"], body["failed"]) == (503, False, ["state"])
    assert "fenced" in body["checks"]["state"]
    status, body, _ = call(api, request("GET /health", query={"scope": "read"}))
    assert (status, body["failed"]) == (200, [])


def test_health_is_503_in_a_passive_region(make_api: ApiFactory) -> None:
    passive = make_api(region=OTHER_REGION)
    status, body, _ = call(passive, request("GET /health"))
    assert (status, body["failed"]) == (503, ["state"])


def test_health_is_503_when_the_cache_is_down_and_an_open_breaker_answers_without_waiting(
    settings: Settings, make_api: ApiFactory
) -> None:
    down = CountingRedis(redis_client(Settings(**{**settings.__dict__, "cache_port": free_port()})))
    api = make_api(redis=down)
    for _ in range(3):  # the breaker's failure threshold
        status, body, _ = call(api, request("GET /health"))
        assert (status, body["failed"]) == (503, ["cache"])
    assert down.calls == 3
    status, body, _ = call(api, request("GET /health"))
    assert (status, body["failed"]) == (503, ["cache"])
    assert "circuit breaker open" in body["checks"]["cache"]
    assert down.calls == 3  # no PING while the breaker is open


def test_health_is_503_when_the_state_record_cannot_be_read(api: Api, table: ItemTable) -> None:
    table.client.delete_item(TableName=TABLE, Key={"Id": {"S": "STATE#application"}})
    status, body, _ = call(api, request("GET /health"))
    assert (status, body["failed"]) == (503, ["state", "table"])


def test_health_refuses_an_unknown_scope(api: Api) -> None:
    status, body, _ = call(api, request("GET /health", query={"scope": "everything"}))
    assert (status, body["field"]) == (400, "scope")


def test_state_shows_the_application_state(api: Api, table: ItemTable) -> None:
    status, body, _ = call(api, request("GET /state"))
    assert status == 200
    assert body == {
        "status": "active",
        "activeRegion": REGION,
        "epoch": 1,
        "updatedAt": 0,
        "updatedBy": "pulumi",
        "region": REGION,
        "writable": True,
    }
    fence(table)
    status, body, _ = call(api, request("GET /state"))
    assert (body["status"], body["epoch"], body["writable"]) == ("fenced", 2, False)
    assert body["updatedAt"] > 0


def test_an_unknown_route_is_404_naming_the_route(api: Api) -> None:
    status, body, _ = call(api, request("DELETE /items/{id}", item_id="item-1"))
    assert (status, body["error"], body["field"]) == (404, "not_found", "route")
    assert "DELETE /items/{id}" in body["message"]


def catch_all(route: str, item_id: str | None = None) -> dict[str, Any]:
    """A request as a ``$default`` route (or a direct invocation) hands it over: routed by its path alone."""
    return {**request(route, item_id=item_id), "routeKey": "$default"}


def test_an_unknown_path_of_a_catch_all_request_is_404_naming_it(api: Api) -> None:
    status, body, _ = call(api, catch_all("DELETE /things/{id}", item_id="item-1"))
    assert (status, body["error"], body["field"]) == (404, "not_found", "route")
    assert "DELETE /things/item-1" in body["message"]


@pytest.mark.parametrize(("route", "allowed"), [("DELETE /items/{id}", "GET"), ("PUT /events", "POST"), ("POST /state", "GET")])
def test_another_method_on_a_known_path_is_405_with_allow(api: Api, route: str, allowed: str) -> None:
    status, body, headers = call(api, catch_all(route, item_id="item-1"))
    assert (status, body["error"], body["field"], headers["Allow"]) == (405, "method_not_allowed", "method", allowed)
    assert route.split(maxsplit=1)[0] in body["message"]


def test_a_catch_all_request_for_a_known_route_is_served(api: Api) -> None:
    status, body, _ = call(api, catch_all("GET /items/{id}", item_id="item-1"))
    assert (status, body) == (200, ITEM_1)


def test_the_health_route_is_405_for_another_method_only_on_the_configured_path(make_api: ApiFactory) -> None:
    api = make_api()
    api.health_path = "/healthz"
    assert call(api, catch_all("POST /healthz"))[0] == 405
    assert call(api, catch_all("POST /health"))[0] == 404


@pytest.mark.parametrize("missing", ["rawPath", "requestContext"])
def test_an_event_that_is_not_an_http_api_request_is_refused_naming_what_it_lacks(api: Api, missing: str) -> None:
    event = request("GET /state")
    if missing == "rawPath":
        del event["rawPath"]
    else:
        del event["requestContext"]["http"]
    with pytest.raises(ValueError, match=r"not an HTTP API request .*rawPath and requestContext\.http are required"):
        handle(event, None, api)


def test_a_named_stage_prefix_is_not_part_of_the_route(api: Api) -> None:
    event = request("GET /items/{id}", item_id="item-1")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/prod/items/item-1"
    event["requestContext"]["stage"] = "prod"
    status, body, _ = call(api, event)
    assert (status, body) == (200, ITEM_1)


# ---- the container, logs and metrics ---------------------------------------------------------------------


@pytest.fixture
def api_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    log_handler = logging.StreamHandler(stream)
    log_handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(f"functions.{name}") for name in ("api", "cache", "breaker")]
    for logger in loggers:
        logger.addHandler(log_handler)
    try:
        yield stream
    finally:
        for logger in loggers:
            logger.removeHandler(log_handler)


def test_every_log_line_carries_the_request_id_and_metrics_are_flushed_once_per_invocation(
    settings: Settings, make_api: ApiFactory, queue_url: str, metrics_out: io.StringIO, api_log: io.StringIO
) -> None:
    down = redis_client(Settings(**{**settings.__dict__, "cache_port": free_port()}))
    api = make_api(redis=down, queue_url=queue_url)
    routes = [
        ("GET /items/{id}", {"item_id": "item-1"}),
        ("POST /events", {"body": event_body()}),
        ("GET /health", {}),
        ("GET /state", {}),
        ("GET /nowhere", {}),
    ]
    for index, (route, options) in enumerate(routes):
        event = request(route, **options)
        event["requestContext"]["requestId"] = f"request-{index}"
        handle(event, None, api)
    lines = [json.loads(line) for line in api_log.getvalue().splitlines()]
    assert {line["request_id"] for line in lines} == {f"request-{index}" for index in range(len(routes))}
    assert any(line["logger"] == "functions.cache" for line in lines)  # the cache's warnings carry it too
    documents = [json.loads(line) for line in metrics_out.getvalue().splitlines()]
    assert len(documents) == len(routes)
    assert all(document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "multi-region" for document in documents)
    assert documents[0]["CacheErrors"] >= 1
    assert documents[1]["EventsAccepted"] == 1
    assert documents[4]["Status4xx"] == 1


def container_environment(settings: Settings, queue_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment the deployment gives the function, and no container built yet."""
    for name, value in {
        "AWS_REGION": REGION,
        "TABLE_NAME": TABLE,
        "QUEUE_URL": queue_url,
        "CACHE_HOST": settings.cache_host,
        "CACHE_PORT": str(settings.cache_port),
        "CACHE_TLS": "false",
        "CACHE_CLUSTER": "false",
        "HEALTH_PATH": "/healthz",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handler, "_api", None)
    aws_client.cache_clear()


def test_the_container_is_built_once_from_the_environment(
    settings: Settings, table: ItemTable, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    container_environment(settings, queue_url, monkeypatch)
    first = handle(request("GET /items/{id}", item_id="item-1"))
    built = handler.current_api()
    second = handle(request("GET /items/{id}", item_id="item-1"))
    assert handler.current_api() is built
    assert (first["statusCode"], first["headers"]["x-cache"]) == (200, "db")
    assert (second["statusCode"], second["headers"]["x-cache"]) == (200, "cache")
    assert built.settings.queue_url == queue_url
    assert handle(request("GET /healthz"))["statusCode"] == 200  # the configured health path
    assert handle(request("GET /health"))["statusCode"] == 404


def test_a_container_that_cannot_start_answers_503_not_400(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLE_NAME", raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setattr(handler, "_api", None)
    response = handle(request("GET /state"))
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["field"] == "configuration"


# ---- GET /regions/{region}/status (public) -------------------------------------------------------------------------


def status_request(region: str = REGION) -> dict[str, Any]:
    return request_with("GET /regions/{region}/status", {"region": region})


def request_with(route: str, parameters: dict[str, str]) -> dict[str, Any]:
    return http_api_event(route, path_parameters=parameters, request_id=f"req-{route}")


@pytest.fixture
def cloudwatch(table: ItemTable) -> Any:
    return function_client("cloudwatch", REGION)


def publish_lag(cloudwatch: Any, to: str, value: float, at_ms: int) -> None:
    cloudwatch.put_metric_data(
        Namespace="AWS/DynamoDB",
        MetricData=[
            {
                "MetricName": "ReplicationLatency",
                "Dimensions": [{"Name": "TableName", "Value": TABLE}, {"Name": "ReceivingRegion", "Value": to}],
                "Timestamp": datetime.fromtimestamp(at_ms / 1000, tz=UTC),
                "Value": value,
                "Unit": "Milliseconds",
            }
        ],
    )


def test_the_status_summary_shows_state_health_and_the_latest_replication_lag(api: Api, cloudwatch: Any) -> None:
    now = now_ms()
    publish_lag(cloudwatch, OTHER_REGION, 900.0, now - 180_000)
    publish_lag(cloudwatch, OTHER_REGION, 420.0, now - 60_000)
    api.cloudwatch, api.wall_clock = cloudwatch, lambda: now
    status, body, headers = call(api, status_request())
    assert (status, headers["Cache-Control"]) == (200, "public, max-age=5")
    assert {k: body[k] for k in ("region", "status", "activeRegion", "epoch", "writable", "healthy", "failed")} == {
        "region": REGION,
        "status": "active",
        "activeRegion": REGION,
        "epoch": 1,
        "writable": True,
        "healthy": True,
        "failed": [],
    }
    assert [(lag["to"], lag["lagMs"]) for lag in body["replication"]] == [(OTHER_REGION, 420.0)]
    assert body["replicationError"] is None


def test_the_status_summary_is_reused_for_its_cache_time_then_shows_the_fence(api: Api, table: ItemTable) -> None:
    seconds = [100.0]
    api.clock = lambda: seconds[0]
    assert call(api, status_request())[1]["status"] == "active"
    fence(table)
    assert call(api, status_request())[1]["status"] == "active"  # the copy of the last 5 s
    seconds[0] += 5
    _, body, _ = call(api, status_request())
    shown = (body["status"], body["epoch"], body["writable"], body["healthy"], body["failed"])
    assert shown == ("fenced", 2, False, False, ["state"])


def test_the_container_builds_its_cloudwatch_client_on_the_first_summary_not_at_start(
    settings: Settings, table: ItemTable, queue_url: str, cloudwatch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    container_environment(settings, queue_url, monkeypatch)
    built: list[str] = []
    make_client = boto3.session.Session.client

    def recorded(session: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        built.append(service)
        return make_client(session, service, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", recorded)
    assert handle(request("GET /items/{id}", item_id="item-1"))["statusCode"] == 200
    assert "dynamodb" in built and "cloudwatch" not in built
    now = now_ms()
    publish_lag(cloudwatch, OTHER_REGION, 420.0, now - 60_000)
    response = handle(status_request())
    assert response["statusCode"] == 200
    assert [(lag["to"], lag["lagMs"]) for lag in json.loads(response["body"])["replication"]] == [(OTHER_REGION, 420.0)]
    assert built.count("cloudwatch") == 1


class UnreachableMetrics:
    def list_metrics(self, **_: Any) -> dict[str, Any]:
        raise ConnectionError("no route to CloudWatch")

    def get_metric_data(self, **_: Any) -> dict[str, Any]:
        raise ConnectionError("no route to CloudWatch")


def test_the_status_summary_answers_without_the_lag_when_cloudwatch_fails(api: Api) -> None:
    api.cloudwatch = UnreachableMetrics()
    status, body, _ = call(api, status_request())
    assert (status, body["replication"], body["replicationError"], body["status"]) == (200, [], "unreadable", "active")


def test_the_status_summary_of_another_region_is_400_naming_the_region(api: Api) -> None:
    status, body, _ = call(api, status_request(OTHER_REGION))
    assert (status, body["field"]) == (400, "region")
    assert REGION in body["message"]
