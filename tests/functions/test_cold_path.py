"""Importing a handler module (the cold path of a container) loads neither boto3 nor redis: clients come later."""

from __future__ import annotations

import subprocess
import sys

import pytest

from planning.harness import ROOT

HEAVY = ("boto3", "botocore", "redis")


@pytest.mark.parametrize("function", ["processor", "stream", "api", "runbook", "rotation"])
def test_handler_import_loads_no_sdk(function: str) -> None:
    probe = f"import sys, functions.{function}.handler; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "", f"functions.{function}.handler imports {result.stdout.strip()} at import time"
