"""``python -m ops status``: what an operator looks at before, during and after a failover, read from AWS.

For every region of the stack it shows the application-state record as *that region's* replica holds it (the
regions may disagree while replication catches up, or while a region is cut off, and that is exactly what an
operator needs to see), the region's traffic gate and endpoint health check, DynamoDB and Aurora replication lag,
which region is Aurora's writer, and the runbook run that last moved the state (its ``UpdatedBy`` names the run:
``runbook <run id>``). Exit status 0 means every region answered, they agree, and the state is ``active``; anything
else is 1.

Where things are found (no Pulumi backend needed, so this works while a region is down):

- the stack config (``Pulumi.<stack>.yaml``) gives the project, the stack and its regions;
- the runbook topology (:class:`~functions.runbook.model.Topology`) is the SSM parameter
  ``/<project>/<stack>/runbook-topology`` that the program writes in every region: it is read from the first region
  that answers (the region acted on first, then config order), or from ``--topology FILE`` when none does: the
  program's ``runbookTopology`` output saved ahead of time (``pulumi stack output runbookTopology --json``, or the
  whole ``pulumi stack output --json``), or the parameter's value;
- everything else is read with boto3, each call with short timeouts and few retries, all of them at once, and each
  failure reported in place (``unreachable: ...``) instead of stopping the command: a dead region must not hide
  the state of the others.

How health is read: ``GetHealthCheckStatus`` does not answer for calculated health checks (Route53 API reference),
so a gate's *position* comes from its configuration (open when its ``HealthThreshold`` is at most its number of
children, closed when above: contract 3 of the runbook) and its *status* from the CloudWatch metric
``AWS/Route53 HealthCheckStatus`` in us-east-1, where Route53 publishes it; the endpoint check (the gate's child
of a probing type) is read with ``GetHealthCheckStatus``: how many of Route53's checkers see it healthy. With
``routingControl`` traffic the routing control's state (``On``/``Off``) is read from the ARC cluster endpoints.

Lag: ``AWS/DynamoDB ReplicationLatency`` is published by the sending region with the receiving region as a
dimension, so each ordered pair is read in its source region; ``AWS/RDS AuroraGlobalDBReplicationLag`` is published
for each secondary cluster in its own region. Both appear only while data moves: "no data" for the last
:data:`METRIC_WINDOW_MINUTES` minutes means nothing was replicated then, not that replication is broken.

Credentials missing, incomplete, expired or refused are told as such (:func:`credentials_problem`): which ones, and
how to provide them, exit status :data:`EXIT_CREDENTIALS`; never as a region that did not answer.

Clients come from an :class:`OpsContext`: the runbook's own :class:`~functions.runbook.clients.RunbookClients` for
what the runbook also reads (DynamoDB, RDS, Route53, CloudWatch, ARC) and a :class:`ClientFactory` for the rest, so
tests hand in clients of the moto server or botocore Stubbers, and a clock so they never wait.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from functions.runbook.model import STEPS, TRAFFIC_ROUTING_CONTROL, RunRecord, Topology
from functions.runbook.steps import run_updated_by
from functions.shared.errors import ValidationError, error_code
from functions.shared.log import now_ms
from functions.shared.schema import STATUS_ACTIVE, table_name
from functions.shared.state import AppState, ItemTable, read_state

if TYPE_CHECKING:
    from functions.runbook.clients import RunbookClients

# Short: an operator in an outage wants an answer in seconds, and a region that does not answer in 2 s is news.
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 2
PARALLEL_CALLS = 16
METRIC_WINDOW_MINUTES = 15
# Route53 publishes health-check metrics in us-east-1 only, and its control plane lives there.
ROUTE53_REGION = "us-east-1"
# Health-check types Route53 probes itself (the endpoint checks); CALCULATED and RECOVERY_CONTROL are not probed.
PROBING_TYPES = frozenset({"HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP"})
# ``ops failover``'s default run id (also the Step Functions execution name): the target and the starting epoch.
RUN_ID_FORMAT = "to-{region}-from-epoch-{epoch}"
# The exit status of every ops command that calls AWS when the credentials are missing, incomplete, expired or refused.
EXIT_CREDENTIALS = 3
CREDENTIALS_HELP = (
    "provide credentials for the stack's account: `aws sso login --profile NAME` and `export AWS_PROFILE=NAME`, "
    "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN with temporary credentials)"
)
# Error codes with which AWS refuses the credentials themselves (not a missing permission).
REFUSED_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "AuthFailure",
    }
)
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
PROVIDERS = {"env": "the environment", "shared-credentials-file": "~/.aws/credentials", "config-file": "~/.aws/config"}


class ClientFactory(Protocol):
    """Makes a boto3-style client for a service in a region."""

    def __call__(self, service: str, region: str) -> Any: ...


class Boto3Factory:
    """boto3 clients for what ``ops`` calls beyond the runbook's clients (SSM, STS, Step Functions): one per
    (service, region), short timeouts, few retries.

    One boto3 Session makes them all (it loads the service models once), under a lock: sessions are not thread-safe,
    clients are. ``AWS_ENDPOINT_URL`` is honoured by boto3 itself.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str], Any] = {}
        self._session: Any = None
        self._lock = threading.Lock()

    def __call__(self, service: str, region: str) -> Any:
        with self._lock:
            if (service, region) not in self._clients:
                import boto3
                from botocore.config import Config

                config = Config(
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    read_timeout=READ_TIMEOUT_SECONDS,
                    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},  # attempts, the first included
                )
                self._session = self._session or boto3.session.Session()
                self._clients[service, region] = self._session.client(service, region_name=region, config=config)
            return self._clients[service, region]


