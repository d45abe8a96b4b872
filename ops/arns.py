"""ARNs as ops commands read and build them: the region and the cluster identifier of an RDS ARN, and the Step
Functions state machine and execution ARNs of the failover runbook."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def region_of_arn(arn: str) -> str:
    return arn.split(":")[3]


def cluster_identifier(arn: str) -> str:
    """``arn:aws:rds:eu-west-1:123:cluster:name`` -> ``name`` (CloudWatch's DBClusterIdentifier)."""
    return arn.rsplit(":", 1)[-1]


def state_machine_arn(identity: Mapping[str, Any], region: str, name: str) -> str:
    """The state machine's ARN from STS's caller identity (account, and the partition of the caller's ARN)."""
    partition = str(identity["Arn"]).split(":")[1]
    return f"arn:{partition}:states:{region}:{identity['Account']}:stateMachine:{name}"


def execution_arn(machine_arn: str, name: str) -> str:
    """``arn:<p>:states:<r>:<a>:stateMachine:<machine>`` -> ``arn:<p>:states:<r>:<a>:execution:<machine>:<name>``."""
    head, machine = machine_arn.split(":stateMachine:")
    return f"{head}:execution:{machine}:{name}"
