"""The fault matrix, processor cells: the container killed before each DynamoDB call of the write path (the invocation
dies, its whole batch comes back after the visibility timeout to a new container; the scenario and the invariants:
``tests/support/matrix.py``)."""

from __future__ import annotations

import pytest

from tests.support.faults import KILL
from tests.support.matrix import WRITE_PATH_CALLS, World, processor_cell


@pytest.mark.parametrize("at", range(1, WRITE_PATH_CALLS + 1))
def test_processor_killed_before_each_call(world: World, at: int) -> None:
    processor_cell(world, KILL, at)
