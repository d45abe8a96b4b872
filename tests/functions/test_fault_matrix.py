"""The fault matrix, processor cells: throttling and a 500 at each DynamoDB call of the write path (a killed container:
``test_fault_matrix_kill.py``; the scenario and the invariants checked after every cell: ``tests/support/matrix.py``).
"""

from __future__ import annotations

import pytest

from tests.support.faults import SERVER_ERROR, THROTTLE
from tests.support.matrix import STREAM_CALLS, WRITE_PATH_CALLS, World, check, processor_cell


def test_without_faults_the_scenario_makes_every_write_path_call_the_matrix_injects_into(world: World) -> None:
    world.run()
    assert world.primary.faults["processor"].calls == WRITE_PATH_CALLS
    world.finish()
    assert world.secondary.faults["stream"].operations["PutItem"] == STREAM_CALLS
    check(world)


@pytest.mark.parametrize("at", range(1, WRITE_PATH_CALLS + 1))
@pytest.mark.parametrize("kind", [THROTTLE, SERVER_ERROR])
def test_processor_dynamodb_error_at_each_call(world: World, kind: str, at: int) -> None:
    processor_cell(world, kind, at)
