"""The runtime settings read from the region's SSM parameter against the moto server: a warm container keeps a value
``max_age`` and then picks up a change (Powertools' cache on a fake clock, no waiting), keeps the last known settings
while SSM is unreachable or the document unusable, and the processor and the API act on what the parameter says."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters import SSMProvider, base

from functions.api.handler import Api
from functions.api.handler import handle as handle_request
from functions.processor.handler import Processor, handle
from functions.shared.app_config import AppConfigSource, RuntimeSettings, refresh, source_from_env
from functions.shared.cache import ItemCache
from functions.shared.clients import redis_client
from functions.shared.errors import ValidationError
from functions.shared.log import now_ms
from functions.shared.metrics import Metrics
from functions.shared.settings import Settings
from functions.shared.state import ItemTable
from functions.shared.state_cache import StateCache
from simulation.http_api import http_api_event
from simulation.local_servers import RedisServer
from simulation.local_tables import put_item
from tests.support.cache_doubles import CountingRedis, FakeClock
from tests.support.dynamo import WRITE_REGION, local_client

NAME = "/multi-region/test/app-config"
MAX_AGE = 60
DEFAULTS = RuntimeSettings(300, 5, 300, frozenset({"cacheReads"}))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """One clock for the source's retry wait and for Powertools' cache expiry (which reads ``datetime.now``)."""
    fake = FakeClock()
    start = datetime(2026, 1, 1)

    class Now(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Now:
            moment = start + timedelta(seconds=fake())
            return cls(*moment.timetuple()[:6], moment.microsecond)

    monkeypatch.setattr(base, "datetime", Now)
    return fake


@pytest.fixture
def ssm(aws_endpoint: str) -> Any:
    return local_client("ssm", WRITE_REGION, aws_endpoint)


@pytest.fixture
def key_id(aws_endpoint: str) -> str:
    return str(local_client("kms", WRITE_REGION, aws_endpoint).create_key()["KeyMetadata"]["Arn"])


def put(ssm: Any, key_id: str, settings: RuntimeSettings | str) -> None:
    """Write the parameter as the stack does: a SecureString under the region's key."""
    value = settings if isinstance(settings, str) else settings.to_document()
    ssm.put_parameter(Name=NAME, Value=value, Type="SecureString", KeyId=key_id, Overwrite=True)


def sqs_record(message_id: str, item_id: str, timestamp: int) -> dict[str, Any]:
    """An SQS record as Lambda delivers it, carrying one event."""
    event = {"id": item_id, "data": {"n": 1}, "timestamp": timestamp, "idempotencyKey": f"key-{item_id}"}
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": json.dumps(event),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "awsRegion": WRITE_REGION,
    }


def source(ssm: Any, clock: FakeClock, max_age: int = MAX_AGE) -> AppConfigSource:
    return AppConfigSource(NAME, WRITE_REGION, DEFAULTS, max_age, provider=lambda: SSMProvider(boto3_client=ssm), clock=clock)


def test_a_change_reaches_a_warm_container_after_max_age_and_not_before(ssm: Any, key_id: str, clock: FakeClock) -> None:
    put(ssm, key_id, RuntimeSettings(120, 5, 300, frozenset({"cacheReads"})))
    reader = source(ssm, clock)
    assert reader.current().cache_ttl_seconds == 120
    put(ssm, key_id, RuntimeSettings(600, 10, 30, frozenset()))
    clock.advance(MAX_AGE - 1)
    assert reader.current().cache_ttl_seconds == 120, "inside max_age the cached value is served"
    clock.advance(2)
    assert reader.current() == RuntimeSettings(600, 10, 30, frozenset())


def test_unreachable_ssm_keeps_the_defaults_then_the_last_value_and_asks_again_after_max_age(
    ssm: Any, key_id: str, clock: FakeClock
) -> None:
    calls: list[str] = []

    class Flaky(SSMProvider):
        down = True

        def _get(self, name: str, **options: Any) -> str:
            calls.append(name)
            if self.down:
                raise ConnectionError("ssm unreachable")
            return str(super()._get(name, **options))

    provider = Flaky(boto3_client=ssm)
    reader = AppConfigSource(NAME, WRITE_REGION, DEFAULTS, MAX_AGE, provider=lambda: provider, clock=clock)
    put(ssm, key_id, RuntimeSettings(120, 5, 300, frozenset()))
    assert reader.current() == DEFAULTS, "before any read: the code's defaults"
    assert reader.current() == DEFAULTS and len(calls) == 1, "no second call inside max_age of a failure"
    clock.advance(MAX_AGE)
    provider.down = False
    assert reader.current().cache_ttl_seconds == 120
    provider.down = True
    clock.advance(MAX_AGE + 1)
    assert reader.current().cache_ttl_seconds == 120, "the last known value"
    assert len(calls) == 3


