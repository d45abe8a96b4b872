"""The regional API: ``GET /items/{id}``, ``POST /events``, ``GET /health``, ``GET /state``, ``GET /regions/{region}/status``.

Behind the region's API Gateway HTTP API (payload format 2.0), routed by Powertools' ``APIGatewayHttpResolver`` on
the request's method and ``rawPath`` (the stage is ``$default``, so no stage prefix). Items are read cache-aside with
a strongly consistent loader; events are validated and queued, or refused at once with 503 and ``Retry-After`` when
this region may not write; ``/health`` checks the state, the table and the cache. Every response is JSON and a 4xx
names the field at fault. API Gateway answers a request for an undeclared route itself (``components/app.py``
declares each route key), so the function's own 404 and 405 (with ``Allow``) serve direct invocations and a
``$default`` route. Clients, settings, the cache and the routes are built once per container (:func:`current_api`);
tests pass their own :class:`Api`. Each route's contract and why an HTTP API: ``docs/design/functions.md``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from functions.api.status import STATUS_CACHE_SECONDS, MetricsReader, RegionMetrics, SummaryCache, replication_lags
from functions.shared.app_config import AppConfigSource, refresh, source_from_env
from functions.shared.cache import ItemCache, cache_breaker
from functions.shared.clients import aws_client, redis_client
from functions.shared.codec import item_from_image, to_item
from functions.shared.errors import RetryableError, ValidationError
from functions.shared.events import canonical_json, parse_event, validate_key
from functions.shared.log import get_logger, lambda_entry, now_ms, request_id_var
from functions.shared.metrics import Metrics
from functions.shared.schema import (
    ATTR_DATA,
    ATTR_ID,
    ATTR_LAST_UPDATED_REGION,
    ATTR_ORDER_TOKEN,
    ATTR_TIMESTAMP,
    ATTR_VERSION,
)
from functions.shared.settings import Settings
from functions.shared.state import AppState, ItemTable, StateUnavailableError, read_state
from functions.shared.state_cache import STATE_CACHE_SECONDS, StateCache
from functions.shared.tracing import trace_entry

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

    from functions.api.routing import HttpApiResolver

    JsonResponse = Response[dict[str, Any]]

logger = get_logger("api")

# Where the request id is in an HTTP API event: the correlation id and ``request_id`` of the function's log lines.
CORRELATION_ID_PATH = "requestContext.requestId"

DEFAULT_HEALTH_PATH = "/health"
RETRY_AFTER_SECONDS = 5
# The feature flag of reads through the cache, and the x-cache header of a read while it is off.
CACHE_READS = "cacheReads"
CACHE_SWITCHED_OFF = "db-cache-reads-off"
HEALTH_SCOPES = ("write", "read")
# The route key of a catch-all route (a ``$default`` route, or a direct invocation's): routed by the path alone.
DEFAULT_ROUTE_KEY = "$default"

PUBLIC_ATTRIBUTES = (ATTR_ID, ATTR_DATA, ATTR_VERSION, ATTR_TIMESTAMP, ATTR_LAST_UPDATED_REGION)
WHOLE_NUMBER_ATTRIBUTES = (ATTR_VERSION, ATTR_TIMESTAMP)


class SQSClient(Protocol):
    def send_message(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass
class Api:
    """What the API works with, built once per container.

    Parameters
    ----------
    settings: the function's settings.
    table: the region's table (low-level DynamoDB client and table name).
    sqs: the SQS client of the region.
    cache: the region's item cache with its circuit breaker.
    metrics: the counters flushed at the end of each invocation.
    cache_configured: whether the region has a cache (the health check requires it to answer only then).
    clock: monotonic seconds, for the short-lived state copy of ``POST /events``.
    state_cache_seconds: how long ``POST /events`` reuses a state read.
    health_path: the health route's path (``HEALTH_PATH``, set by the deployment from ``healthCheckPath``;
        ``/health`` by default).
    app_config: the region's runtime settings (``functions.shared.app_config``), read at each request; None: the
        settings stay as built.
    cloudwatch: the region's CloudWatch client, for the summary's replication lag (None: the lag is not shown).
    wall_clock: epoch milliseconds, the end of the summary's metric window.
    status_cache_seconds: how long a summary is reused (and cached by CloudFront).
    """

    settings: Settings
    table: ItemTable
    sqs: SQSClient
    cache: ItemCache
    metrics: Metrics
    cache_configured: bool = True
    clock: Callable[[], float] = time.monotonic
    state_cache_seconds: float = STATE_CACHE_SECONDS
    health_path: str = DEFAULT_HEALTH_PATH
    app_config: AppConfigSource | None = None
    cloudwatch: MetricsReader | None = None
    wall_clock: Callable[[], int] = now_ms
    status_cache_seconds: float = STATUS_CACHE_SECONDS
    _summaries: SummaryCache | None = field(default=None, init=False, repr=False)
    _write_states: StateCache | None = field(default=None, init=False, repr=False)
    _resolver: HttpApiResolver | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_settings(
        cls, settings: Settings, health_path: str = DEFAULT_HEALTH_PATH, app_config: AppConfigSource | None = None
    ) -> Api:
        metrics = Metrics("api")
        cache = ItemCache(
            redis_client(settings),
            settings.cache_ttl_seconds,
            metrics,
            breaker=cache_breaker(metrics),
            accept=servable_item,
        )
        return cls(
            settings=settings,
            table=ItemTable(aws_client("dynamodb", settings.region), settings.table_name),
            sqs=aws_client("sqs", settings.region),
            cache=cache,
            metrics=metrics,
            cache_configured=bool(settings.cache_host),
            health_path=health_path,
            app_config=app_config,
            cloudwatch=RegionMetrics(settings.region),
        )

    def write_state(self) -> AppState:
        """The state for the fail-fast write check, re-read after ``state_cache_seconds`` (the write path's
        :class:`~functions.shared.state_cache.StateCache`, built on the first check)."""
        if self._write_states is None:
            self._write_states = StateCache(self.table, self.state_cache_seconds, self.clock)
        return self._write_states.get()

    def summary(self) -> dict[str, Any]:
        """The region's public summary (:func:`region_summary`), rebuilt after ``status_cache_seconds``."""
        if self._summaries is None:
            self._summaries = SummaryCache(self.status_cache_seconds, self.clock)
        return self._summaries.value(lambda: region_summary(self))

    def resolver(self) -> HttpApiResolver:
        """The routes of this Api (:func:`routes`), built on the first request."""
        if self._resolver is None:
            self._resolver = routes(self)
        return self._resolver


