"""Secrets Manager's rotation of the Aurora global database's master secret: the password is set through the RDS API.

Secrets Manager invokes ``handle`` with ``{"SecretId", "ClientRequestToken", "Step"}`` once per step: ``createSecret``
(a new password, staged ``AWSPENDING``), ``setSecret`` (``ModifyDBCluster`` on the member ``DescribeGlobalClusters``
names as writer, in whichever region it is), ``testSecret`` (RDS reports the change applied) and ``finishSecret``
(``AWSCURRENT`` moves to the new version). The function never logs in to the database: RDS-managed passwords are
refused for global databases and the writer may be in a VPC this region cannot reach (docs/design/data-store-auth.md).
Every step can be repeated with the same token. Importing this module loads no SDK.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from functions.shared.errors import ValidationError, error_code
from functions.shared.log import get_logger, lambda_entry
from functions.shared.tracing import trace_entry

logger = get_logger("rotation")

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
PENDING = "AWSPENDING"
CURRENT = "AWSCURRENT"
# Aurora master passwords: 8 to 41 printable ASCII characters, never '/', '"', '@' or a space (ModifyDBCluster's
# MasterUserPassword); the program's first password (components/database.py) takes its specials from here too.
PASSWORD_SPECIALS = "!#$%&*()-_=+[]{}<>:?"
PASSWORD_LENGTH = 32
PASSWORD_ALPHABET = string.ascii_letters + string.digits + PASSWORD_SPECIALS
# RDS shows a master password change in the cluster's PendingModifiedValues (status ``resetting-master-credentials``)
# until it is applied; testSecret polls this often and stops this long before the invocation's deadline.
POLL_SECONDS = 5.0
DEADLINE_MARGIN_SECONDS = 10.0
APPLIED_STATUS = "available"


class RotationError(RuntimeError):
    """The step cannot finish now; Secrets Manager records the failure and retries the rotation with the same token."""


class RotationClients(Protocol):
    """The Secrets Manager client of the function's region and an RDS client per region (boto3, or doubles)."""

    def secretsmanager(self) -> Any: ...

    def rds(self, region: str) -> Any: ...


class Boto3RotationClients:
    """:class:`RotationClients` on the functions' shared boto3 clients (``functions.shared.clients.aws_client``)."""

    def __init__(self, region: str) -> None:
        self.region = region

    def secretsmanager(self) -> Any:
        from functions.shared.clients import aws_client

        return aws_client("secretsmanager", self.region)

    def rds(self, region: str) -> Any:
        from functions.shared.clients import aws_client

        return aws_client("rds", region)


@dataclass(frozen=True)
class Writer:
    """The global database's writer member: its region and cluster identifier (from its ARN)."""

    region: str
    cluster_id: str

    @classmethod
    def from_arn(cls, arn: str) -> Writer:
        """``arn:<partition>:rds:<region>:<account>:cluster:<id>``."""
        parts = arn.split(":")
        if len(parts) != 7 or parts[2] != "rds" or parts[5] != "cluster":
            raise RotationError(f"DescribeGlobalClusters named a writer that is not a cluster ARN: {arn!r}")
        return cls(parts[3], parts[6])


def new_password(choice: Callable[[str], str] = secrets.choice) -> str:
    """A password of ``PASSWORD_LENGTH`` characters of ``PASSWORD_ALPHABET``, with a lower- and an upper-case letter,
    a digit and a special; from ``secrets``, so no ``secretsmanager:GetRandomPassword`` on every resource."""
    while True:
        password = "".join(choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, PASSWORD_SPECIALS)
        if all(any(c in chars for c in password) for chars in classes):
            return password


def parse_event(event: Any) -> tuple[str, str, str]:
    """``(secret id, token, step)``; ValidationError naming the field."""
    if not isinstance(event, Mapping):
        raise ValidationError("event", f"got {type(event).__name__}; allowed: Secrets Manager's rotation event")
    for field in ("SecretId", "ClientRequestToken"):
        if not isinstance(event.get(field), str) or not event[field]:
            raise ValidationError(field, f"got {event.get(field)!r}; allowed: a non-empty string")
    step = event.get("Step")
    if step not in STEPS:
        raise ValidationError("Step", f"got {step!r}; allowed: {', '.join(STEPS)}")
    return event["SecretId"], event["ClientRequestToken"], step


def check_version(secretsmanager: Any, secret_id: str, token: str) -> Mapping[str, list[str]] | None:
    """The secret's ``VersionIdsToStages`` while the rotation has work to do; None once the token's version is current.
    Refuses a secret without rotation and a token that is no version of it, or not the pending one (Secrets Manager's
    contract)."""
    metadata = secretsmanager.describe_secret(SecretId=secret_id)
    if not metadata.get("RotationEnabled"):
        raise ValidationError("SecretId", f"{secret_id} has rotation turned off; allowed: a secret with rotation on")
    stages: Mapping[str, list[str]] = metadata.get("VersionIdsToStages", {})
    if token not in stages:
        raise ValidationError("ClientRequestToken", f"{token} is no version of {secret_id}")
    if CURRENT in stages[token]:
        return None
    if PENDING not in stages[token]:
        raise ValidationError("ClientRequestToken", f"version {token} of {secret_id} is not staged {PENDING}")
    return stages


def _document(secretsmanager: Any, secret_id: str, **version: str) -> dict[str, Any]:
    value = secretsmanager.get_secret_value(SecretId=secret_id, **version)
    document = json.loads(value["SecretString"])
    if not isinstance(document, dict) or not document.get("globalClusterIdentifier"):
        raise ValidationError("SecretString", "allowed: the master secret's document with globalClusterIdentifier")
    return document


