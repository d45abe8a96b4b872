"""The item schema of the global table (single-table design): the contract between the table and the functions.

The Pulumi program imports these names to build the table; the functions import them to read and write it. This
module is plain Python with no dependencies, so the Lambda package carries it as it is.
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

IDEMPOTENCY_INDEX = "IdempotencyKeyIndex"
IDEMPOTENCY_INDEX_PROJECTION = "INCLUDE"
# Besides the keys (Id, IdempotencyKey): what answering a repeat of an event needs. Changing this list rebuilds the
# index (DynamoDB cannot change a GSI's projection in place).
IDEMPOTENCY_INDEX_ATTRIBUTES = (ATTR_PAYLOAD_HASH, ATTR_RECORD_TYPE, ATTR_VERSION, ATTR_TIMESTAMP, ATTR_LAST_UPDATED_REGION)

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
