"""A DynamoDB client whose ``TransactWriteItems`` has the service's documented isolation, for concurrency tests.

The moto server runs a transaction's actions one after another, isolated from no concurrent request, and copies the
whole table for each. :class:`TransactionalClient` wraps a low-level client of it and gives DynamoDB's documented
semantics (developer guide, "Isolation levels for DynamoDB transactions"; API reference, ``TransactWriteItems``): all
conditions are checked before any write (all or nothing); per item, transactions and single-item writes are
serializable; a transaction meeting an item another holds is cancelled (``TransactionConflict`` at that action); a
single-item write on a held item fails (``TransactionConflictException``); ``GetItem`` waits for the holder. Reasons
come in the actions' order, with the item under ``ReturnValuesOnConditionCheckFailure=ALL_OLD``. Conditions are
evaluated by moto's own expression parser. Tests: ``tests/test_transactions_double.py``.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.models.dynamo_type import DynamoType, Item

ACTIONS = ("ConditionCheck", "Put", "Update", "Delete")
NO_REASON = {"Code": "None"}
CONFLICT = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
CONDITION_FAILED = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}

ItemRef = tuple[str, str]


class TransactionalClient:
    """A low-level DynamoDB client (``client``) with isolated transactions; every other call goes to ``client``.

    ``while_held`` is called inside every transaction, after it took its items and before it checks them: a test
    pauses there to meet a held item. ``patience`` (seconds, 0 by default: DynamoDB's behaviour) lets a transaction
    wait that long for a held item before it is cancelled: the emulator answers in milliseconds per request, so a
    transaction here holds its items ten times as long as one of the service, and a concurrency test that wants
    conflicts as rare as the service's waits about that difference. With ``sole_writer`` (every item a transaction
    touches was written through this client only, from when the table was empty of it) conditions are checked on the
    images this client keeps, an item it never wrote being absent, so a transaction holds its items only for its
    writes; else each check reads the item.
    """

    def __init__(
        self,
        client: Any,
        while_held: Callable[[], None] | None = None,
        *,
        patience: float = 0.0,
        sole_writer: bool = False,
    ) -> None:
        self._client = client
        self.while_held = while_held
        self.patience, self.sole_writer = patience, sole_writer
        self._changed = threading.Condition()
        self._in_transactions: set[ItemRef] = set()
        self._in_writes: set[ItemRef] = set()
        # With sole_writer: the image of each item as this client last wrote or read it, and the items whose image it
        # does not know (written by a single request whose result it did not see).
        self._images: dict[ItemRef, dict[str, Any] | None] = {}
        self._unknown: set[ItemRef] = set()
        self.conflicts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    # ---- transactions -----------------------------------------------------------------------------------------------

    def transact_write_items(self, *, TransactItems: list[Mapping[str, Any]], **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's name
        actions = [_only_action(entry) for entry in TransactItems]
        refs = [self._ref(action) for _, action in actions]
        if len(set(refs)) < len(refs):
            raise _error("ValidationException", "Transaction request cannot include multiple operations on one item")
        with self._holding(refs):
            if self.while_held is not None:
                self.while_held()
            reasons = [self._check(action, ref) for (_, action), ref in zip(actions, refs, strict=True)]
            if any(reason["Code"] != "None" for reason in reasons):
                raise _cancelled(reasons)
            for (kind, action), ref in zip(actions, refs, strict=True):
                self._write(kind, action, ref)
        return {}

    @contextmanager
    def _holding(self, refs: list[ItemRef]) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._in_transactions.intersection(refs), timeout=self.patience)
            if held := {ref for ref in refs if ref in self._in_transactions}:
                self.conflicts += 1
                raise _cancelled([CONFLICT if ref in held else NO_REASON for ref in refs])
            self._changed.wait_for(lambda: not self._in_writes.intersection(refs))
            self._in_transactions.update(refs)
        try:
            yield
        finally:
            with self._changed:
                self._in_transactions.difference_update(refs)
                self._changed.notify_all()

    def _check(self, action: Mapping[str, Any], ref: ItemRef) -> Mapping[str, Any]:
        """The action's reason: None, or a failed condition (with the item when asked)."""
        if not self.sole_writer or ref in self._unknown:
            key = action.get("Key") or self._key_of(action["TableName"], action["Item"])
            self._images[ref] = self._client.get_item(TableName=action["TableName"], Key=key, ConsistentRead=True).get("Item")
            self._unknown.discard(ref)
        current = self._images.get(ref)
        expression = action.get("ConditionExpression")
        if expression is None:
            return NO_REASON
        condition = get_filter_expression(
            expression, action.get("ExpressionAttributeNames"), action.get("ExpressionAttributeValues")
        )
        hash_name = self._key_names(action["TableName"])[0]
        if condition.expr(Item(DynamoType(current[hash_name]), None, current) if current else None):
            return NO_REASON
        if action.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
            return {**CONDITION_FAILED, "Item": current}
        return CONDITION_FAILED

    def _write(self, kind: str, action: Mapping[str, Any], ref: ItemRef) -> None:
        """One checked action, written with its own request (its condition holds: the item is held)."""
        request = {name: value for name, value in action.items() if name != "ReturnValuesOnConditionCheckFailure"}
        if kind == "Put":
            self._client.put_item(**request)
            self._images[ref] = dict(request["Item"])
        elif kind == "Update":
            self._images[ref] = self._client.update_item(**request, ReturnValues="ALL_NEW")["Attributes"]
        elif kind == "Delete":
            self._client.delete_item(**request)
            self._images[ref] = None

    # ---- single-item requests ---------------------------------------------------------------------------------------

    def get_item(self, **request: Any) -> dict[str, Any]:
        ref = (request["TableName"], _key_text(request["Key"]))
        with self._changed:
            self._changed.wait_for(lambda: ref not in self._in_transactions)
        response: dict[str, Any] = self._client.get_item(**request)
        return response

    def put_item(self, **request: Any) -> dict[str, Any]:
        key = self._key_of(request["TableName"], request["Item"])
        return self._single_write(self._client.put_item, (request["TableName"], _key_text(key)), request)

    def update_item(self, **request: Any) -> dict[str, Any]:
        return self._single_write(self._client.update_item, (request["TableName"], _key_text(request["Key"])), request)

    def delete_item(self, **request: Any) -> dict[str, Any]:
        return self._single_write(self._client.delete_item, (request["TableName"], _key_text(request["Key"])), request)

    def _single_write(self, call: Callable[..., dict[str, Any]], ref: ItemRef, request: Mapping[str, Any]) -> dict[str, Any]:
        with self._changed:
            self._changed.wait_for(lambda: ref not in self._in_writes)
            if ref in self._in_transactions:
                self.conflicts += 1
                raise _error("TransactionConflictException", "Transaction is ongoing for the item")
            self._in_writes.add(ref)
        written: dict[str, Any] | None = None
        refused = False
        try:
            response = call(**request)
            written = request.get("Item") if call == self._client.put_item else None
            return response
        except ClientError as error:
            refused = error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
            raise
        finally:
            with self._changed:
                if written is not None:
                    self._images[ref] = dict(written)
                elif not refused:  # an update, a delete, or an error that may have written: read it next time
                    self._unknown.add(ref)
                self._in_writes.discard(ref)
                self._changed.notify_all()

    # ---- keys -------------------------------------------------------------------------------------------------------

    def _ref(self, action: Mapping[str, Any]) -> ItemRef:
        key = action.get("Key") or self._key_of(action["TableName"], action["Item"])
        return action["TableName"], _key_text(key)

    def _key_of(self, table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._key_names(table)}

    @functools.cache  # noqa: B019 - one double per test, a handful of tables
    def _key_names(self, table: str) -> tuple[str, ...]:
        schema = self._client.describe_table(TableName=table)["Table"]["KeySchema"]
        return tuple(entry["AttributeName"] for entry in sorted(schema, key=lambda entry: entry["KeyType"] != "HASH"))


def _only_action(entry: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    kinds = [kind for kind in entry if kind in ACTIONS]
    if len(kinds) != 1 or len(entry) != 1:
        raise _error("ValidationException", f"each TransactItems entry takes exactly one of {', '.join(ACTIONS)}")
    return kinds[0], entry[kinds[0]]


def _key_text(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


def _error(code: str, message: str, **extra: Any) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}, **extra}
    return ClientError(response, "TransactWriteItems")


def _cancelled(reasons: list[Mapping[str, Any]]) -> ClientError:
    codes = ", ".join(str(reason["Code"]) for reason in reasons)
    message = f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]"
    return _error("TransactionCanceledException", message, CancellationReasons=[dict(reason) for reason in reasons])