@dataclass
class OpsContext:
    """What the status and failover commands act through: AWS clients, the runbook's clients, time.

    ``runbook`` serves DynamoDB, RDS, Route53, CloudWatch and ARC, for ``ops status`` as for the runbook library
    (``--local``, ``--dry-run``, the run records); ``aws`` serves the rest ``ops`` calls (SSM, STS, Step Functions).
    ``sleep`` and ``now_ms`` are injected so tests never wait.
    """

    aws: ClientFactory
    runbook: RunbookClients
    sleep: Callable[[float], None] = time.sleep
    now_ms: Callable[[], int] = now_ms
    poll_seconds: float = 5.0


def default_context() -> OpsContext:
    """Real AWS: boto3 with the credentials of the environment."""
    from functions.runbook.clients import Boto3Clients

    return OpsContext(aws=Boto3Factory(), runbook=Boto3Clients())


# ---- the stack and its topology --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackRef:
    """The deployed stack as named by its config: enough to find everything else."""

    project: str
    stack: str
    regions: tuple[str, ...]

    @property
    def topology_parameter(self) -> str:
        return f"/{self.project}/{self.stack}/runbook-topology"

    @property
    def state_machine_name(self) -> str:
        return f"{self.project}-{self.stack}-failover"


def add_stack_argument(parser: argparse.ArgumentParser) -> None:
    """``--stack``: the ``Pulumi.<stack>.yaml`` an ops command reads (:func:`stack_ref`)."""
    parser.add_argument("--stack", default="prod", help="stack name; reads Pulumi.<stack>.yaml (default: prod)")


def add_topology_argument(parser: argparse.ArgumentParser) -> None:
    """``--topology FILE``: the topology an ops command uses when SSM cannot be read (:func:`load_topology`'s ``path``)."""
    parser.add_argument(
        "--topology",
        metavar="FILE",
        help="the runbook topology, saved before an outage with `pulumi stack output runbookTopology --json > FILE`: "
        "for when SSM cannot be read",
    )


def stack_ref(stack: str) -> StackRef:
    """From ``Pulumi.<stack>.yaml`` (raises FileNotFoundError for an unknown stack, ConfigError for a bad one)."""
    from planning.harness import stack_config

    config = stack_config(stack)
    return StackRef(config.project, config.stack, config.region_names)


class TopologyUnavailableError(RuntimeError):
    """No region answered with the topology parameter, and no ``--topology`` file was given."""


class TopologyFileError(ValueError):
    """``--topology FILE`` cannot be read or does not hold a runbook topology of the stack: a bad flag (exit 2)."""


SAVE_TOPOLOGY = "pulumi stack output runbookTopology --json > {path}"