def create_secret(clients: RotationClients, secret_id: str, token: str) -> None:
    """Stage a new password as ``AWSPENDING`` under the token, once: a repeated call keeps the first."""
    secretsmanager = clients.secretsmanager()
    current = _document(secretsmanager, secret_id, VersionStage=CURRENT)
    try:
        _document(secretsmanager, secret_id, VersionId=token, VersionStage=PENDING)
        return
    except Exception as error:  # only "no such version" means create it
        if error_code(error) != "ResourceNotFoundException":
            raise
    secretsmanager.put_secret_value(
        SecretId=secret_id,
        ClientRequestToken=token,
        SecretString=json.dumps({**current, "password": new_password()}),
        VersionStages=[PENDING],
    )
    logger.info("created", extra={"secret": secret_id, "token": token})


def writer(clients: RotationClients, global_cluster_id: str, region: str) -> Writer:
    """The writer member of the global database, asked in ``region`` (the function's)."""
    answer = clients.rds(region).describe_global_clusters(GlobalClusterIdentifier=global_cluster_id)
    (cluster,) = answer["GlobalClusters"]
    writers = [m["DBClusterArn"] for m in cluster.get("GlobalClusterMembers", []) if m.get("IsWriter")]
    if len(writers) != 1:
        raise RotationError(f"{global_cluster_id} has {len(writers)} writers (status {cluster.get('Status')}); retry later")
    return Writer.from_arn(writers[0])


def set_secret(clients: RotationClients, secret_id: str, token: str, region: str) -> Writer:
    """Give the writer the pending password, applied at once (the password lives in the global database's storage,
    so every member has it)."""
    pending = _document(clients.secretsmanager(), secret_id, VersionId=token, VersionStage=PENDING)
    member = writer(clients, pending["globalClusterIdentifier"], region)
    clients.rds(member.region).modify_db_cluster(
        DBClusterIdentifier=member.cluster_id, MasterUserPassword=pending["password"], ApplyImmediately=True
    )
    logger.info("set", extra={"secret": secret_id, "token": token, "writer_region": member.region})
    return member


def password_applied(rds: Any, cluster_id: str) -> bool:
    """Whether RDS has applied the cluster's last master password change."""
    (cluster,) = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"]
    pending = cluster.get("PendingModifiedValues") or {}
    return cluster.get("Status") == APPLIED_STATUS and "MasterUserPassword" not in pending


def test_secret(
    clients: RotationClients,
    secret_id: str,
    token: str,
    *,
    region: str,
    remaining_seconds: Callable[[], float],
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Wait until the writer reports the password change applied; RotationError when it has not before the
    invocation's deadline (the rotation is retried; finishSecret never runs on an unapplied password)."""
    pending = _document(clients.secretsmanager(), secret_id, VersionId=token, VersionStage=PENDING)
    member = writer(clients, pending["globalClusterIdentifier"], region)
    rds = clients.rds(member.region)
    while not password_applied(rds, member.cluster_id):
        if remaining_seconds() < POLL_SECONDS + DEADLINE_MARGIN_SECONDS:
            raise RotationError(f"{member.cluster_id} in {member.region} has not applied the new master password yet")
        (sleep or time.sleep)(POLL_SECONDS)
    logger.info("tested", extra={"secret": secret_id, "token": token, "writer_region": member.region})


def finish_secret(clients: RotationClients, secret_id: str, token: str, stages: Mapping[str, list[str]]) -> None:
    """Move ``AWSCURRENT`` to the token's version (the one it leaves becomes ``AWSPREVIOUS``); ``stages`` are the
    secret's ``VersionIdsToStages`` as :func:`check_version` read them, the token's version not yet current."""
    secretsmanager = clients.secretsmanager()
    current = next((version for version, labels in stages.items() if CURRENT in labels), None)
    secretsmanager.update_secret_version_stage(
        SecretId=secret_id, VersionStage=CURRENT, MoveToVersionId=token, RemoveFromVersionId=current
    )
    logger.info("finished", extra={"secret": secret_id, "token": token, "previous": current})


def rotate(
    event: Mapping[str, Any],
    clients: RotationClients,
    region: str,
    remaining_seconds: Callable[[], float],
    sleep: Callable[[float], None] | None = None,
) -> None:
    """One step of one rotation (see the module docstring)."""
    secret_id, token, step = parse_event(event)
    stages = check_version(clients.secretsmanager(), secret_id, token)
    if stages is None:
        logger.info("already current", extra={"secret": secret_id, "token": token, "step": step})
        return
    if step == "createSecret":
        create_secret(clients, secret_id, token)
    elif step == "setSecret":
        set_secret(clients, secret_id, token, region)
    elif step == "testSecret":
        test_secret(clients, secret_id, token, region=region, remaining_seconds=remaining_seconds, sleep=sleep)
    else:
        finish_secret(clients, secret_id, token, stages)


@lambda_entry(correlation_id_path="ClientRequestToken")
@trace_entry
def handle(event: Mapping[str, Any], context: Any, *, clients: RotationClients | None = None) -> None:
    """The Lambda entry point (tests pass their clients); the region is the function's own (``AWS_REGION``)."""
    region = os.environ.get("AWS_REGION", "")
    if not region:
        raise ValidationError("AWS_REGION", "not set; allowed: the function's region, which Lambda sets")
    rotate(
        event,
        clients or Boto3RotationClients(region),
        region,
        lambda: context.get_remaining_time_in_millis() / 1000.0,
    )
