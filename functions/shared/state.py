"""The application state (ARCHITECTURE §3): ``active`` / ``fenced`` / ``failover``, the active region and the epoch.

One item, ``Id = STATE#application``. The epoch is the fencing token: every :func:`transition` is conditional on the
expected epoch and raises it by one. :data:`TRANSITIONS` is the state machine; anything else raises
:class:`TransitionError`. Only ``active`` writes, and only in ``ActiveRegion``; every region serves reads. The table of
transitions and why a write checks a cached copy: ``docs/design/state-and-fencing.md``.

Example: ``transition(table, expected_epoch=state.epoch, to_status="fenced", active_region=state.active_region,
updated_by="ops failover")`` after ``state = read_state(table)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from functions.shared import codec
from functions.shared.errors import CONDITIONAL_CHECK_FAILED, ConflictError, RetryableError, error_code
from functions.shared.log import now_ms
from functions.shared.schema import (
    ALLOWED_STATES,
    ATTR_ACTIVE_REGION,
    ATTR_EPOCH,
    ATTR_ID,
    ATTR_RECORD_TYPE,
    ATTR_STATUS,
    ATTR_UPDATED_AT,
    ATTR_UPDATED_BY,
    RECORD_TYPE_STATE,
    STATE_ITEM_ID,
    STATUS_ACTIVE,
    STATUS_FAILOVER,
    STATUS_FENCED,
)

SAME_REGION = "the same region"
OTHER_REGION = "another region"
ANY_REGION = "any region"

# (from status, to status) -> what the new ActiveRegion may be, relative to the current one.
TRANSITIONS: Mapping[tuple[str, str], str] = {
    (STATUS_ACTIVE, STATUS_FENCED): SAME_REGION,
    (STATUS_FENCED, STATUS_ACTIVE): SAME_REGION,
    (STATUS_FENCED, STATUS_FAILOVER): OTHER_REGION,
    (STATUS_FAILOVER, STATUS_ACTIVE): SAME_REGION,
    (STATUS_FAILOVER, STATUS_FENCED): ANY_REGION,
}


class DynamoDBClient(Protocol):
    """What the library calls on a boto3 DynamoDB client (low-level API, DynamoDB JSON)."""

    def get_item(self, **kwargs: Any) -> dict[str, Any]: ...

    def put_item(self, **kwargs: Any) -> dict[str, Any]: ...

    def update_item(self, **kwargs: Any) -> dict[str, Any]: ...

    def delete_item(self, **kwargs: Any) -> dict[str, Any]: ...

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ItemTable:
    """The table a function works on: a low-level DynamoDB client of this region and the table's name."""

    client: DynamoDBClient
    name: str


class StateUnavailableError(RetryableError):
    """The state record could not be read or is missing or malformed: nothing may write until it can be read."""


class TransitionError(ConflictError):
    """An illegal or stale transition: refused, nothing written. ``current`` is the state it was checked against."""

    def __init__(self, message: str, current: AppState) -> None:
        self.current = current
        super().__init__(message)


@dataclass(frozen=True)
class AppState:
    """The application state record."""

    status: str
    active_region: str
    epoch: int
    updated_at: int
    updated_by: str

    def may_write(self, region: str) -> bool:
        """Writes are allowed only while active, and only in the active region."""
        return self.status == STATUS_ACTIVE and self.active_region == region

    def may_serve_reads(self, region: str | None = None) -> bool:
        """Every region serves reads in every known state (``region`` is accepted for symmetry with may_write)."""
        return self.status in ALLOWED_STATES

    def describe(self) -> str:
        return f"{self.status} in {self.active_region} at epoch {self.epoch}"

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> AppState:
        """From the record in DynamoDB JSON. Raises StateUnavailableError when it is not a valid state record."""
        try:
            state = cls(
                status=item[ATTR_STATUS]["S"],
                active_region=item[ATTR_ACTIVE_REGION]["S"],
                epoch=int(item[ATTR_EPOCH]["N"]),
                updated_at=int(item.get(ATTR_UPDATED_AT, {"N": "0"})["N"]),
                updated_by=item.get(ATTR_UPDATED_BY, {"S": ""})["S"],
            )
        except (KeyError, TypeError, ValueError) as error:
            raise StateUnavailableError(f"the state record {STATE_ITEM_ID} is malformed: {error!r}") from None
        if state.status not in ALLOWED_STATES:
            raise StateUnavailableError(f"the state record has an unknown status {state.status!r}")
        return state

    def to_item(self) -> dict[str, dict[str, Any]]:
        return codec.to_item(
            {
                ATTR_ID: STATE_ITEM_ID,
                ATTR_RECORD_TYPE: RECORD_TYPE_STATE,
                ATTR_STATUS: self.status,
                ATTR_ACTIVE_REGION: self.active_region,
                ATTR_EPOCH: self.epoch,
                ATTR_UPDATED_AT: self.updated_at,
                ATTR_UPDATED_BY: self.updated_by,
            }
        )