_api: Api | None = None


def current_api() -> Api:
    """The container's Api, built on first use from the environment."""
    global _api  # noqa: PLW0603 - one per container, on purpose
    if _api is None:
        settings = Settings.from_env()
        health_path = os.environ.get("HEALTH_PATH") or DEFAULT_HEALTH_PATH
        _api = Api.from_settings(settings, health_path, source_from_env(settings, os.environ))
    return _api


@lambda_entry(correlation_id_path=CORRELATION_ID_PATH)
@trace_entry
def handle(event: Mapping[str, Any], context: Any = None, api: Api | None = None) -> dict[str, Any]:
    """The Lambda entry point (HTTP API payload format 2.0).

    Raises
    ------
    ValueError
        ``event`` is not an HTTP API request: it lacks ``rawPath`` or ``requestContext.http`` (what the routes match).
    """
    if "rawPath" not in event or "http" not in (event.get("requestContext") or {}):
        raise ValueError("event: not an HTTP API request (payload format 2.0): rawPath and requestContext.http are required")
    route = str(event.get("routeKey", ""))
    try:
        api = api or current_api()
    except Exception:
        # Settings or a client could not be built; the next invocation tries again.
        logger.exception("container setup failed", extra={"route": route})
        from functions.api.routing import not_started

        return _named_as_before(not_started().resolve(dict(event), context))
    runtime = refresh(api.app_config, api.cache)
    if runtime is not None:
        api.settings = runtime.applied_to(api.settings)
    resolver = api.resolver()
    resolver.append_context(request_id=request_id_var.get(), route=route)  # type: ignore[no-untyped-call]  # unannotated upstream
    response = _named_as_before(resolver.resolve(dict(event), context))
    logger.info("request", extra={"route": route, "status": response["statusCode"]})
    api.metrics.add(f"Status{response['statusCode'] // 100}xx")
    api.metrics.flush()
    return response