def test_a_missing_parameter_or_an_unusable_document_keeps_the_last_known_settings(
    ssm: Any, key_id: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    reader = source(ssm, clock)
    assert reader.current() == DEFAULTS
    put(ssm, key_id, RuntimeSettings(120, 5, 300, frozenset()))
    clock.advance(MAX_AGE)
    assert reader.current().cache_ttl_seconds == 120
    put(ssm, key_id, json.dumps({"cacheTtlSeconds": 0}))
    clock.advance(MAX_AGE + 1)
    assert reader.current().cache_ttl_seconds == 120
    errors = [str(getattr(r, "error", "")) for r in caplog.records if r.getMessage().startswith("app config unreadable")]
    assert len(errors) == 2 and "ParameterNotFound" in errors[0] and "cacheTtlSeconds" in errors[1], errors


def test_the_deployed_path_reads_through_the_functions_ssm_client(
    ssm: Any, key_id: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, aws_endpoint: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    put(ssm, key_id, RuntimeSettings(42, 7, 90, frozenset()))
    settings = Settings(region=WRITE_REGION, table_name="t")
    reader = source_from_env(settings, {"APP_CONFIG_PARAMETER": NAME, "APP_CONFIG_MAX_AGE_SECONDS": "15"})
    assert reader is not None and reader.max_age_seconds == 15
    assert reader.current() == RuntimeSettings(42, 7, 90, frozenset())
    assert source_from_env(settings, {}) is None, "no parameter named: the settings stay as built"
    with pytest.raises(ValidationError, match="APP_CONFIG_MAX_AGE_SECONDS: must be a whole number of seconds"):
        source_from_env(settings, {"APP_CONFIG_PARAMETER": NAME, "APP_CONFIG_MAX_AGE_SECONDS": "0"})


def test_the_processor_applies_the_parameters_skew_limit_after_max_age(
    ssm: Any, key_id: str, clock: FakeClock, write_table: ItemTable
) -> None:
    put(ssm, key_id, RuntimeSettings(300, 5, 60, frozenset({"cacheReads"})))
    settings = Settings(region=WRITE_REGION, table_name=write_table.name)
    processor = Processor(settings, write_table, StateCache(write_table, ttl_seconds=0), None, Metrics("processor"))
    processor.app_config = source(ssm, clock)
    ahead = sqs_record("m-1", "item-skew", now_ms() + 120_000)
    assert handle({"Records": [ahead]}, None, processor=processor) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    put(ssm, key_id, RuntimeSettings(300, 5, 600, frozenset({"cacheReads"})))
    clock.advance(MAX_AGE + 1)
    assert handle({"Records": [ahead]}, None, processor=processor) == {"batchItemFailures": []}
    assert processor.settings.max_clock_skew_ms == 600_000
    stored = write_table.client.get_item(TableName=write_table.name, Key={"Id": {"S": "item-skew"}}, ConsistentRead=True)
    assert "Item" in stored


def test_switching_cache_reads_off_sends_every_read_to_the_table_without_touching_the_cache(
    ssm: Any, key_id: str, clock: FakeClock, write_table: ItemTable, redis_server: RedisServer
) -> None:
    settings = Settings(
        region=WRITE_REGION,
        table_name=write_table.name,
        cache_host=redis_server.host,
        cache_port=redis_server.port,
        cache_tls=False,
        cache_cluster=False,
    )
    redis = CountingRedis(redis_client(settings))
    redis.client.flushdb()
    metrics = Metrics("api")
    api = Api(settings, write_table, sqs=None, cache=ItemCache(redis, 300, metrics), metrics=metrics)  # type: ignore[arg-type]
    api.app_config = source(ssm, clock)
    put_item(write_table, "item-1", data={"n": 7}, version=3, timestamp=1_700_000_000_000, region=WRITE_REGION)
    read = http_api_event("GET /items/{id}", item_id="item-1", request_id="req-1")
    put(ssm, key_id, RuntimeSettings(300, 5, 300, frozenset()))
    for _ in range(2):
        response = handle_request(read, None, api)
        assert (response["statusCode"], response["headers"]["x-cache"]) == (200, "db-cache-reads-off")
    assert redis.calls == 0
    put(ssm, key_id, RuntimeSettings(300, 5, 300, frozenset({"cacheReads"})))
    clock.advance(MAX_AGE + 1)
    assert [handle_request(read, None, api)["headers"]["x-cache"] for _ in range(2)] == ["db", "cache"]
    redis.client.close()


def test_refresh_sets_the_item_caches_ttls(ssm: Any, key_id: str, clock: FakeClock) -> None:
    put(ssm, key_id, RuntimeSettings(77, 9, 300, frozenset()))
    cache = ItemCache(None, 300, Metrics("api"))
    assert refresh(source(ssm, clock), cache) == RuntimeSettings(77, 9, 300, frozenset())
    assert (cache.ttl_seconds, cache.negative_ttl_seconds) == (77, 9)
    assert refresh(None, cache) is None and cache.ttl_seconds == 77


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "document: must be a JSON object, got list"),
        ({"cacheTtlSeconds": 1}, "negativeCacheTtlSeconds: must be a whole number from 1 to 300, got None"),
        (
            {"cacheTtlSeconds": 1, "negativeCacheTtlSeconds": 1, "maxClockSkewSeconds": True},
            "maxClockSkewSeconds: must be a whole number from 1 to 3600, got True",
        ),
        (
            {"cacheTtlSeconds": 1, "negativeCacheTtlSeconds": 1, "maxClockSkewSeconds": 1, "featureFlags": {"cacheReads": 1}},
            "featureFlags: must be an object of flag names to true or false",
        ),
        (
            {"cacheTtlSeconds": 1, "negativeCacheTtlSeconds": 1, "maxClockSkewSeconds": 1, "featureFlags": {}},
            "featureFlags: lacks cacheReads; flags: cacheReads",
        ),
    ],
)
def test_an_unusable_document_names_the_field_and_what_it_allows(document: object, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        RuntimeSettings.from_document(document)
    assert str(error.value).startswith(message)


def test_the_document_round_trips_and_ignores_a_flag_this_code_does_not_know() -> None:
    settings = RuntimeSettings(300, 5, 300, frozenset({"cacheReads"}))
    document = json.loads(settings.to_document())
    assert RuntimeSettings.from_document(document) == settings
    newer = {**document, "featureFlags": {**document["featureFlags"], "somethingNew": True}}
    assert RuntimeSettings.from_document(newer) == settings
    assert RuntimeSettings.of(Settings(region="r", table_name="t")) == settings, "the code's defaults"
