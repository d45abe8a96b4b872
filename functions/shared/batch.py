"""Partial batch responses on Powertools' ``BatchProcessor``, for the SQS processor and the stream handler.

The library drives the record handler over every record and reports each record whose handler raised (its
``messageId`` or ``SequenceNumber``); the event source mappings enable ``ReportBatchItemFailures``. Two choices
the functions share: a batch where every record fails is answered with every record rather than an error
(``raise_on_entire_batch_failure=False``: an error would retry the whole batch, or make Lambda bisect a stream batch
instead of resuming at the first failure), and an empty batch, which the library refuses, is answered with no
failures. Powertools is imported on the first batch: its package imports botocore's
(``tests/functions/test_cold_path.py``). Why: ``docs/design/functions.md`` (Batches).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

SQS = "SQS"
DYNAMODB_STREAMS = "DynamoDBStreams"


def process_partial_batch(
    records: Sequence[Mapping[str, Any]], event_type: str, record_handler: Callable[[Any], Any]
) -> PartialItemFailureResponse:
    """Run ``record_handler`` on each record (as Powertools' typed record of ``event_type``: ``SQS`` or
    ``DynamoDBStreams``); the records whose handler raised, in order."""
    if not records:  # the library refuses an empty batch
        return {"batchItemFailures": []}
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    batch = BatchProcessor(EventType(event_type), raise_on_entire_batch_failure=False)
    return process_partial_response({"Records": list(records)}, record_handler, batch)