def _named_as_before(response: dict[str, Any]) -> dict[str, Any]:
    """The resolver names the header ``Content-Type``; this API's responses have always carried ``content-type``
    (one header either way in HTTP, but not for a caller that reads the payload's headers as a dict)."""
    headers = response["headers"]
    if "Content-Type" in headers:
        headers["content-type"] = headers.pop("Content-Type")
    return response


# ---- routes --------------------------------------------------------------------------------------


def routes(api: Api) -> HttpApiResolver:
    """The API's routes, errors and unknown routes on a resolver, each route a thin function of ``api``."""
    from functions.api.routing import HttpApiResolver

    app = HttpApiResolver()
    app.get("/items/<item_id>")(lambda item_id: get_item(api, item_id))
    app.post("/events")(lambda: post_event(api, request_text(app.current_event)))
    app.get(api.health_path)(lambda: health(api, app.current_event.get_query_string_value("scope", "write")))
    app.get("/state")(lambda: state(api))
    app.get("/regions/<region>/status")(lambda region: region_status(api, region))
    app.exception_handler(ValidationError)(refused)
    app.exception_handler(Exception)(lambda error: failed(app, error))
    app.not_found(lambda _: no_route(app))
    return app


def get_item(api: Api, raw_id: object) -> JsonResponse:
    item_id = validate_key(raw_id, "id")
    if CACHE_READS in api.settings.feature_flags:
        item, source = api.cache.get(item_id, lambda: read_item(api.table, item_id))
    else:
        item, source = read_item(api.table, item_id), CACHE_SWITCHED_OFF
    if item is None:
        return answer(404, {"error": "not_found", "field": "id", "message": f"no item {item_id}"}, {"x-cache": source})
    return answer(200, public_item(item), {"x-cache": source})


def post_event(api: Api, body: str | None) -> JsonResponse:
    if not body:
        raise ValidationError("body", "is required: a JSON object {id, data, timestamp, idempotencyKey}")
    event = parse_event(body, now_ms=now_ms(), max_skew_ms=api.settings.max_clock_skew_ms)
    current = api.write_state()
    if not current.may_write(api.settings.region):
        api.metrics.add("WritesRefused")
        return unavailable(
            "state", f"writes are not accepted in {api.settings.region} now: the application is {current.describe()}"
        )
    if not api.settings.queue_url:
        raise RetryableError("QUEUE_URL is not set: this function cannot enqueue events")
    message: dict[str, Any] = {"QueueUrl": api.settings.queue_url, "MessageBody": canonical_json(event.as_body())}
    if api.settings.queue_url.endswith(".fifo"):
        # One group per item keeps an item's events in order; the key and payload identify a repeat.
        message["MessageGroupId"] = event.id
        message["MessageDeduplicationId"] = event.payload_hash[:64] + event.idempotency_key[:64]
    sent = api.sqs.send_message(**message)
    api.metrics.add("EventsAccepted")
    logger.info("event accepted", extra={"id": event.id, "idempotencyKey": event.idempotency_key})
    return answer(
        202,
        {"accepted": True, "id": event.id, "idempotencyKey": event.idempotency_key, "messageId": sent.get("MessageId")},
    )


def health(api: Api, scope: object) -> JsonResponse:
    if scope not in HEALTH_SCOPES:
        raise ValidationError("scope", f"must be one of {', '.join(HEALTH_SCOPES)}, got {scope!r}")
    region = api.settings.region
    checks, _ = health_checks(api, str(scope))
    failed_checks = failed_names(checks)
    body = {"healthy": not failed_checks, "region": region, "scope": scope, "failed": failed_checks, "checks": checks}
    if failed_checks:
        api.metrics.add("HealthFailed")
        return answer(503, body)
    return answer(200, body)


