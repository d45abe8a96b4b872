"""Requests to the regional API as API Gateway's HTTP API hands them to the function (payload format 2.0): for the
drill and the tests, which call the real handler in-process."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode


def http_api_event(
    route: str,
    *,
    item_id: str | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
    request_id: str = "r",
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The event of a request for ``route`` (``GET /items/{id}``), ``{id}`` filled with ``item_id`` (empty when None)
    and any other ``{name}`` with ``path_parameters[name]``.

    As API Gateway sends it on the ``$default`` stage: ``rawPath`` percent-decoded, the route key and path parameters
    of the matched route, the body as text (``body`` not a str is sent as JSON).
    """
    method, template = route.split(" ", 1)
    path = template.replace("{id}", item_id or "")
    for name, value in (path_parameters or {}).items():
        path = path.replace(f"{{{name}}}", value)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {},
        "isBase64Encoded": False,
        "requestContext": {"requestId": request_id, "stage": "$default", "http": {"method": method, "path": path}},
    }
    parameters = {**({"id": item_id} if item_id is not None else {}), **(path_parameters or {})}
    if parameters:
        event["pathParameters"] = parameters
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    if query is not None:
        event["queryStringParameters"] = query
    return event
