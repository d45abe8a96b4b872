"""What the API's routing takes from Powertools: its HTTP API resolver, with API Gateway's path parameters.

Its own module because Powertools' package imports botocore's: the handler imports this on its first request, so
importing the handler loads neither (``tests/functions/test_cold_path.py``).
"""

from __future__ import annotations

import functools
import re

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class HttpApiResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver with API Gateway's path parameters, and the methods a path has.

    As in the library, a rule is a regular expression (the paths here are plain text) in which ``<name>`` stands for
    a path parameter: here one whole segment, any characters but ``/``, as ``{name}`` is in an API Gateway route key.
    The library's own ``<name>`` matches only a set of URL characters, but API Gateway hands over ``rawPath``
    percent-decoded: an id such as ``a#b`` (sent as ``a%23b``) would find no route and be answered 404, where the
    route's answer is a 400 naming the id. An empty segment matches too, so ``/items/`` is a missing id (400).
    """

    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "^{}$") -> re.Pattern[str]:
        return re.compile(base_regex.format(re.sub(r"<(\w+)>", r"(?P<\1>[^/]*)", rule)))

    def allowed_methods(self, path: str) -> list[str]:
        """The methods of the routes whose rule matches ``path`` (as the resolver matches them: the same rules)."""
        routes = (*self._static_routes, *self._dynamic_routes)
        return sorted({route.method for route in routes if route.rule.match(path)})


@functools.cache
def not_started() -> APIGatewayHttpResolver:
    """The resolver every request gets while the container cannot be built (its settings or a client failed)."""
    from functions.api.handler import unavailable

    resolver = APIGatewayHttpResolver()
    resolver.route(".*", list(HTTP_METHODS))(lambda: unavailable("configuration", "the function could not start; see its logs"))
    return resolver
