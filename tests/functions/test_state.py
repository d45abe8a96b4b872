"""The application state: the pure state machine, and transitions on the state record (conditional on the epoch)."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.shared.errors import ConflictError, RetryableError
from functions.shared.schema import ALLOWED_STATES, STATE_ITEM_ID, STATUS_ACTIVE, STATUS_FAILOVER, STATUS_FENCED
from functions.shared.state import (
    TRANSITIONS,
    AppState,
    ItemTable,
    StateUnavailableError,
    TransitionError,
    check_transition,
    next_state,
    read_state,
    transition,
)
from tests.support.dynamo import WRITE_REGION, DynamoDBFactory, create_items_table

HOME, OTHER = WRITE_REGION, "eu-west-1"


def state(status: str, region: str = HOME, epoch: int = 3) -> AppState:
    return AppState(status, region, epoch, 0, "test")


# ---- the pure state machine -----------------------------------------------------------------------------------------

LEGAL = {
    (STATUS_ACTIVE, STATUS_FENCED, HOME),
    (STATUS_FENCED, STATUS_ACTIVE, HOME),
    (STATUS_FENCED, STATUS_FAILOVER, OTHER),
    (STATUS_FAILOVER, STATUS_ACTIVE, HOME),
    (STATUS_FAILOVER, STATUS_FENCED, HOME),
    (STATUS_FAILOVER, STATUS_FENCED, OTHER),
}


@pytest.mark.parametrize(("source", "target", "region"), list(itertools.product(ALLOWED_STATES, ALLOWED_STATES, (HOME, OTHER))))
def test_exactly_the_legal_transitions_are_allowed(source: str, target: str, region: str) -> None:
    current = state(source)
    if (source, target, region) in LEGAL:
        check_transition(current, target, region)
    else:
        with pytest.raises(TransitionError) as raised:
            check_transition(current, target, region)
        assert raised.value.current == current
        assert f"{source} in {HOME} at epoch 3" in str(raised.value)


def test_the_transition_table_is_what_the_module_documents() -> None:
    assert set(TRANSITIONS) == {(source, target) for source, target, _ in LEGAL}


def test_illegal_transitions_say_what_may_follow() -> None:
    with pytest.raises(TransitionError, match=r"illegal transition active -> failover .* only fenced may follow"):
        check_transition(state(STATUS_ACTIVE), STATUS_FAILOVER, OTHER)
    with pytest.raises(TransitionError, match="keeps the active region us-east-1, got eu-west-1"):
        check_transition(state(STATUS_ACTIVE), STATUS_FENCED, OTHER)
    with pytest.raises(TransitionError, match="must name a region other than us-east-1"):
        check_transition(state(STATUS_FENCED), STATUS_FAILOVER, HOME)
    with pytest.raises(TransitionError, match="unknown status 'paused'"):
        check_transition(state(STATUS_ACTIVE), "paused", HOME)
    with pytest.raises(TransitionError, match="must be named"):
        check_transition(state(STATUS_ACTIVE), STATUS_FENCED, "")
    assert isinstance(TransitionError("x", state(STATUS_ACTIVE)), ConflictError)


def test_a_transition_raises_the_epoch_by_one() -> None:
    after = next_state(state(STATUS_FENCED), to_status=STATUS_FAILOVER, active_region=OTHER, updated_by="ops", updated_at=9)
    assert after == AppState(STATUS_FAILOVER, OTHER, 4, 9, "ops")


def test_only_the_active_region_may_write_and_every_region_serves_reads() -> None:
    assert state(STATUS_ACTIVE).may_write(HOME)
    assert not state(STATUS_ACTIVE).may_write(OTHER)
    assert not state(STATUS_FENCED).may_write(HOME)
    assert not state(STATUS_FAILOVER, OTHER).may_write(OTHER)
    assert all(state(status).may_serve_reads(region) for status in ALLOWED_STATES for region in (HOME, OTHER))


def test_the_record_round_trips_and_a_malformed_one_is_unavailable() -> None:
    current = state(STATUS_FAILOVER, OTHER, 7)
    assert AppState.from_item(current.to_item()) == current
    with pytest.raises(StateUnavailableError, match="malformed"):
        AppState.from_item({"Id": {"S": STATE_ITEM_ID}})
    with pytest.raises(StateUnavailableError, match="unknown status 'paused'"):
        AppState.from_item({**current.to_item(), "Status": {"S": "paused"}})


# ---- the state record -----------------------------------------------------------------------------------------------


def test_the_failover_sequence_moves_the_active_region(write_table: ItemTable) -> None:
    assert read_state(write_table) == AppState(STATUS_ACTIVE, HOME, 1, 0, "pulumi")
    steps = [(STATUS_FENCED, HOME), (STATUS_FAILOVER, OTHER), (STATUS_ACTIVE, OTHER)]
    for epoch, (status, region) in enumerate(steps, start=1):
        new = transition(
            write_table, expected_epoch=epoch, to_status=status, active_region=region, updated_by="ops", updated_at=epoch
        )
        assert new == AppState(status, region, epoch + 1, epoch, "ops")
        assert read_state(write_table) == new
    assert read_state(write_table).may_write(OTHER)


def test_a_stale_epoch_is_refused_and_nothing_is_written(write_table: ItemTable) -> None:
    transition(write_table, expected_epoch=1, to_status=STATUS_FENCED, active_region=HOME, updated_by="ops")
    before = read_state(write_table)
    with pytest.raises(TransitionError, match="stale epoch: expected 1, but the state is fenced in us-east-1 at epoch 2"):
        transition(write_table, expected_epoch=1, to_status=STATUS_ACTIVE, active_region=HOME, updated_by="ops")
    with pytest.raises(TransitionError, match="illegal transition fenced -> fenced"):
        transition(write_table, expected_epoch=2, to_status=STATUS_FENCED, active_region=HOME, updated_by="ops")
    assert read_state(write_table) == before


def test_concurrent_transitions_from_one_epoch_let_exactly_one_through(serial_dynamodb_factory: DynamoDBFactory) -> None:
    write_table = create_items_table(serial_dynamodb_factory(HOME), "items", active_region=HOME)

    def fence(index: int) -> str:
        try:
            transition(write_table, expected_epoch=1, to_status=STATUS_FENCED, active_region=HOME, updated_by=f"op-{index}")
        except TransitionError:
            return "refused"
        return "moved"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(fence, range(8)))
    assert results.count("moved") == 1
    after = read_state(write_table)
    assert (after.status, after.epoch) == (STATUS_FENCED, 2)


def test_a_missing_state_record_is_unavailable_and_retryable(dynamodb_factory: DynamoDBFactory) -> None:
    table = create_items_table(dynamodb_factory(HOME), "no-state")
    with pytest.raises(StateUnavailableError, match="does not exist in no-state") as raised:
        read_state(table)
    assert isinstance(raised.value, RetryableError)
    with pytest.raises(StateUnavailableError, match="could not be read"):
        read_state(ItemTable(table.client, "missing-table"))
