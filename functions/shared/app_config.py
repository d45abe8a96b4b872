"""The application's runtime configuration: one SSM parameter per region, written by the stack, read with caching.

The parameter holds a JSON document (:class:`RuntimeSettings`): the cache TTLs, the clock-skew limit and the feature
flags. A function reads it through Powertools' parameters utility with ``max_age`` (``APP_CONFIG_MAX_AGE_SECONDS``), so
a change reaches a warm container within that bound; SSM unreachable or the document unusable, it keeps the last value
read and asks again after ``max_age``; before any read succeeded, the code's defaults (``Settings``), equal to the
stack's declared defaults. Why: docs/design/app-config.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from functions.shared.cache import ItemCache
from functions.shared.errors import ValidationError
from functions.shared.log import get_logger

if TYPE_CHECKING:
    from functions.shared.settings import Settings

logger = get_logger("app-config")

# Every feature flag with what it switches; adding a flag is one entry here and its use in the code.
FEATURE_FLAGS: dict[str, str] = {
    "cacheReads": "GET /items/{id} reads through the cache; off, every read goes to the table (invalidations go on, so "
    "switching it back on serves nothing stale)",
}
PARAMETER_VARIABLE = "APP_CONFIG_PARAMETER"
MAX_AGE_VARIABLE = "APP_CONFIG_MAX_AGE_SECONDS"
DEFAULT_MAX_AGE_SECONDS = 60
# Parameter Store's standard tier takes values up to 4 KB.
STANDARD_TIER_LIMIT_BYTES = 4096
# The document's whole-number fields: the JSON name, the lowest value, the highest.
NUMBER_FIELDS: dict[str, tuple[str, int, int]] = {
    "cache_ttl_seconds": ("cacheTtlSeconds", 1, 86400),
    "negative_cache_ttl_seconds": ("negativeCacheTtlSeconds", 1, 300),
    "max_clock_skew_seconds": ("maxClockSkewSeconds", 1, 3600),
}


@dataclass(frozen=True)
class RuntimeSettings:
    """What the parameter's document carries: every field an operator may change without deploying code.

    Example:
        >>> RuntimeSettings(300, 5, 300, frozenset({"cacheReads"})).to_document()
        '{"cacheTtlSeconds":300,"featureFlags":{"cacheReads":true},"maxClockSkewSeconds":300,"negativeCacheTtlSeconds":5}'
    """

    cache_ttl_seconds: int
    negative_cache_ttl_seconds: int
    max_clock_skew_seconds: int
    feature_flags: frozenset[str]

    def to_document(self) -> str:
        """The parameter's value: compact JSON with sorted keys, so equal settings are equal text in every region."""
        body: dict[str, Any] = {json_name: getattr(self, name) for name, (json_name, _, _) in NUMBER_FIELDS.items()}
        body["featureFlags"] = {flag: flag in self.feature_flags for flag in FEATURE_FLAGS}
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_document(cls, document: object) -> RuntimeSettings:
        """The settings of a parsed document; a flag this code does not know is ignored (a newer stack's document).

        Raises
        ------
        ValidationError
            Naming the first field that is missing or out of range, with what it allows.
        """
        if not isinstance(document, Mapping):
            raise ValidationError("document", f"must be a JSON object, got {type(document).__name__}")
        numbers = {name: _whole_number(document, *spec) for name, spec in NUMBER_FIELDS.items()}
        flags = document.get("featureFlags")
        if not isinstance(flags, Mapping) or not all(isinstance(v, bool) for v in flags.values()):
            raise ValidationError("featureFlags", "must be an object of flag names to true or false")
        missing = [flag for flag in FEATURE_FLAGS if flag not in flags]
        if missing:
            raise ValidationError("featureFlags", f"lacks {', '.join(missing)}; flags: {', '.join(FEATURE_FLAGS)}")
        return cls(**numbers, feature_flags=frozenset(f for f in FEATURE_FLAGS if flags[f]))

    @classmethod
    def of(cls, settings: Settings) -> RuntimeSettings:
        """The runtime part of a function's settings (its defaults before the parameter is read)."""
        return cls(
            settings.cache_ttl_seconds,
            settings.negative_cache_ttl_seconds,
            settings.max_clock_skew_ms // 1000,
            settings.feature_flags,
        )

    def applied_to(self, settings: Settings) -> Settings:
        """``settings`` with these runtime values in place."""
        return replace(
            settings,
            cache_ttl_seconds=self.cache_ttl_seconds,
            negative_cache_ttl_seconds=self.negative_cache_ttl_seconds,
            max_clock_skew_ms=self.max_clock_skew_seconds * 1000,
            feature_flags=self.feature_flags,
        )