def read_topology_file(path: str, ref: StackRef) -> Topology:
    """The topology saved in ``path``: the program's ``runbookTopology`` output, the whole ``pulumi stack output
    --json`` (its ``runbookTopology`` is taken), or the SSM parameter's value. TopologyFileError names what is wrong."""
    save = f"save it before an outage with `{SAVE_TOPOLOGY.format(path=path)}`"
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as error:
        raise TopologyFileError(f"--topology: cannot read {path}: {error.strerror or error}; {save}") from None
    except ValueError as error:
        raise TopologyFileError(f"--topology: {path} is not JSON ({error}); {save}") from None
    if isinstance(raw, dict) and "runbookTopology" in raw:
        raw = raw["runbookTopology"]
    try:
        if not isinstance(raw, dict):
            raise ValidationError("runbookTopology", f"got a JSON {type(raw).__name__}; allowed: an object")
        topology = Topology.from_json(raw)
    except ValidationError as error:
        raise TopologyFileError(f"--topology: {path}: {error.field}: {error.message}; {save}") from None
    except (TypeError, ValueError) as error:
        raise TopologyFileError(f"--topology: {path} is not a runbook topology ({error}); {save}") from None
    table = table_name(ref.project, ref.stack)
    if set(topology.regions) != set(ref.regions) or topology.table_name != table:
        raise TopologyFileError(
            f"--topology: {path} holds regions {', '.join(topology.regions)} and table {topology.table_name}, but stack "
            f"{ref.stack} has regions {', '.join(ref.regions)} and table {table}: is it another stack's? {save}"
        )
    return topology


def load_topology(
    ref: StackRef, aws: ClientFactory, *, first: str | None = None, path: str | None = None
) -> tuple[Topology, str]:
    """The runbook topology and where it came from: ``path`` when given (:func:`read_topology_file`), else the SSM
    parameter of the first region that answers, trying ``first`` and then the config's regions in order. A parameter
    that exists but does not hold a valid topology raises ValidationError (another region would hold the same value);
    credentials that are missing or refused raise CredentialsError at once (every region would refuse them)."""
    if path is not None:
        return read_topology_file(path, ref), f"file {path}"
    order = ([first] if first else []) + [r for r in ref.regions if r != first]
    failures: list[str] = []
    for region in order:
        try:
            value = aws("ssm", region).get_parameter(Name=ref.topology_parameter)["Parameter"]["Value"]
        except Exception as error:
            problem = credentials_problem(error)
            if problem is not None:
                raise problem from error
            failures.append(f"{region}: {describe_error(error)}")
            continue
        return Topology.from_json(str(value)), f"SSM {ref.topology_parameter} in {region}"
    raise TopologyUnavailableError(
        f"the runbook topology could not be read from SSM {ref.topology_parameter} in any region ("
        + "; ".join(failures)
        + "); pass --topology FILE with the parameter's value saved earlier"
    )


def describe_error(error: BaseException) -> str:
    """One line for an operator: the error class and its message, without a traceback."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class CredentialsError(Exception):
    """AWS credentials are missing, incomplete, expired or refused (exit :data:`EXIT_CREDENTIALS`). The message says
    which; :data:`CREDENTIALS_HELP` says how to provide them."""


def credentials_problem(error: BaseException) -> CredentialsError | None:
    """What is wrong with the credentials, when that is why ``error`` (or an error it was raised from) happened."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CredentialsError):
            return current
        message = _credentials_message(current)
        if message is not None:
            return CredentialsError(message)
        current = current.__cause__ or current.__context__
    return None


def _credentials_message(error: BaseException) -> str | None:
    from botocore import exceptions as boto

    code = error_code(error) if isinstance(error, boto.ClientError) else None
    if code in REFUSED_CREDENTIAL_CODES:
        return f"AWS refused the credentials, expired or wrong ({describe_error(error)})"
    if code in ACCESS_DENIED_CODES:
        return f"the AWS credentials in use are not allowed to do this ({describe_error(error)}); use the operator's role"
    # botocore's own errors while it looks for credentials, each told in the operator's terms.
    told: list[tuple[tuple[type[BaseException], ...], Callable[[Any], str]]] = [
        (
            (boto.NoCredentialsError,),
            lambda _: (
                "no AWS credentials found: none in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), in a "
                "profile (AWS_PROFILE, or the default profile of ~/.aws/config and ~/.aws/credentials), or from a container "
                "or instance role"
            ),
        ),
        (
            (boto.PartialCredentialsError,),
            lambda e: (
                f"incomplete AWS credentials in {PROVIDERS.get(e.kwargs.get('provider'), e.kwargs.get('provider'))}: "
                f"{e.kwargs.get('cred_var')} is missing"
            ),
        ),
        (
            (boto.ProfileNotFound,),
            lambda e: (
                f"the AWS profile {e.kwargs.get('profile')!r} (AWS_PROFILE) is in neither ~/.aws/config nor "
                "~/.aws/credentials (`aws configure list-profiles` lists those there are)"
            ),
        ),
        (
            (boto.UnauthorizedSSOTokenError, boto.SSOTokenLoadError, boto.TokenRetrievalError),
            lambda e: f"the AWS SSO session of the profile has expired or was never started ({describe_error(e)})",
        ),
        ((boto.CredentialRetrievalError,), lambda e: f"the AWS credentials could not be obtained ({describe_error(e)})"),
    ]
    return next((say(error) for kinds, say in told if isinstance(error, kinds)), None)


