"""A double of an Aurora global database's control plane, for the local drill: moto has no switchover or failover.

:class:`GlobalClusterDouble` answers the runbook's three calls (``describe_global_clusters``,
``switchover_global_cluster``, ``failover_global_cluster``) and the secret rotation's two (``modify_db_cluster`` with a
master password, ``describe_db_clusters``) with AWS's response shapes and error codes as botocore ``ClientError``; an
operation shows in progress for ``describes_per_switch`` describes, a password change for ``describes_per_password``.
:meth:`~GlobalClusterDouble.client` gives a region's view, failing with ``EndpointConnectionError`` while the region is
down; every call is kept in ``calls``. What it models and what it does not: docs/design/drill.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

AVAILABLE = "available"
SWITCHING_OVER = "switching-over"
FAILING_OVER = "failing-over"
PENDING = "pending"
CONNECTED = "connected"
PENDING_RESYNC = "pending-resync"

RESETTING_CREDENTIALS = "resetting-master-credentials"

DESCRIBE = "DescribeGlobalClusters"
SWITCHOVER = "SwitchoverGlobalCluster"
FAILOVER = "FailoverGlobalCluster"
MODIFY_CLUSTER = "ModifyDBCluster"
DESCRIBE_CLUSTERS = "DescribeDBClusters"
# ModifyDBCluster's MasterUserPassword: 8 to 41 printable ASCII characters but '/', '"', '@' (and no space).
PASSWORD_LENGTHS = (8, 41)
PASSWORD_REFUSED = '/"@ '
# The parameters of each call in botocore's RDS model: (required, optional).
_PARAMETERS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    DESCRIBE: (frozenset(), frozenset({"GlobalClusterIdentifier", "Filters", "MaxRecords", "Marker"})),
    SWITCHOVER: (frozenset({"GlobalClusterIdentifier", "TargetDbClusterIdentifier"}), frozenset()),
    FAILOVER: (frozenset({"GlobalClusterIdentifier", "TargetDbClusterIdentifier"}), frozenset({"AllowDataLoss", "Switchover"})),
    MODIFY_CLUSTER: (frozenset({"DBClusterIdentifier"}), frozenset({"MasterUserPassword", "ApplyImmediately"})),
    DESCRIBE_CLUSTERS: (frozenset(), frozenset({"DBClusterIdentifier", "Filters", "MaxRecords", "Marker"})),
}


class Call(NamedTuple):
    """One call through a region's client, with the parameters as the caller gave them."""

    region: str
    operation: str
    params: dict[str, Any]


@dataclass
class _Operation:
    source_arn: str
    target_arn: str
    data_loss_allowed: bool
    describes_left: int


