"""The processor driven as Lambda's SQS event source drives it, in-process: records as Lambda delivers them, a poller
over a real (moto) queue, and what a test reads back (items, the metrics a processor emitted)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from functions.processor.handler import Processor, handle
from functions.shared.codec import item_from_image
from functions.shared.state import ItemTable
from tests.support.dynamo import WRITE_REGION


@dataclass
class Context:
    aws_request_id: str = "request-1"


def record(message_id: str, message_body: str, receive_count: int = 1) -> dict[str, Any]:
    """An SQS record as Lambda delivers it."""
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": message_body,
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{WRITE_REGION}:123456789012:events",
        "awsRegion": WRITE_REGION,
    }


def get(table: ItemTable, record_id: str) -> dict[str, Any] | None:
    item = table.client.get_item(TableName=table.name, Key={"Id": {"S": record_id}}, ConsistentRead=True).get("Item")
    return item_from_image(item) if item else None


def emitted_metrics(processor: Processor) -> list[dict[str, Any]]:
    stream = processor.metrics.stream
    assert isinstance(stream, io.StringIO)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class QueuePoller:
    """What Lambda's SQS event source does, in-process: receive a batch, call the handler, delete the records it did not
    report as failed. A failed record is made visible again at once (its visibility timeout ends now), so the test
    does not wait for it; SQS moves it to the dead-letter queue when it is received again after maxReceiveCount."""

    def __init__(self, sqs: Any, queue_url: str, processor: Processor) -> None:
        self.sqs, self.queue_url, self.processor = sqs, queue_url, processor

    def poll_once(self) -> int:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return 0
        records = [
            {
                **record(message["MessageId"], message["Body"], int(message["Attributes"]["ApproximateReceiveCount"])),
                "receiptHandle": message["ReceiptHandle"],
            }
            for message in messages
        ]
        failed = {
            entry["itemIdentifier"] for entry in handle({"Records": records}, Context(), self.processor)["batchItemFailures"]
        }
        for message in messages:
            if message["MessageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def drain(self, max_polls: int = 50) -> None:
        for _ in range(max_polls):
            if self.poll_once() == 0:
                return
        raise AssertionError("the queue did not drain")