def print_credentials_error(problem: CredentialsError, *, resume: str | None = None) -> int:
    """Tell an operator which credentials are wrong and how to provide them; ``resume`` when running the command
    again resumes what it started. Returns :data:`EXIT_CREDENTIALS`."""
    import sys

    print(f"error: {problem}", file=sys.stderr)
    print(f"hint: {CREDENTIALS_HELP}; then {resume or 'run the same command again'}", file=sys.stderr)
    return EXIT_CREDENTIALS


def default_run_id(region: str, epoch: int) -> str:
    """The run id ``ops failover`` uses unless told otherwise: the target and the epoch the run starts from."""
    return RUN_ID_FORMAT.format(region=region, epoch=epoch)


def run_of_state(state: AppState) -> str | None:
    """The run that last moved the state, from its ``UpdatedBy`` (``runbook <run id>``), else None."""
    prefix = run_updated_by("")
    return state.updated_by.removeprefix(prefix) if state.updated_by.startswith(prefix) else None


def find_run(topology: Topology, clients: RunbookClients, state: AppState, regions: Iterable[str]) -> RunRecord | None:
    """The record of the run that last moved ``state``, read from the first of ``regions`` holding it (the record
    is written in the run's target region and replicates with the table); None when no run moved the state."""
    from functions.runbook.runner import read_run

    run_id = run_of_state(state)
    if run_id is None:
        return None
    for region in regions:
        run = read_run(topology, clients, region, run_id)
        if run is not None:
            return run
    return None


# ---- pure helpers over API responses -------------------------------------------------------------------------


def gate_position(config: Mapping[str, Any]) -> str:
    """``open`` when a calculated check's threshold can be met by its children, ``closed`` when it cannot."""
    children = config.get("ChildHealthChecks") or []
    threshold = int(config.get("HealthThreshold", 0))
    return "closed" if threshold > len(children) else "open"


