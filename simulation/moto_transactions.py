"""The moto server's ``TransactWriteItems`` made all or nothing without a rollback: every condition checked first, then
the writes, so a cancelled transaction leaves nothing, not even on the table's stream.

moto 5.2 writes a transaction's actions one by one and, when one fails, restores a deep copy of every table it touched
(moto/dynamodb/models): the copy costs ~0.2 ms per item in the table, and the stream keeps the records of the writes it
undid (a replica would receive a write that never happened). :func:`install` replaces the backend's method in the
server process (``MotoServer`` starts it so, ``python -m simulation.moto_transactions``). It does not isolate concurrent
requests: the threaded server never did, and the concurrency tests use ``simulation/transactions_double.py``.
"""

from __future__ import annotations

import sys
from typing import Any


def install() -> None:
    """Replace ``DynamoDBBackend.transact_write_items`` in this process."""
    from moto.dynamodb.models import DynamoDBBackend

    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    reasons: list[tuple[str, str, dict[str, Any] | None] | tuple[None, None, None]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        kind, op = next(iter(entry.items()))
        table = self.get_table(op["TableName"])
        key = op.get("Key") or {
            name: op["Item"][name] for name in (table.hash_key_attr, table.range_key_attr) if name is not None
        }
        target = (op["TableName"], str(dict(sorted(key.items()))))
        if target in seen:
            raise MultipleTransactionsException()
        seen.add(target)
        current = self.get_item(op["TableName"], key)
        expression = op.get("ConditionExpression")
        if expression is None or get_filter_expression(
            expression, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        ).expr(current):
            reasons.append((None, None, None))
            continue
        asked = op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current
        reasons.append(
            ("ConditionalCheckFailed", "The conditional request failed", current.to_json()["Attributes"] if asked else None)
        )
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)
    for entry in transact_items:
        kind, op = next(iter(entry.items()))
        # The conditions were checked above; written with them, as moto's own method does.
        expression = {
            "condition_expression": op.get("ConditionExpression"),
            "expression_attribute_names": op.get("ExpressionAttributeNames"),
            "expression_attribute_values": op.get("ExpressionAttributeValues"),
        }
        if kind == "Put":
            self.put_item(op["TableName"], op["Item"], **expression)
        elif kind == "Delete":
            self.delete_item(op["TableName"], op["Key"], **expression)
        elif kind == "Update":
            self.update_item(op["TableName"], op["Key"], update_expression=op["UpdateExpression"], **expression)


if __name__ == "__main__":
    install()
    from moto.server import main

    main(sys.argv[1:])
