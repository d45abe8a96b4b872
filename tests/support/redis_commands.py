"""redis-py's cluster client reads the server's whole command table (``COMMAND``) each time one is made; parsing the
reply costs about 0.15 s of CPU, and the function tests make hundreds of cluster clients (a container each)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from redis._parsers.commands import CommandsParser


@contextmanager
def command_table_read_once() -> Iterator[None]:
    """Within this, the first cluster client reads the command table and later ones get a copy of it. Every server
    here is the same ``redis-server``, so the table is the same; ``COMMAND`` goes to the cluster's nodes themselves,
    never through a test's fault proxy, so no fault a test injects is skipped."""
    read = CommandsParser.initialize
    tables: list[dict[str, Any]] = []

    def initialize(parser: CommandsParser, connection: Any) -> None:
        if not tables:
            read(parser, connection)
            tables.append(parser.commands)
        parser.commands = dict(tables[0])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CommandsParser, "initialize", initialize)
        yield
