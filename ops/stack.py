"""The deployed stack an ops command acts on, found without a Pulumi backend (so it works while a region is down):
:func:`stack_ref` names it from ``Pulumi.<stack>.yaml``; :func:`load_topology` reads its runbook topology from the
SSM parameter ``/<project>/<stack>/runbook-topology`` of the first region that answers, or from ``--topology FILE``
(the program's ``runbookTopology`` output saved ahead of time, the whole ``pulumi stack output --json``, or the
parameter's value)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from functions.runbook.model import Topology
from functions.shared.errors import ValidationError
from functions.shared.schema import table_name
from ops.context import ClientFactory
from ops.credentials import credentials_problem, describe_error


@dataclass(frozen=True)
class StackRef:
    """The deployed stack as named by its config: enough to find everything else."""

    project: str
    stack: str
    regions: tuple[str, ...]
    # The runtime-settings document the stack's config asks for (what every region's parameter should hold).
    app_config: str = ""

    @property
    def topology_parameter(self) -> str:
        return f"/{self.project}/{self.stack}/runbook-topology"

    @property
    def app_config_parameter(self) -> str:
        from components.app_config import parameter_name

        return parameter_name(self.project, self.stack)

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
    from components.app_config import parameter_document
    from planning.harness import stack_config

    config = stack_config(stack)
    return StackRef(config.project, config.stack, config.region_names, parameter_document(config.app))


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
            # A SecureString under the region's key: the caller needs kms:Decrypt on it through SSM.
            parameter = aws("ssm", region).get_parameter(Name=ref.topology_parameter, WithDecryption=True)
            value = parameter["Parameter"]["Value"]
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
