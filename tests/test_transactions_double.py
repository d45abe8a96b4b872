"""The transactions double (simulation/transactions_double.py) against DynamoDB's documented transaction semantics:
all or nothing, cancellation reasons in the actions' order (with the item under ``ALL_OLD``), ``TransactionConflict``
for a transaction meeting a held item, ``TransactionConflictException`` for a single write on one, reads that wait
for the holder, one action per item, and serializable counters under threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from simulation.drill_world import local_client
from simulation.local_tables import create_items_table
from simulation.transactions_double import TransactionalClient

TABLE = "items"


@pytest.fixture
def raw(aws_endpoint: str) -> Any:
    client = local_client("dynamodb", "us-east-1", aws_endpoint)
    create_items_table(client, TABLE)
    client.put_item(TableName=TABLE, Item={"Id": {"S": "b"}, "N": {"N": "1"}})
    return client


def put_new(record_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": TABLE,
            "Item": {"Id": {"S": record_id}, "N": {"N": "0"}},
            "ConditionExpression": "attribute_not_exists(Id)",
            **extra,
        }
    }


def bump(record_id: str, expected: int, **extra: Any) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": {"Id": {"S": record_id}},
            "UpdateExpression": "SET N = N + :one",
            "ConditionExpression": "N = :expected",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":expected": {"N": str(expected)}},
            **extra,
        }
    }


def cancelled(client: TransactionalClient, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with pytest.raises(ClientError) as raised:
        client.transact_write_items(TransactItems=items)
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons: list[dict[str, Any]] = raised.value.response["CancellationReasons"]
    return reasons


def ids(raw: Any) -> dict[str, int]:
    return {item["Id"]["S"]: int(item["N"]["N"]) for item in raw.scan(TableName=TABLE)["Items"]}


def test_a_transaction_writes_every_action_or_none(raw: Any) -> None:
    client = TransactionalClient(raw)
    reasons = cancelled(client, [put_new("a"), bump("b", 7, ReturnValuesOnConditionCheckFailure="ALL_OLD")])
    assert [reason["Code"] for reason in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"] == {"Id": {"S": "b"}, "N": {"N": "1"}}
    assert ids(raw) == {"b": 1}
    assert client.transact_write_items(TransactItems=[put_new("a"), bump("b", 1)]) == {}
    assert ids(raw) == {"a": 0, "b": 2}


def test_reasons_come_in_the_actions_order_with_the_item_only_when_asked(raw: Any) -> None:
    client = TransactionalClient(raw)
    raw.put_item(TableName=TABLE, Item={"Id": {"S": "a"}, "N": {"N": "5"}})
    reasons = cancelled(client, [bump("b", 9), put_new("a", ReturnValuesOnConditionCheckFailure="ALL_OLD"), put_new("c")])
    assert [reason["Code"] for reason in reasons] == ["ConditionalCheckFailed", "ConditionalCheckFailed", "None"]
    assert "Item" not in reasons[0]
    assert reasons[1]["Item"]["N"] == {"N": "5"}
    assert "c" not in ids(raw)


def test_two_actions_on_one_item_are_refused(raw: Any) -> None:
    with pytest.raises(ClientError, match="multiple operations on one item"):
        TransactionalClient(raw).transact_write_items(TransactItems=[put_new("a"), bump("a", 0)])


def test_a_held_item_cancels_other_transactions_fails_single_writes_and_delays_reads(raw: Any) -> None:
    entered, release = threading.Event(), threading.Event()
    holding = TransactionalClient(raw, while_held=lambda: (entered.set(), release.wait(5)))
    first = threading.Thread(target=holding.transact_write_items, kwargs={"TransactItems": [bump("b", 1)]})
    first.start()
    assert entered.wait(5)
    holding.while_held = None
    reasons = cancelled(holding, [put_new("c"), bump("b", 1)])
    assert [reason["Code"] for reason in reasons] == ["None", "TransactionConflict"]
    with pytest.raises(ClientError) as raised:
        holding.put_item(TableName=TABLE, Item={"Id": {"S": "b"}, "N": {"N": "0"}})
    assert raised.value.response["Error"]["Code"] == "TransactionConflictException"
    read: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: read.append(holding.get_item(TableName=TABLE, Key={"Id": {"S": "b"}})))
    reader.start()
    reader.join(0.2)
    assert read == []  # waits for the holder
    release.set()
    first.join(5)
    reader.join(5)
    assert read[0]["Item"]["N"] == {"N": "2"}  # the committed state
    assert ids(raw) == {"b": 2}


def test_concurrent_transactions_on_one_item_are_serializable(raw: Any) -> None:
    """Four threads add 1 forty times in all through a transaction conditional on the value they read; a conflict or a
    failed condition is tried again. No increment is lost or doubled."""
    client = TransactionalClient(raw)

    def add_one() -> None:
        while True:
            current = int(client.get_item(TableName=TABLE, Key={"Id": {"S": "b"}})["Item"]["N"]["N"])
            try:
                client.transact_write_items(TransactItems=[bump("b", current)])
                return
            except ClientError as error:
                assert error.response["Error"]["Code"] == "TransactionCanceledException"

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: add_one(), range(40)))
    assert ids(raw) == {"b": 41}


def test_the_local_moto_server_cancels_a_transaction_without_a_trace_on_the_stream(raw: Any, aws_endpoint: str) -> None:
    """simulation/moto_transactions.py: every condition is checked before any write, so a cancelled transaction writes
    nothing, not even a record on the stream (moto's own wrote, then restored the table and kept the records)."""
    reasons = cancelled(TransactionalClient(raw), [put_new("a"), bump("b", 7)])
    assert [reason["Code"] for reason in reasons] == ["None", "ConditionalCheckFailed"]
    with pytest.raises(ClientError) as raised:
        raw.transact_write_items(TransactItems=[put_new("a"), bump("b", 7, ReturnValuesOnConditionCheckFailure="ALL_OLD")])
    assert [reason["Code"] for reason in raised.value.response["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert raised.value.response["CancellationReasons"][1]["Item"]["N"] == {"N": "1"}
    streams = local_client("dynamodbstreams", "us-east-1", aws_endpoint)
    arn = raw.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    written = [record["dynamodb"]["Keys"]["Id"]["S"] for record in streams.get_records(ShardIterator=iterator)["Records"]]
    assert written == ["b"]
    assert ids(raw) == {"b": 1}