def checkers_healthy(observations: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(checkers reporting success, checkers reporting) from GetHealthCheckStatus observations."""
    ok = sum(1 for o in observations if str(o.get("StatusReport", {}).get("Status", "")).startswith("Success"))
    return ok, len(observations)


def latest_datapoint(datapoints: Sequence[Mapping[str, Any]], statistic: str) -> tuple[float, datetime] | None:
    """The most recent value of ``statistic`` in a GetMetricStatistics answer, with its time; None when empty."""
    if not datapoints:
        return None
    newest = max(datapoints, key=lambda point: point["Timestamp"])
    return float(newest[statistic]), newest["Timestamp"]


def region_of_arn(arn: str) -> str:
    return arn.split(":")[3]


def cluster_identifier(arn: str) -> str:
    """``arn:aws:rds:eu-west-1:123:cluster:name`` -> ``name`` (CloudWatch's DBClusterIdentifier)."""
    return arn.rsplit(":", 1)[-1]


def writer_region(global_cluster: Mapping[str, Any]) -> str | None:
    writers = [m for m in global_cluster.get("GlobalClusterMembers", []) if m.get("IsWriter")]
    return region_of_arn(str(writers[0]["DBClusterArn"])) if writers else None


def agreement(states: Mapping[str, AppState | None]) -> bool:
    """Every region answered and holds the same status, active region and epoch."""
    seen = {(s.status, s.active_region, s.epoch) if s else None for s in states.values()}
    return None not in seen and len(seen) == 1


# ---- gathering ---------------------------------------------------------------------------------------------------


@dataclass
class StackStatus:
    """Everything ``ops status`` found, as JSON-ready dictionaries (``--json`` prints :meth:`to_dict`)."""

    ref: StackRef
    topology: Topology
    topology_source: str
    states: dict[str, AppState | None]
    state_errors: dict[str, str]
    traffic: dict[str, dict[str, Any]]
    dynamodb_lag: list[dict[str, Any]]
    aurora_lag: list[dict[str, Any]]
    aurora: dict[str, Any]
    run: dict[str, Any]
    checked_at: int = field(default=0)

    @property
    def agree(self) -> bool:
        return agreement(self.states)

    @property
    def state(self) -> AppState | None:
        """The state all regions agree on, else None."""
        return next(iter(self.states.values())) if self.agree else None

    @property
    def ok(self) -> bool:
        state = self.state
        return state is not None and state.status == STATUS_ACTIVE

    def problems(self) -> list[str]:
        """Why the exit status is 1, in words (empty when it is 0)."""
        found = [f"{region} did not answer: {error}" for region, error in self.state_errors.items()]
        answered = {r: s for r, s in self.states.items() if s is not None}
        if len({(s.status, s.active_region, s.epoch) for s in answered.values()}) > 1:
            found.append("the regions disagree: " + "; ".join(f"{r} says {s.describe()}" for r, s in answered.items()))
        state = self.state
        if state is not None and state.status != STATUS_ACTIVE:
            found.append(f"the state is {state.describe()}: no region writes")
        return found

    def to_dict(self) -> dict[str, Any]:
        state = self.state
        return {
            "project": self.ref.project,
            "stack": self.ref.stack,
            "topologySource": self.topology_source,
            "trafficControl": self.topology.traffic_control,
            "checkedAt": _iso(self.checked_at),
            "ok": self.ok,
            "agree": self.agree,
            "state": _state_dict(state) if state else None,
            "problems": self.problems(),
            "regions": [
                {
                    "region": region,
                    "state": _state_dict(s) if (s := self.states.get(region)) else None,
                    "error": self.state_errors.get(region),
                    "traffic": self.traffic.get(region, {}),
                }
                for region in self.topology.regions
            ],
            "replication": {"dynamodb": self.dynamodb_lag, "aurora": self.aurora_lag},
            "aurora": self.aurora,
            "run": self.run,
        }


def gather_status(ref: StackRef, topology: Topology, topology_source: str, ctx: OpsContext) -> StackStatus:
    """Read everything at once (a thread per call, each failure kept as its message)."""
    regions = topology.regions
    now = datetime.fromtimestamp(ctx.now_ms() / 1000, tz=UTC)
    window = (now - timedelta(minutes=METRIC_WINDOW_MINUTES), now)
    table = topology.table_name
    pairs = [(source, receiver) for source in regions for receiver in regions if source != receiver]
    clients = ctx.runbook
    with ThreadPoolExecutor(max_workers=PARALLEL_CALLS) as pool:
        state_jobs = {r: pool.submit(read_state, ItemTable(clients.dynamodb(r), table)) for r in regions}
        traffic_jobs = {r: pool.submit(_traffic, topology, r, clients, window) for r in regions}
        dynamodb_jobs = {
            (source, receiver): pool.submit(
                _latest,
                clients.cloudwatch(source),
                MetricQuery("AWS/DynamoDB", "ReplicationLatency", {"TableName": table, "ReceivingRegion": receiver}),
                window,
            )
            for source, receiver in pairs
        }
        aurora_jobs = {
            r: pool.submit(
                _latest,
                clients.cloudwatch(r),
                MetricQuery(
                    "AWS/RDS",
                    "AuroraGlobalDBReplicationLag",
                    {"DBClusterIdentifier": cluster_identifier(topology.cluster_arns[r])},
                ),
                window,
            )
            for r in regions
        }
        aurora_job = pool.submit(_aurora, topology, clients)
        states: dict[str, AppState | None] = {}
        state_errors: dict[str, str] = {}
        refused: list[CredentialsError] = []
        for region, job in state_jobs.items():
            try:
                states[region] = job.result()
            except Exception as error:
                states[region] = None
                state_errors[region] = describe_error(error)
                refused += [problem] if (problem := credentials_problem(error)) else []
        if refused and len(refused) == len(regions):
            raise refused[0]
        traffic = {r: _result(job, {}) for r, job in traffic_jobs.items()}
        dynamodb_lag = [{"from": s, "to": d, **_lag(dynamodb_jobs[(s, d)])} for s, d in pairs]
        aurora = _result(aurora_job, {"globalCluster": topology.global_cluster_id})
        aurora_lag = [
            {
                "region": r,
                "cluster": cluster_identifier(topology.cluster_arns[r]),
                "writer": aurora.get("writerRegion") == r,
                **_lag(job),
            }
            for r, job in aurora_jobs.items()
        ]
    run = _latest_run(topology, ctx, states)
    return StackStatus(
        ref,
        topology,
        topology_source,
        states,
        state_errors,
        traffic,
        dynamodb_lag,
        aurora_lag,
        aurora,
        run,
        checked_at=ctx.now_ms(),
    )


def _result(job: Future[dict[str, Any]], fallback: dict[str, Any]) -> dict[str, Any]:
    """A probe's answer; an error it did not expect becomes its message (one broken probe must not hide the rest)."""
    try:
        return job.result()
    except Exception as error:
        return {**fallback, "error": describe_error(error), "errors": [describe_error(error)]}


def _lag(job: Future[tuple[float, datetime] | None]) -> dict[str, Any]:
    try:
        point = job.result()
    except Exception as error:
        return {"lagMs": None, "at": None, "error": describe_error(error)}
    if point is None:
        return {"lagMs": None, "at": None, "error": None}
    value, at = point
    return {"lagMs": value, "at": at.astimezone(UTC).isoformat(), "error": None}


@dataclass(frozen=True)
class MetricQuery:
    """One CloudWatch metric: its namespace, name, dimensions and the statistic read (the worst of each minute)."""

    namespace: str
    name: str
    dimensions: Mapping[str, str]
    statistic: str = "Maximum"


def _latest(cloudwatch: Any, query: MetricQuery, window: tuple[datetime, datetime]) -> tuple[float, datetime] | None:
    answer = cloudwatch.get_metric_statistics(
        Namespace=query.namespace,
        MetricName=query.name,
        Dimensions=[{"Name": k, "Value": v} for k, v in query.dimensions.items()],
        StartTime=window[0],
        EndTime=window[1],
        Period=60,
        Statistics=[query.statistic],
    )
    return latest_datapoint(answer.get("Datapoints", []), query.statistic)


def _traffic(topology: Topology, region: str, clients: RunbookClients, window: tuple[datetime, datetime]) -> dict[str, Any]:
    """The region's gate (position, threshold, status), its endpoint check, and its routing control if any."""
    found: dict[str, Any] = {"errors": []}
    gate_id = topology.traffic_gates.get(region)
    route53 = clients.route53()
    if gate_id:
        found["gate"] = gate_id
        try:
            config = route53.get_health_check(HealthCheckId=gate_id)["HealthCheck"]["HealthCheckConfig"]
            children = list(config.get("ChildHealthChecks") or [])
            found.update(position=gate_position(config), threshold=config.get("HealthThreshold"), children=children)
            found.update(_endpoint(route53, children))
        except Exception as error:
            found["errors"].append(f"gate {gate_id}: {describe_error(error)}")
        try:
            query = MetricQuery("AWS/Route53", "HealthCheckStatus", {"HealthCheckId": gate_id}, "Minimum")
            point = _latest(clients.cloudwatch(ROUTE53_REGION), query, window)
            found["gateHealthy"] = None if point is None else point[0] >= 1
        except Exception as error:
            found["errors"].append(f"gate status: {describe_error(error)}")
    if topology.traffic_control == TRAFFIC_ROUTING_CONTROL:
        found["routingControl"] = routing_control_state(topology, region, clients, found["errors"])
    return found


def _endpoint(route53: Any, children: Sequence[str]) -> dict[str, Any]:
    for child in children:
        config = route53.get_health_check(HealthCheckId=child)["HealthCheck"]["HealthCheckConfig"]
        if config.get("Type") in PROBING_TYPES:
            observations = route53.get_health_check_status(HealthCheckId=child)["HealthCheckObservations"]
            ok, total = checkers_healthy(observations)
            return {"endpoint": child, "endpointCheckers": total, "endpointHealthy": ok}
    return {}


def routing_control_state(topology: Topology, region: str, clients: RunbookClients, errors: list[str]) -> str | None:
    """The routing control's state through the first ARC cluster endpoint that answers (ARC's own guidance)."""
    arn = topology.routing_controls.get(region)
    if not arn:
        return None
    for endpoint_region, url in topology.routing_control_endpoints.items():
        try:
            client = clients.routing_control(endpoint_region, url)
            return str(client.get_routing_control_state(RoutingControlArn=arn)["RoutingControlState"])
        except Exception as error:
            errors.append(f"routing control via {endpoint_region}: {describe_error(error)}")
    return None


def _aurora(topology: Topology, clients: RunbookClients) -> dict[str, Any]:
    """The global cluster as the first region that answers describes it."""
    failures: list[str] = []
    for region in topology.regions:
        try:
            clusters = clients.rds(region).describe_global_clusters(GlobalClusterIdentifier=topology.global_cluster_id)
        except Exception as error:
            failures.append(f"{region}: {describe_error(error)}")
            continue
        if not clusters.get("GlobalClusters"):
            failures.append(f"{region}: no global cluster {topology.global_cluster_id}")
            continue
        cluster = clusters["GlobalClusters"][0]
        found: dict[str, Any] = {
            "globalCluster": topology.global_cluster_id,
            "status": cluster.get("Status"),
            "writerRegion": writer_region(cluster),
            "from": region,
        }
        if cluster.get("FailoverState"):
            state = cluster["FailoverState"]
            found["failoverState"] = {
                "status": state.get("Status"),
                "from": region_of_arn(state["FromDbClusterArn"]) if state.get("FromDbClusterArn") else None,
                "to": region_of_arn(state["ToDbClusterArn"]) if state.get("ToDbClusterArn") else None,
                "dataLossAllowed": state.get("IsDataLossAllowed"),
            }
        return found
    return {"globalCluster": topology.global_cluster_id, "error": "; ".join(failures)}


def _latest_run(topology: Topology, ctx: OpsContext, states: Mapping[str, AppState | None]) -> dict[str, Any]:
    """The run behind the newest state any region holds (see :func:`find_run`), as a dict, or a note."""
    answered = [s for s in states.values() if s is not None]
    if not answered:
        return {"note": "no region answered: the run records could not be read"}
    newest = max(answered, key=lambda s: s.epoch)
    if run_of_state(newest) is None:
        return {
            "note": f"the state (epoch {newest.epoch}) was last written by {newest.updated_by or 'unknown'}, not by a runbook run"
        }
    reachable = [r for r, s in states.items() if s is not None]
    try:
        run = find_run(topology, ctx.runbook, newest, reachable)
    except Exception as error:
        return {"note": f"the run records could not be read: {describe_error(error)}"}
    if run is None:
        return {"note": f"the record of run {run_of_state(newest)} is in no region that answered"}
    return run_dict(run)


def run_dict(run: RunRecord) -> dict[str, Any]:
    """A run record for printing and ``--json``: steps in runbook order, durations in seconds."""
    return {
        "runId": run.run_id,
        "status": run.status,
        "source": run.source_region,
        "target": run.target_region,
        "startEpoch": run.start_epoch,
        "planned": run.planned,
        "requestedBy": run.requested_by,
        "startedAt": _iso(run.started_at),
        "finishedAt": _iso(run.finished_at) if run.finished_at else None,
        "error": run.error,
        "steps": [
            {
                "step": name,
                "status": run.step(name).status,
                "attempts": run.step(name).attempts,
                "seconds": _seconds(run.step(name).duration_ms),
            }
            for name in STEPS
        ],
    }


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else round(ms / 1000, 1)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _state_dict(state: AppState) -> dict[str, Any]:
    return {
        "status": state.status,
        "activeRegion": state.active_region,
        "epoch": state.epoch,
        "updatedBy": state.updated_by,
        "updatedAt": _iso(state.updated_at),
    }


# ---- rendering -------------------------------------------------------------------------------------------------


def render_status(found: Mapping[str, Any]) -> str:
    """The human-readable report of :meth:`StackStatus.to_dict`."""
    lines = [
        f"Stack {found['project']}/{found['stack']} at {found['checkedAt']} (topology from {found['topologySource']})",
        "",
        "Application state, as each region's replica holds it",
    ]
    rows = [["region", "status", "active region", "epoch", "updated by", "updated at"]]
    for entry in found["regions"]:
        state = entry["state"]
        if state is None:
            rows.append([entry["region"], f"unreachable: {entry['error']}", "", "", "", ""])
        else:
            rows.append(
                [
                    entry["region"],
                    state["status"],
                    state["activeRegion"],
                    str(state["epoch"]),
                    state["updatedBy"],
                    state["updatedAt"],
                ]
            )
    lines += _table(rows)
    lines.append(f"  regions agree: {'yes' if found['agree'] else 'NO'}")
    lines += ["", f"Traffic ({found['trafficControl']})"]
    rows = [["region", "gate", "position", "gate status", "endpoint check"]]
    if found["trafficControl"] == TRAFFIC_ROUTING_CONTROL:
        rows[0].append("routing control")
    notes: list[str] = []
    for entry in found["regions"]:
        traffic = entry["traffic"]
        row = [
            entry["region"],
            str(traffic.get("gate", "-")),
            _position(traffic),
            {True: "healthy", False: "UNHEALTHY", None: "no data"}[traffic.get("gateHealthy")],
            _endpoint_text(traffic),
        ]
        if found["trafficControl"] == TRAFFIC_ROUTING_CONTROL:
            row.append(str(traffic.get("routingControl") or "unknown"))
        rows.append(row)
        notes += [f"  {entry['region']}: {error}" for error in traffic.get("errors", [])]
    lines += _table(rows) + notes
    lines += ["", f"Replication lag (latest in the last {METRIC_WINDOW_MINUTES} min)"]
    rows = [["path", "lag", "at"]]
    for lag in found["replication"]["dynamodb"]:
        rows.append([f"DynamoDB {lag['from']} -> {lag['to']}", *_lag_text(lag)])
    for lag in found["replication"]["aurora"]:
        label = f"Aurora into {lag['region']} ({lag['cluster']})"
        rows.append([label, "writer", ""] if lag["writer"] else [label, *_lag_text(lag)])
    lines += _table(rows)
    lines += ["", "Aurora global cluster", "  " + _aurora_text(found["aurora"])]
    lines += ["", "Latest runbook run", *_run_text(found["run"])]
    lines.append("")
    if found["ok"]:
        state = found["state"]
        lines.append(f"OK: active in {state['activeRegion']} at epoch {state['epoch']}, every region agrees")
    else:
        lines += ["NOT OK:", *(f"  {problem}" for problem in found["problems"])]
    return "\n".join(lines)


def _position(traffic: Mapping[str, Any]) -> str:
    if "position" not in traffic:
        return "unknown"
    return f"{traffic['position']} (threshold {traffic['threshold']} of {len(traffic['children'])})"


def _endpoint_text(traffic: Mapping[str, Any]) -> str:
    if "endpoint" not in traffic:
        return "unknown"
    return f"{traffic['endpoint']}: {traffic['endpointHealthy']}/{traffic['endpointCheckers']} checkers healthy"


def _lag_text(lag: Mapping[str, Any]) -> list[str]:
    if lag.get("error"):
        return [f"unreadable: {lag['error']}", ""]
    if lag["lagMs"] is None:
        return ["no data", ""]
    return [f"{lag['lagMs']:.0f} ms", str(lag["at"])]


def _aurora_text(aurora: Mapping[str, Any]) -> str:
    if aurora.get("error"):
        return f"{aurora['globalCluster']}: unreadable ({aurora['error']})"
    text = f"{aurora['globalCluster']}: writer in {aurora['writerRegion'] or 'no region'}, status {aurora['status']}"
    failover = aurora.get("failoverState")
    if failover:
        text += f"; {failover['status']} from {failover['from']} to {failover['to']}"
        text += f" (data loss allowed: {failover['dataLossAllowed']})"
    return text


def _run_text(run: Mapping[str, Any]) -> list[str]:
    if "note" in run:
        return [f"  {run['note']}"]
    kind = "planned" if run["planned"] else "unplanned"
    lines = [
        f"  {run['runId']}: {run['status']}, {kind}, {run['source']} -> {run['target']}, "
        f"from epoch {run['startEpoch']}, by {run['requestedBy']}, started {run['startedAt']}"
    ]
    for step in run["steps"]:
        took = "" if step["seconds"] is None else f" in {step['seconds']} s"
        tries = f"{step['attempts']} attempt{'' if step['attempts'] == 1 else 's'}"
        lines.append(f"    {step['step']:<14} {step['status']}{took} ({tries})")
    if run["error"]:
        lines.append(f"    error: {run['error']}")
    return lines


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


# ---- the command -----------------------------------------------------------------------------------------------

EXIT_STATUS_HELP = (
    "exit status: 0 when every region answers, they agree and the state is active; 1 otherwise (a region "
    "unreachable, the regions disagree, or the state is fenced or failing over); 2 on bad arguments; "
    f"{EXIT_CREDENTIALS} when the AWS credentials are missing or refused"
)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "status",
        help="show the application state in every region, traffic, replication lag and the latest runbook run",
        description="Read the stack's failover-relevant state from AWS, region by region.",
        epilog=EXIT_STATUS_HELP,
    )
    add_stack_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of the report")
    add_topology_argument(parser)


def run(args: argparse.Namespace, ctx: OpsContext | None = None) -> int:
    """``python -m ops status``; see :data:`EXIT_STATUS_HELP`."""
    import sys

    try:
        ref = stack_ref(args.stack)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: --stack: {error}", file=sys.stderr)
        return 2
    ctx = ctx or default_context()
    try:
        topology, source = load_topology(ref, ctx.aws, path=args.topology)
        found = gather_status(ref, topology, source, ctx)
    except TopologyFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except CredentialsError as problem:
        return print_credentials_error(problem)
    except (TopologyUnavailableError, ValidationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(found.to_dict(), indent=2) if args.json else render_status(found.to_dict()))
    return 0 if found.ok else 1
