"""The operator docs stay true: every `ops` command they show parses with the real CLI, every runbook step is told."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from functions.runbook.model import STEPS
from ops.__main__ import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("docs/failover.md", "README.md")
OPS_COMMAND = re.compile(r"^(?:\.venv/bin/)?python -m ops (.+?)(?:\s+#.*)?$")


def ops_commands(path: str) -> list[str]:
    """The `ops` command lines of the shell blocks of a document."""
    text = (ROOT / path).read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    return [m.group(1) for block in blocks for line in block.splitlines() if (m := OPS_COMMAND.match(line.strip()))]


@pytest.mark.parametrize("path", DOCS)
def test_every_ops_command_in_the_docs_parses(path: str) -> None:
    commands = ops_commands(path)
    assert commands, f"{path} shows no ops command"
    for command in commands:
        words = [("5" if word == "N" else word) for word in shlex.split(command)]
        build_parser().parse_args(words)  # exits (SystemExit) on a flag the CLI does not have


def test_the_runbook_doc_tells_every_step_and_the_reconcile() -> None:
    text = (ROOT / "docs/failover.md").read_text()
    for step in STEPS:
        assert f"**{step}**" in text, f"docs/failover.md does not describe the step {step}"
    for words in ("primaryRegion", "pulumi preview", "no replacement", "pulumi up", "ops abort", "--allow-data-loss"):
        assert words in text


def test_the_runbook_doc_tells_how_to_save_the_topology_that_ops_reads() -> None:
    """The output the program exports is saved before an outage and handed to ``ops`` (tests/test_ops_status.py reads
    the program's output with the same code)."""
    text = (ROOT / "docs/failover.md").read_text()
    assert "pulumi stack output runbookTopology --json --stack prod > topology.json" in text
    assert 'pulumi.export("runbookTopology"' in (ROOT / "components/outputs.py").read_text()
    uses = [command for command in ops_commands("docs/failover.md") if "--topology topology.json" in command]
    assert uses and all(build_parser().parse_args(shlex.split(command)).topology == "topology.json" for command in uses)
