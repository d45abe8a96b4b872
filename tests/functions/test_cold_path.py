"""Importing a handler module (the cold path of a container) loads neither boto3 nor redis: clients come later.

botocore's package itself (its ``__init__``, under a millisecond) may load: Powertools imports it to register its
user-agent hook (``aws_lambda_powertools/shared/user_agent.py``); its modules (``botocore.session``,
``botocore.client``, ...) carry the SDK's weight and may not."""

from __future__ import annotations

import subprocess
import sys

import pytest

from planning.harness import ROOT

HEAVY = ("boto3", "redis")
BOTOCORE_MODULES = "botocore."


@pytest.mark.parametrize("function", ["processor", "stream", "api", "runbook"])
def test_handler_import_loads_no_sdk(function: str) -> None:
    probe = (
        f"import sys, functions.{function}.handler; "
        f"print(','.join(m for m in sys.modules if m in {HEAVY!r} or m.startswith({BOTOCORE_MODULES!r})))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "", f"functions.{function}.handler imports {result.stdout.strip()} at import time"
