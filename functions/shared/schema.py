"""The item schema of the global table (single-table design): the contract between the table and the functions.

The Pulumi program imports these names to build the table; the functions import them to read and write it. This
module is plain Python with no dependencies, so the Lambda package carries it as it is. The records and their
lifetimes are described in ``docs/design/write-path.md``.
"""

from __future__ import annotations

# Item attributes (ARCHITECTURE §3).
ATTR_ID = "Id"
ATTR_DATA = "Data"
ATTR_VERSION = "Version"
ATTR_TIMESTAMP = "Timestamp"
ATTR_LAST_UPDATED_REGION = "LastUpdatedRegion"
ATTR_IDEMPOTENCY_KEY = "IdempotencyKey"
ATTR_PAYLOAD_HASH = "PayloadHash"
ATTR_RECORD_TYPE = "RecordType"
ATTR_EXPIRES_AT = "ExpiresAt"
# The item's place in last-writer-wins (functions.shared.events.order_token); also the version of a cached copy.
ATTR_ORDER_TOKEN = "OrderToken"

# The fencing token an item was written under, and what the write path's own records hold.
ATTR_WRITE_EPOCH = "WriteEpoch"
ATTR_ITEM_ID = "ItemId"
ATTR_OUTCOME = "Outcome"
ATTR_WINNER_ORDER_TOKEN = "WinnerOrderToken"
ATTR_CLAIMED_AT = "ClaimedAt"
ATTR_OWNER_DEADLINE = "OwnerDeadline"
ATTR_LOSER_ORDER_TOKEN = "LoserOrderToken"
ATTR_LOSER_IDEMPOTENCY_KEY = "LoserIdempotencyKey"
ATTR_LOSER_REGION = "LoserRegion"
ATTR_DETECTED_BY = "DetectedBy"
ATTR_DETECTED_IN = "DetectedIn"
ATTR_DETECTED_AT = "DetectedAt"

# Records besides the items: an idempotency claim per key and a conflict record per loser of last-writer-wins.
IDEMPOTENCY_PREFIX = "IDEMPOTENCY#"
CONFLICT_PREFIX = "CONFLICT#"
# Item ids never contain '#' (functions.shared.events.KEY_PATTERN); every other record's id does.
RECORD_ID_MARKER = "#"
RECORD_TYPE_ITEM = "item"
RECORD_TYPE_IDEMPOTENCY = "idempotency"
RECORD_TYPE_CONFLICT = "conflict"

# The application-state record.
STATE_ITEM_ID = "STATE#application"
RECORD_TYPE_STATE = "state"
ATTR_STATUS = "Status"
ATTR_ACTIVE_REGION = "ActiveRegion"
ATTR_EPOCH = "Epoch"
ATTR_UPDATED_AT = "UpdatedAt"
ATTR_UPDATED_BY = "UpdatedBy"
STATUS_ACTIVE = "active"
STATUS_FENCED = "fenced"
STATUS_FAILOVER = "failover"
ALLOWED_STATES = (STATUS_ACTIVE, STATUS_FENCED, STATUS_FAILOVER)
INITIAL_EPOCH = 1


def table_name(project: str, stack: str) -> str:
    """The table's fixed name, the same in every region: ``<project>-<stack>-items``.

    Example:
        >>> table_name("multi-region", "prod")
        'multi-region-prod-items'
    """
    return f"{project}-{stack}-items"


def idempotency_record_id(idempotency_key: str) -> str:
    """The id of the claim of ``idempotency_key``: ``IDEMPOTENCY#<key>``."""
    return f"{IDEMPOTENCY_PREFIX}{idempotency_key}"


def conflict_record_id(item_id: str, loser_order_token: str) -> str:
    """The id of the record of a loser: ``CONFLICT#<item id>#<loser's order token>`` (one record per loser)."""
    return f"{CONFLICT_PREFIX}{item_id}#{loser_order_token}"


def is_item_id(record_id: str) -> bool:
    """True for an application item, False for the table's own records (state, idempotency, conflict)."""
    return RECORD_ID_MARKER not in record_id