def _whole_number(document: Mapping[str, Any], json_name: str, low: int, high: int) -> int:
    value = document.get(json_name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(json_name, f"must be a whole number from {low} to {high}, got {value!r}")
    return value


def document_size_problem(document: str) -> str | None:
    """Why ``document`` cannot be a standard-tier parameter's value (over 4 KB as UTF-8), or None."""
    size = len(document.encode())
    if size > STANDARD_TIER_LIMIT_BYTES:
        return f"the document has {size} bytes; a standard-tier parameter takes at most {STANDARD_TIER_LIMIT_BYTES}"
    return None


class AppConfigSource:
    """The container's reader of the region's parameter, through one Powertools ``SSMProvider`` (its cache keeps a
    value ``max_age_seconds``); see the module docstring for the fallback.

    Parameters
    ----------
    name: the parameter's name.
    region: the region whose Parameter Store holds it (the function's own).
    defaults: what :meth:`current` answers before a read has succeeded.
    max_age_seconds: how long a value read (or a failed read) is kept before SSM is asked again.
    provider: builds the Powertools provider (tests pass one on a moto-server client); by default on the container's
        SSM client (``functions.shared.clients.aws_client``), built on first use.
    clock: monotonic seconds, for the wait after a failed read.
    """

    def __init__(
        self,
        name: str,
        region: str,
        defaults: RuntimeSettings,
        max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS,
        *,
        provider: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self.region, self.max_age_seconds, self.clock = name, region, max_age_seconds, clock
        self._make_provider = provider or self._default_provider
        self._provider: Any = None
        self._last = defaults
        self._retry_at = float("-inf")

    def _default_provider(self) -> Any:
        from aws_lambda_powertools.utilities.parameters import SSMProvider

        from functions.shared.clients import aws_client

        return SSMProvider(boto3_client=aws_client("ssm", self.region))

    def current(self) -> RuntimeSettings:
        """The settings in force: the parameter's (at most ``max_age_seconds`` old), else the last known."""
        now = self.clock()
        if now < self._retry_at:
            return self._last
        try:
            if self._provider is None:
                self._provider = self._make_provider()
            document = self._provider.get(self.name, max_age=self.max_age_seconds, transform="json", decrypt=True)
            self._last = RuntimeSettings.from_document(document)
        except Exception as error:
            # SSM unreachable, the parameter missing or its document unusable: keep serving, ask again later.
            self._retry_at = now + self.max_age_seconds
            logger.warning(
                "app config unreadable: keeping the last known settings",
                extra={"parameter": self.name, "error": repr(error), "retry_in_seconds": self.max_age_seconds},
            )
        return self._last


def source_from_env(settings: Settings, environ: Mapping[str, str]) -> AppConfigSource | None:
    """The container's source, when the deployment names a parameter (``APP_CONFIG_PARAMETER``); None otherwise.

    Raises
    ------
    ValidationError
        ``APP_CONFIG_MAX_AGE_SECONDS`` is not a whole number of at least 1.
    """
    name = environ.get(PARAMETER_VARIABLE, "")
    if not name:
        return None
    raw = environ.get(MAX_AGE_VARIABLE) or str(DEFAULT_MAX_AGE_SECONDS)
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationError(MAX_AGE_VARIABLE, f"must be a whole number of seconds, at least 1, got {raw!r}")
    return AppConfigSource(name, settings.region, RuntimeSettings.of(settings), int(raw))


def refresh(source: AppConfigSource | None, cache: object) -> RuntimeSettings | None:
    """The source's current settings, with the item cache's TTLs set from them (a function calls this at the start
    of each invocation); None without a source, which leaves everything as built."""
    if source is None:
        return None
    current = source.current()
    if isinstance(cache, ItemCache):
        cache.ttl_seconds, cache.negative_ttl_seconds = current.cache_ttl_seconds, current.negative_cache_ttl_seconds
    return current