def health_checks(api: Api, scope: str) -> tuple[dict[str, str], AppState | None]:
    """Each check's verdict (``ok...`` or ``failed: ...``) for ``scope``, and the state read (None: unreadable)."""
    region = api.settings.region
    checks: dict[str, str] = {}
    current: AppState | None = None
    try:
        current = read_state(api.table)
    except StateUnavailableError as error:
        logger.warning("health: state unreadable", extra={"error": str(error)})
        checks["table"] = "failed: the state record could not be read"
        checks["state"] = "failed: unknown"
    else:
        checks["table"] = "ok"
        allowed = current.may_write(region) if scope == "write" else current.may_serve_reads(region)
        checks["state"] = "ok" if allowed else f"failed: {current.describe()}, {region} may not serve {scope}s"
    if not api.cache_configured:
        checks["cache"] = "ok: no cache in this region"
    elif api.cache.ping():
        checks["cache"] = "ok"
    else:
        breaker = api.cache.breaker
        suffix = f" (circuit breaker {breaker.state})" if breaker is not None else ""
        checks["cache"] = f"failed: no answer to PING{suffix}"
    return checks, current


def failed_names(checks: Mapping[str, str]) -> list[str]:
    """The checks of :func:`health_checks` that did not pass, sorted."""
    return sorted(name for name, result in checks.items() if not result.startswith("ok"))


def region_status(api: Api, region: object) -> JsonResponse:
    """The public summary, when ``region`` is this API's own (CloudFront sends ``/regions/<region>/*`` to its region)."""
    if region != api.settings.region:
        raise ValidationError("region", f"must be {api.settings.region}, the region this API serves, got {region!r}")
    return answer(200, api.summary(), {"Cache-Control": f"public, max-age={int(api.status_cache_seconds)}"})


def region_summary(api: Api) -> dict[str, Any]:
    """State, epoch, write health and replication lag of this region: what the status page shows of it."""
    checks, current = health_checks(api, "write")
    failed_checks = failed_names(checks)
    lags: list[dict[str, Any]] = []
    lag_error = None
    if api.cloudwatch is not None:
        try:
            lags = replication_lags(api.cloudwatch, api.settings.table_name, api.wall_clock())
        except Exception as error:  # the lag is shown as unknown; the summary still answers
            logger.warning("status: replication lag unreadable", extra={"error": repr(error)})
            lag_error = "unreadable"
    return {
        "region": api.settings.region,
        "status": current.status if current else None,
        "activeRegion": current.active_region if current else None,
        "epoch": current.epoch if current else None,
        "writable": current.may_write(api.settings.region) if current else False,
        "healthy": not failed_checks,
        "failed": failed_checks,
        "checks": checks,
        "replication": lags,
        "replicationError": lag_error,
        "generatedAt": api.wall_clock(),
    }


def state(api: Api) -> JsonResponse:
    current = read_state(api.table)
    region = api.settings.region
    return answer(
        200,
        {
            "status": current.status,
            "activeRegion": current.active_region,
            "epoch": current.epoch,
            "updatedAt": current.updated_at,
            "updatedBy": current.updated_by,
            "region": region,
            "writable": current.may_write(region),
        },
    )


# ---- the item read -------------------------------------------------------------------------------


def read_item(table: ItemTable, item_id: str) -> dict[str, Any] | None:
    """The item's public attributes and its order token (the cache's version of the copy; one strongly consistent
    GetItem), or None when there is no such item."""
    names = {f"#a{index}": name for index, name in enumerate((*PUBLIC_ATTRIBUTES, ATTR_ORDER_TOKEN))}
    response = table.client.get_item(
        TableName=table.name,
        Key=to_item({ATTR_ID: item_id}),
        ProjectionExpression=", ".join(names),
        ExpressionAttributeNames=names,
        ConsistentRead=True,
    )
    attributes = response.get("Item")
    if attributes is None:
        return None
    item = item_from_image(attributes)
    return {**public_item(item), **({ATTR_ORDER_TOKEN: item[ATTR_ORDER_TOKEN]} if ATTR_ORDER_TOKEN in item else {})}


