"""The losers of last-writer-wins: their records, and the winner written back where replication kept a loser.

The processor records the loser it finds when applying an event; the stream handler records the loser replication
delivered and re-asserts the winner. Both writes are conditional, so repeats and concurrent regions write once
(``docs/design/write-path.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.shared.codec import string_of, to_item
from functions.shared.conditional import conditional
from functions.shared.log import get_logger
from functions.shared.schema import (
    ATTR_DETECTED_AT,
    ATTR_DETECTED_BY,
    ATTR_DETECTED_IN,
    ATTR_EXPIRES_AT,
    ATTR_ID,
    ATTR_ITEM_ID,
    ATTR_LOSER_IDEMPOTENCY_KEY,
    ATTR_LOSER_ORDER_TOKEN,
    ATTR_LOSER_REGION,
    ATTR_ORDER_TOKEN,
    ATTR_RECORD_TYPE,
    ATTR_WINNER_ORDER_TOKEN,
    RECORD_TYPE_CONFLICT,
    conflict_record_id,
)
from functions.shared.state import ItemTable

logger = get_logger("conflicts")

CONFLICT_TTL_SECONDS = 30 * 24 * 3600


def record_conflict(
    table: ItemTable,
    *,
    item_id: str,
    loser_order_token: str,
    loser_idempotency_key: str,
    loser_region: str,
    winner_order_token: str,
    detected_by: str,
    detected_in: str,
    now: int,
) -> bool:
    """Record a loser of last-writer-wins once (a repeat finds the record and writes nothing). True when written."""
    record = to_item(
        {
            ATTR_ID: conflict_record_id(item_id, loser_order_token),
            ATTR_RECORD_TYPE: RECORD_TYPE_CONFLICT,
            ATTR_ITEM_ID: item_id,
            ATTR_LOSER_ORDER_TOKEN: loser_order_token,
            ATTR_LOSER_IDEMPOTENCY_KEY: loser_idempotency_key,
            ATTR_LOSER_REGION: loser_region,
            ATTR_WINNER_ORDER_TOKEN: winner_order_token,
            ATTR_DETECTED_BY: detected_by,
            ATTR_DETECTED_IN: detected_in,
            ATTR_DETECTED_AT: now,
            ATTR_EXPIRES_AT: now // 1000 + CONFLICT_TTL_SECONDS,
        }
    )
    result = conditional(
        table.client.put_item,
        TableName=table.name,
        Item=record,
        ConditionExpression="attribute_not_exists(#id)",
        ExpressionAttributeNames={"#id": ATTR_ID},
    )
    if not result.failed:
        logger.info(
            "conflict recorded",
            extra={
                "id": item_id,
                "loser": loser_order_token,
                "winner": winner_order_token,
                "detected_by": detected_by,
                "region": detected_in,
            },
        )
    return not result.failed


def reassert_winner(table: ItemTable, winner: Mapping[str, Any]) -> bool:
    """Write ``winner`` (an item in DynamoDB JSON) back if the item now holds an event below it, or a write without an
    order token (which the order puts below every event, as the processor's condition does). True when written. A
    deleted item stays deleted.

    Idempotent and safe under concurrency: repeated or concurrent re-assertions of one winner write it at most once
    per downgrade, and a newer write is never overwritten.
    """
    token = string_of(winner, ATTR_ORDER_TOKEN)
    if token is None:
        raise ValueError("the winner has no order token")
    result = conditional(
        table.client.put_item,
        TableName=table.name,
        Item=dict(winner),
        ConditionExpression="attribute_exists(#id) AND (attribute_not_exists(#order) OR #order < :winner)",
        ExpressionAttributeNames={"#id": ATTR_ID, "#order": ATTR_ORDER_TOKEN},
        ExpressionAttributeValues=to_item({":winner": token}),
    )
    return not result.failed
