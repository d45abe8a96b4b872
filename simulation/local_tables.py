"""The items table on a local emulator, with the schema ``components/table.py`` deploys (``functions/shared/schema.py``).

The function tests and the drill create it on the moto server: the hash key ``Id`` (no secondary index) and a
stream with old and new images (what the stream handler and the replication double read). Capacity, encryption,
point-in-time recovery and TTL are deployment settings the emulator does not need.
"""

from __future__ import annotations

from typing import Any

from functions.shared.schema import ATTR_ID


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
