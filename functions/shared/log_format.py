"""The JSON formatter of the functions' logs: Powertools' formatter plus the project's ``logger`` and ``request_id``.

Its own module because it imports Powertools, which :mod:`functions.shared.log` imports only on the first invocation.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from functions.shared.log import request_id_var


class JsonFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter (UTC timestamps) plus two keys: ``logger``, the module's logger name, and
    ``request_id``, the request of the invocation or record being handled (:func:`request_context`)."""

    def __init__(self, **keys: Any) -> None:
        super().__init__(utc=True, **keys)

    def format(self, record: logging.LogRecord) -> str:
        record.logger, record.request_id = record.name, request_id_var.get()
        return super().format(record)
