"""The items table on a local emulator, with the schema ``components/table.py`` deploys (``functions/shared/schema.py``).

The function tests and the drill create it on the moto server: the hash key ``Id`` (no secondary index) and a
stream with old and new images (what the stream handler and the replication double read). Capacity, encryption,
point-in-time recovery and TTL are deployment settings the emulator does not need. The tests and the benchmarks fill it
with :func:`put_item`.
"""

from __future__ import annotations

from typing import Any

from functions.shared.codec import to_attribute
from functions.shared.schema import (
    ATTR_DATA,
    ATTR_ID,
    ATTR_IDEMPOTENCY_KEY,
    ATTR_LAST_UPDATED_REGION,
    ATTR_RECORD_TYPE,
    ATTR_TIMESTAMP,
    ATTR_VERSION,
)
from functions.shared.state import ItemTable


def items_table_request(name: str) -> dict[str, Any]:
    """The ``CreateTable`` request of the items table ``name`` (pure)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": ATTR_ID, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": ATTR_ID, "KeyType": "HASH"}],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def create_items_table(client: Any, name: str) -> None:
    """Create the items table ``name`` with a low-level DynamoDB client of the emulator."""
    client.create_table(**items_table_request(name))


def item_record(item_id: str, *, data: dict[str, Any], version: int, timestamp: int, region: str) -> dict[str, Any]:
    """The item ``item_id`` in DynamoDB JSON as the processor writes it (plain attributes; the write path's own
    bookkeeping is not needed to read it back)."""
    return {
        ATTR_ID: {"S": item_id},
        ATTR_RECORD_TYPE: {"S": "item"},
        ATTR_DATA: to_attribute(data),
        ATTR_VERSION: {"N": str(version)},
        ATTR_TIMESTAMP: {"N": str(timestamp)},
        ATTR_LAST_UPDATED_REGION: {"S": region},
        ATTR_IDEMPOTENCY_KEY: {"S": f"key-{item_id}-{version}"},
    }


def put_item(table: ItemTable, item_id: str, *, data: dict[str, Any], version: int, timestamp: int, region: str) -> None:
    """Write the item ``item_id`` (:func:`item_record`) straight into ``table``."""
    table.client.put_item(
        TableName=table.name,
        Item=item_record(item_id, data=data, version=version, timestamp=timestamp, region=region),
    )