def servable_item(item: Mapping[str, Any]) -> bool:
    """Whether a cached copy can be shown (:func:`public_item` of it is an item's body); a copy that cannot is a miss."""
    if not isinstance(item.get(ATTR_DATA), dict | str):
        return False
    if not isinstance(item.get(ATTR_LAST_UPDATED_REGION, ""), str):
        return False
    return all(_whole_number(item.get(name)) for name in WHOLE_NUMBER_ATTRIBUTES if name in item)


def _whole_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.isascii() and value.isdigit()


def public_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """What the API shows of an item (also of a copy a writer cached with more attributes)."""
    shown = {name: item[name] for name in PUBLIC_ATTRIBUTES if name in item}
    for name in WHOLE_NUMBER_ATTRIBUTES:
        if name in shown:
            shown[name] = int(shown[name])
    return shown


# ---- requests, errors and unknown routes ---------------------------------------------------------


def request_text(event: APIGatewayProxyEventV2) -> str | None:
    """The body as text, decoded by the library when API Gateway marked it base64-encoded."""
    try:
        return event.decoded_body
    except ValueError:  # binascii.Error, UnicodeDecodeError
        raise ValidationError("body", "is marked base64-encoded but is not base64 of UTF-8 text") from None


def refused(error: ValidationError) -> JsonResponse:
    return answer(400, error.as_dict())


def failed(app: HttpApiResolver, error: Exception) -> JsonResponse:
    """A dependency's failure is a 503 to retry; anything else a 500. The details (names, endpoints) go to the log, not
    to the client; the request id ties the two."""
    request_id, route = app.context.get("request_id", ""), app.context.get("route", "")
    if isinstance(error, RetryableError) or _is_aws_error(error):
        logger.warning("dependency unavailable", extra={"route": route, "error": repr(error)})
        return unavailable("dependency", f"a dependency is unavailable (request {request_id}); retry later")
    logger.error("request failed", exc_info=error, extra={"route": route})
    return answer(500, {"error": "internal", "message": f"internal error (request {request_id})"})


def no_route(app: HttpApiResolver) -> JsonResponse:
    """No route of this function matches. API Gateway matched a route key this function does not serve: 404 naming
    it (a deployment that declares more routes than the function has). A catch-all request (``$default``, a direct
    invocation) is routed by its path: 405 with ``Allow`` for a path that has routes for other methods, else 404."""
    event = app.current_event
    method, path, route_key = event.http_method, event.path, event.route_key
    if route_key and route_key != DEFAULT_ROUTE_KEY:
        return answer(404, {"error": "not_found", "field": "route", "message": f"no route {route_key}"})
    allowed = app.allowed_methods(path)
    if allowed:
        message = f"{method} is not allowed on {path}; allowed: {', '.join(allowed)}"
        return answer(405, {"error": "method_not_allowed", "field": "method", "message": message}, {"Allow": ", ".join(allowed)})
    return answer(404, {"error": "not_found", "field": "route", "message": f"no route {method} {path}"})


def answer(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> JsonResponse:
    from aws_lambda_powertools.event_handler import Response  # on the first request: see functions/api/routing.py
    from aws_lambda_powertools.event_handler.content_types import APPLICATION_JSON

    return Response(status_code=status, content_type=APPLICATION_JSON, body=body, headers=headers)


def unavailable(what: str, message: str) -> JsonResponse:
    body = {"error": "unavailable", "field": what, "message": message}
    return answer(503, body, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def _is_aws_error(error: BaseException) -> bool:
    """A botocore error (a ClientError, a connection or timeout error): a dependency, not a bug, so 503."""
    return type(error).__module__.split(".")[0] == "botocore"