def state_key() -> dict[str, dict[str, Any]]:
    return codec.to_item({ATTR_ID: STATE_ITEM_ID})


def check_transition(current: AppState, to_status: str, active_region: str) -> None:
    """Raise TransitionError unless ``current`` may move to ``to_status`` with ``active_region`` (pure)."""
    if to_status not in ALLOWED_STATES:
        raise TransitionError(f"unknown status {to_status!r}; allowed: {', '.join(ALLOWED_STATES)}", current)
    if not active_region:
        raise TransitionError("the active region must be named", current)
    rule = TRANSITIONS.get((current.status, to_status))
    if rule is None:
        allowed = sorted(to for (source, to) in TRANSITIONS if source == current.status)
        raise TransitionError(
            f"illegal transition {current.status} -> {to_status} (current state: {current.describe()}); "
            f"from {current.status} only {', '.join(allowed)} may follow",
            current,
        )
    same = active_region == current.active_region
    if rule == SAME_REGION and not same:
        raise TransitionError(
            f"{current.status} -> {to_status} keeps the active region {current.active_region}, got {active_region} "
            f"(current state: {current.describe()})",
            current,
        )
    if rule == OTHER_REGION and same:
        raise TransitionError(
            f"{current.status} -> {to_status} must name a region other than {current.active_region} "
            f"(current state: {current.describe()})",
            current,
        )


def next_state(current: AppState, *, to_status: str, active_region: str, updated_by: str, updated_at: int) -> AppState:
    """The state after a legal transition: the epoch goes up by one (pure)."""
    check_transition(current, to_status, active_region)
    return replace(
        current,
        status=to_status,
        active_region=active_region,
        epoch=current.epoch + 1,
        updated_at=updated_at,
        updated_by=updated_by,
    )


def read_state(table: ItemTable, *, consistent: bool = True) -> AppState:
    """The state record (one GetItem). Raises StateUnavailableError when it is missing, malformed or unreachable."""
    try:
        response = table.client.get_item(TableName=table.name, Key=state_key(), ConsistentRead=consistent)
    except Exception as error:
        raise StateUnavailableError(f"the state record could not be read: {error!r}") from error
    item = response.get("Item")
    if item is None:
        raise StateUnavailableError(f"the state record {STATE_ITEM_ID} does not exist in {table.name}")
    return AppState.from_item(item)


def transition(
    table: ItemTable,
    *,
    expected_epoch: int,
    to_status: str,
    active_region: str,
    updated_by: str,
    updated_at: int | None = None,
) -> AppState:
    """Move the state to ``to_status`` / ``active_region`` if it is still at ``expected_epoch``; return the new state.

    One consistent read (to name the current state in errors and check the transition) and one UpdateItem conditional
    on the epoch, status and region that were read, so a concurrent transition makes this one fail, never both apply.

    Raises
    ------
    TransitionError
        The epoch is not ``expected_epoch`` (someone else moved the state), or the transition is illegal.
    StateUnavailableError
        The record cannot be read.
    """
    current = read_state(table, consistent=True)
    if current.epoch != expected_epoch:
        raise TransitionError(
            f"stale epoch: expected {expected_epoch}, but the state is {current.describe()}; nothing written", current
        )
    new = next_state(
        current,
        to_status=to_status,
        active_region=active_region,
        updated_by=updated_by,
        updated_at=now_ms() if updated_at is None else updated_at,
    )
    _write_transition(table, current, new, expected_epoch)
    return new


def _write_transition(table: ItemTable, current: AppState, new: AppState, expected_epoch: int) -> None:
    """Write ``new`` over the record if it still holds ``current``'s epoch, status and region (one UpdateItem)."""
    try:
        table.client.update_item(
            TableName=table.name,
            Key=state_key(),
            UpdateExpression="SET #status = :status, #region = :region, #epoch = :epoch, #at = :at, #by = :by",
            ConditionExpression="#epoch = :expected AND #status = :from_status AND #region = :from_region",
            ExpressionAttributeNames={
                "#status": ATTR_STATUS,
                "#region": ATTR_ACTIVE_REGION,
                "#epoch": ATTR_EPOCH,
                "#at": ATTR_UPDATED_AT,
                "#by": ATTR_UPDATED_BY,
            },
            ExpressionAttributeValues=codec.to_item(
                {
                    ":status": new.status,
                    ":region": new.active_region,
                    ":epoch": new.epoch,
                    ":at": new.updated_at,
                    ":by": new.updated_by,
                    ":expected": current.epoch,
                    ":from_status": current.status,
                    ":from_region": current.active_region,
                }
            ),
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except Exception as error:
        if error_code(error) != CONDITIONAL_CHECK_FAILED:
            raise
        item = getattr(error, "response", {}).get("Item")
        now = AppState.from_item(item) if item else current
        raise TransitionError(
            f"stale epoch: expected {expected_epoch}, but the state changed concurrently to {now.describe()}; nothing written",
            now,
        ) from None