class GlobalClusterDouble:
    """One Aurora global cluster: ``cluster_arns`` maps each region to its member cluster's ARN; ``writer_region``
    holds the writer at first.

    Example:
        >>> aurora = GlobalClusterDouble("multi-region-prod", {"us-east-1": arn_a, "eu-west-1": arn_b}, "us-east-1")
        >>> rds = aurora.client("eu-west-1")
        >>> rds.switchover_global_cluster(GlobalClusterIdentifier="multi-region-prod", TargetDbClusterIdentifier=arn_b)
        >>> rds.describe_global_clusters(GlobalClusterIdentifier="multi-region-prod")["GlobalClusters"][0]["Status"]
        'switching-over'
    """

    def __init__(
        self,
        identifier: str,
        cluster_arns: Mapping[str, str],
        writer_region: str,
        *,
        describes_per_switch: int = 2,
        password: str | None = None,
        describes_per_password: int = 0,
    ) -> None:
        if writer_region not in cluster_arns:
            raise ValueError(f"writer_region {writer_region!r} is not among the clusters' regions {sorted(cluster_arns)}")
        if describes_per_switch < 0:
            raise ValueError(f"describes_per_switch must be 0 or more, got {describes_per_switch}")
        self.identifier = identifier
        self.cluster_arns = dict(cluster_arns)
        self.writer_arn = cluster_arns[writer_region]
        self.describes_per_switch = describes_per_switch
        self.down: set[str] = set()
        self.resync: set[str] = set()
        self.operation: _Operation | None = None
        self.calls: list[Call] = []  # what the callers asked, in order
        self.history: list[tuple[str, str, str]] = []  # (operation, from ARN, to ARN) of every finished operation
        # The master password lives in the global database's storage: one for every member. A change is pending on the
        # writer it was made on for ``describes_per_password`` of that cluster's describes, then applied.
        self.password = password
        self.describes_per_password = describes_per_password
        self.pending_password: tuple[str, str, int] | None = None  # (cluster ARN, password, describes left)

    def count(self, operation: str) -> int:
        """How many ``operation`` calls were made (``SwitchoverGlobalCluster``, ...), in every region."""
        return sum(1 for call in self.calls if call.operation == operation)

    @property
    def writer_region(self) -> str:
        return next(region for region, arn in self.cluster_arns.items() if arn == self.writer_arn)

    def client(self, region: str) -> RegionalRdsClient:
        if region not in self.cluster_arns:
            raise ValueError(f"no member cluster in {region!r}; members: {', '.join(sorted(self.cluster_arns))}")
        return RegionalRdsClient(self, region)

    def set_down(self, region: str, down: bool) -> None:
        """A region's outage starts (``down``) or ends; a member left ``pending-resync`` reconnects when it is back."""
        if down:
            self.down.add(region)
        else:
            self.down.discard(region)
            self.resync.discard(self.cluster_arns[region])

    # ---- the API, through a region's client ---------------------------------------------------------------------

    def _describe(self, identifier: str | None) -> dict[str, Any]:
        if identifier is not None and identifier != self.identifier:
            raise _fault("GlobalClusterNotFoundFault", f"GlobalCluster {identifier} not found.", DESCRIBE)
        if self.operation is not None and self.operation.describes_left == 0:
            self._finish()
        described = self._shape()
        if self.operation is not None:
            self.operation.describes_left -= 1
        return {"GlobalClusters": [described]}

    def _switch(self, operation: str, identifier: str, target: str, *, data_loss_allowed: bool) -> dict[str, Any]:
        if identifier != self.identifier:
            raise _fault("GlobalClusterNotFoundFault", f"GlobalCluster {identifier} not found.", operation)
        if target not in self.cluster_arns.values():
            raise _fault("DBClusterNotFoundFault", f"DBCluster {target} is not a member of {identifier}.", operation)
        if self.operation is not None:
            raise _fault(
                "InvalidGlobalClusterStateFault",
                f"Global cluster {identifier} is {self._status()}: another switchover or failover is in progress.",
                operation,
            )
        if target == self.writer_arn:
            raise _fault("InvalidDBClusterStateFault", f"DBCluster {target} is already the writer of {identifier}.", operation)
        unreachable = sorted(region for region in self.down if self.cluster_arns[region] in (self.writer_arn, target))
        if not data_loss_allowed and unreachable:
            raise _fault(
                "InvalidGlobalClusterStateFault",
                f"A switchover needs the primary and the target available; {', '.join(unreachable)} is not. "
                "Use a failover with AllowDataLoss to promote a secondary while the primary is unavailable.",
                operation,
            )
        self.operation = _Operation(self.writer_arn, target, data_loss_allowed, self.describes_per_switch)
        shape = self._shape()
        if self.describes_per_switch == 0:
            self._finish()
        return {"GlobalCluster": shape}

    def _finish(self) -> None:
        operation = self.operation
        assert operation is not None
        self.writer_arn = operation.target_arn
        if operation.data_loss_allowed:
            self.resync.add(operation.source_arn)
        self.history.append(
            ("failover" if operation.data_loss_allowed else "switchover", operation.source_arn, operation.target_arn)
        )
        self.operation = None

    def _modify_cluster(self, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """A master password change: only on the writer (the global database's secondaries are read-only), applied at
        once or after ``describes_per_password`` describes."""
        arn = self._member(region, str(params["DBClusterIdentifier"]), MODIFY_CLUSTER)
        password = params.get("MasterUserPassword")
        if password is not None:
            low, high = PASSWORD_LENGTHS
            if not low <= len(password) <= high or any(c in PASSWORD_REFUSED or not c.isprintable() for c in password):
                raise _fault(
                    "InvalidParameterValue",
                    f"MasterUserPassword: {low} to {high} printable ASCII characters, none of {PASSWORD_REFUSED!r}",
                    MODIFY_CLUSTER,
                )
            if arn != self.writer_arn:
                raise _fault(
                    "InvalidDBClusterStateFault",
                    f"DBCluster {arn} is a secondary cluster of {self.identifier}: change the master password on the primary.",
                    MODIFY_CLUSTER,
                )
            self.pending_password = (arn, password, self.describes_per_password)
            if self.describes_per_password == 0:
                self._apply_password()
        return {"DBCluster": self._cluster_shape(arn)}

    def _describe_clusters(self, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = self.cluster_arns[region]
        if "DBClusterIdentifier" in params:
            arn = self._member(region, str(params["DBClusterIdentifier"]), DESCRIBE_CLUSTERS)
        shape = self._cluster_shape(arn)
        if self.pending_password is not None and self.pending_password[0] == arn:
            _, password, left = self.pending_password
            self.pending_password = (arn, password, left - 1)
            if left - 1 <= 0:
                self._apply_password()
        return {"DBClusters": [shape]}

    def _apply_password(self) -> None:
        assert self.pending_password is not None
        self.password = self.pending_password[1]
        self.pending_password = None

    def _member(self, region: str, identifier: str, operation: str) -> str:
        """The ARN of the region's member named by its identifier or ARN (RDS answers for its own region's only)."""
        arn = self.cluster_arns[region]
        if identifier not in (arn, arn.rsplit(":", 1)[-1]):
            raise _fault("DBClusterNotFoundFault", f"DBCluster {identifier} not found.", operation)
        return arn

    def _cluster_shape(self, arn: str) -> dict[str, Any]:
        """The ``DBCluster`` structure of the RDS API, with what the rotation reads."""
        pending = self.pending_password is not None and self.pending_password[0] == arn
        return {
            "DBClusterIdentifier": arn.rsplit(":", 1)[-1],
            "DBClusterArn": arn,
            "Engine": "aurora-postgresql",
            "Status": RESETTING_CREDENTIALS if pending else AVAILABLE,
            "PendingModifiedValues": {"MasterUserPassword": "****"} if pending else {},
            "GlobalClusterIdentifier": self.identifier,
        }

    def _status(self) -> str:
        if self.operation is None:
            return AVAILABLE
        return FAILING_OVER if self.operation.data_loss_allowed else SWITCHING_OVER

    def _shape(self) -> dict[str, Any]:
        """The ``GlobalCluster`` structure of the RDS API, as it stands."""
        region_of = {arn: region for region, arn in self.cluster_arns.items()}
        members = [
            {
                "DBClusterArn": arn,
                "Readers": [other for other in self.cluster_arns.values() if other != arn] if arn == self.writer_arn else [],
                "IsWriter": arn == self.writer_arn,
                "GlobalWriteForwardingStatus": "disabled",
                "SynchronizationStatus": PENDING_RESYNC if arn in self.resync or region_of[arn] in self.down else CONNECTED,
            }
            for arn in self.cluster_arns.values()
        ]
        shape: dict[str, Any] = {
            "GlobalClusterIdentifier": self.identifier,
            "GlobalClusterResourceId": f"cluster-{self.identifier}",
            "GlobalClusterArn": f"arn:aws:rds::000000000000:global-cluster:{self.identifier}",
            "Status": self._status(),
            "Engine": "aurora-postgresql",
            "EngineVersion": "16.4",
            "StorageEncrypted": True,
            "DeletionProtection": True,
            "GlobalClusterMembers": members,
        }
        if self.operation is not None:
            just_asked = self.operation.describes_left == self.describes_per_switch
            shape["FailoverState"] = {
                "Status": PENDING if just_asked else self._status(),
                "FromDbClusterArn": self.operation.source_arn,
                "ToDbClusterArn": self.operation.target_arn,
                "IsDataLossAllowed": self.operation.data_loss_allowed,
            }
        return shape


class RegionalRdsClient:
    """The RDS client of one region: the runbook's three calls and the rotation's two (keyword arguments as boto3's)."""

    def __init__(self, double: GlobalClusterDouble, region: str) -> None:
        self.double, self.region = double, region

    def describe_global_clusters(self, **params: Any) -> dict[str, Any]:
        self._call(DESCRIBE, params)
        return self.double._describe(params.get("GlobalClusterIdentifier"))

    def switchover_global_cluster(self, **params: Any) -> dict[str, Any]:
        self._call(SWITCHOVER, params)
        return self.double._switch(
            SWITCHOVER, params["GlobalClusterIdentifier"], params["TargetDbClusterIdentifier"], data_loss_allowed=False
        )

    def failover_global_cluster(self, **params: Any) -> dict[str, Any]:
        self._call(FAILOVER, params)
        return self.double._switch(
            FAILOVER,
            params["GlobalClusterIdentifier"],
            params["TargetDbClusterIdentifier"],
            data_loss_allowed=bool(params.get("AllowDataLoss")) and not params.get("Switchover"),
        )

    def modify_db_cluster(self, **params: Any) -> dict[str, Any]:
        self._call(MODIFY_CLUSTER, params)
        return self.double._modify_cluster(self.region, params)

    def describe_db_clusters(self, **params: Any) -> dict[str, Any]:
        self._call(DESCRIBE_CLUSTERS, params)
        return self.double._describe_clusters(self.region, params)

    def _call(self, operation: str, params: dict[str, Any]) -> None:
        """Record the call, check its parameter names as botocore does, and fail it when the region is down."""
        self.double.calls.append(Call(self.region, operation, dict(params)))
        required, optional = _PARAMETERS[operation]
        unknown, missing = sorted(set(params) - required - optional), sorted(required - set(params))
        if unknown or missing:
            allowed = ", ".join(sorted(required | optional))
            report = [f"Unknown parameter in input: {name}, must be one of: {allowed}" for name in unknown]
            report += [f"Missing required parameter in input: {name}" for name in missing]
            raise ParamValidationError(report="\n".join(report))
        if self.region in self.double.down:
            raise EndpointConnectionError(endpoint_url=f"https://rds.{self.region}.amazonaws.com/")


def _fault(code: str, message: str, operation: str) -> ClientError:
    status = 404 if code.endswith("NotFoundFault") else 400
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation)
