"""The offline plan: what ``pulumi up`` would create, drawn from a mocks-harness run (no AWS, no CLI).

``render_plan`` is the resource tree, counts, parity, the domain, the cost per day (``planning.cost``) and outputs;
``build_report`` adds the resilience budget
(``planning.budget``), the policy pack's verdict (``policy.evaluate``) and the architecture diagram (``planning.diagram``), and
writes ``architecture.dot``, ``.svg``, ``.png`` and ``report.md`` into an output directory.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.config import StackConfig
from planning.budget import Budget, budget_markdown, budget_of, render_budget
from planning.cost import cost_of, render_cost
from planning.diagram import DIAGRAM_STEM, Diagram, DiagramRenderError, DotNotFoundError, build_diagram, render_dot, to_dot
from planning.harness import ROOT, UNKNOWN, ProgramRun, Resource
from planning.parity import compare_regions, compared_regions, region_roots, render_parity
from policy.evaluate import PolicyReport, evaluate

REPORT_NAME = "report.md"
MEMORYDB = "aws:memorydb/cluster:Cluster"
SUBNET = "aws:ec2/subnet:Subnet"
FUNCTION = "aws:lambda/function:Function"
DOCS_DIR = ROOT / "docs"


def render_plan(run: ProgramRun) -> str:
    """Resource tree (global first, then each region), counts per type, cross-region parity and the stack
    outputs."""
    lines = [f"Offline plan of stack '{run.stack}' ({'preview' if run.preview else 'update'} mode under mocks)", ""]
    regions = compared_regions(run)
    regional_roots = {region: _regional_roots(run, region) for region in regions}
    claimed = {id(root) for roots in regional_roots.values() for root in roots}
    global_roots = [
        r for r in run.roots() if id(r) not in claimed and not (r.type.startswith("pulumi:providers:") and r.region in regions)
    ]
    lines.append(f"global ({_count(run, global_roots)} resources; each under the provider of the region in brackets)")
    lines += _tree(global_roots, "  ", show_region=True)
    for region in regions:
        roots = regional_roots[region]
        lines.append(f"{region} ({_count(run, roots)} resources)")
        lines += _tree(roots, "  ")
    lines += ["", "Resources by type"]
    counts = run.type_counts()
    width = max(len(t) for t in counts)
    for type_, count in sorted(counts.items()):
        lines.append(f"  {type_:<{width}}  {count}")
    lines.append(f"  {'total':<{width}}  {sum(counts.values())}")
    lines += ["", *render_parity(compare_regions(run))]
    if run.config is not None:
        lines += ["", *render_placement(run), "", *render_domain(run.config)]
    lines += ["", *render_cost(cost_of(run))]
    lines += ["", "Outputs"]
    lines += _outputs(run.outputs, "  ")
    return "\n".join(lines)


def render_placement(run: ProgramRun) -> list[str]:
    """Engine versions, zones and reservations as the resources carry them: what a first deploy asks AWS for."""
    lines = ["Engines, zones and reservations"]
    for cluster in run.of_type("aws:rds/globalCluster:GlobalCluster"):
        inputs = cluster.inputs
        ignored = "ignored after creation" if "engineVersion" in cluster.ignore_changes else "enforced"
        lines.append(
            f"  Aurora {inputs.get('engine')} {inputs.get('engineVersion')} (engine version {ignored}; "
            f"lifecycle {inputs.get('engineLifecycleSupport', 'provider default')})"
        )
    for region in run.regions():
        caches = [f"{c.inputs.get('engine')} {c.inputs.get('engineVersion')}" for c in run.of_type(MEMORYDB, region)]
        subnets = sorted(
            (s for s in run.of_type(SUBNET, region) if s.inputs.get("tags", {}).get("tier") == "private"), key=lambda s: s.name
        )
        zones = ", ".join(str(s.inputs.get("availabilityZoneId", UNKNOWN)) for s in subnets)
        reserved = sorted(
            f"{f.inputs.get('name')}={int(f.inputs['reservedConcurrentExecutions'])}"
            for f in run.of_type(FUNCTION, region)
            if int(f.inputs.get("reservedConcurrentExecutions", -1)) >= 0
        )
        lines.append(
            f"  {region}: MemoryDB {', '.join(caches)}; zones {zones}; reserved concurrency {', '.join(reserved) or 'none'}"
        )
    return lines


def render_domain(config: StackConfig) -> list[str]:
    """What the stack's clients connect to, and, for a stack without a domain, what a domain would add."""
    domain = config.edge.domain_name
    if domain is None:
        return [
            "Domain: none (domainName is empty)",
            "  clients use each region's API endpoint (output regionalEndpoints) and the CDN's *.cloudfront.net name",
            "  (output cdnDomain). Route53 still health-checks every region's endpoint, and the failover runbook still",
            "  fences, drains, promotes Aurora and closes or opens the traffic gates, but no DNS name follows the",
            "  primary: after a failover, clients must switch to the new region's endpoint themselves.",
            "  A domain (domainName, with createHostedZone or an existing public zone) would add:",
            f"  - api.<domain> {config.routing.mode} records on the gates, so clients follow the runbook by DNS;",
            "  - a custom domain and ACM certificate per region (TLS 1.2) for the API;",
            "  - cdn.<domain> on an ACM certificate with TLS 1.2 or newer (CloudFront's own name also accepts TLS 1.0).",
        ]
    zone = (
        "a hosted zone the stack creates: delegate it to the output hostedZoneNameServers"
        if config.edge.create_hosted_zone
        else "the existing public hosted zone of that name"
    )
    return [
        f"Domain: {domain}, in {zone}",
        f"  api.{domain}: {config.routing.mode} records on the traffic gates; cdn.{domain}: the CDN (TLS 1.2 or newer)",
    ]


def _count(run: ProgramRun, roots: list[Resource]) -> int:
    return sum(1 + sum(1 for _ in run.descendants(root)) for root in roots)


def _regional_roots(run: ProgramRun, region: str) -> list[Resource]:
    """The region's provider and the top-level resources that belong to it (the parity rule)."""
    providers = [r for r in run.roots() if r.type.startswith("pulumi:providers:") and r.region == region]
    return providers + region_roots(run, region)


def _tree(nodes: list[Resource], indent: str, *, show_region: bool = False, region: str | None = None) -> list[str]:
    """One line per resource; its region in brackets where asked, or where it differs from its parent's (the
    GlobalStack has no provider of its own, so its children show theirs; a region's health-check alarm is in us-east-1)."""
    lines = []
    for node in nodes:
        marks = " [protected]" if node.protect else ""
        shown = show_region or (region is not None and node.region not in (None, region))
        where = f" [{node.region}]" if shown and node.region else ""
        lines.append(f"{indent}{node.type}  {node.name}{where}{marks}")
        lines += _tree(
            node.children, indent + "  ", show_region=show_region and node.region is None, region=node.region or region
        )
    return lines


def _outputs(value: Any, indent: str) -> list[str]:
    lines = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{indent}{key}:")
            lines += _outputs(item, indent + "  ")
        else:
            lines.append(f"{indent}{key}: {_show(item)}")
    return lines


def _show(value: Any) -> str:
    if value is UNKNOWN:
        return str(UNKNOWN)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


# ---- the report: plan, budget, policy, diagram ---------------------------------------------------------


def default_out_dir(stack: str) -> Path:
    """Where the report goes unless told: ``.build/plan/<stack>/`` under the project (``.build/`` is ignored by git)."""
    return ROOT / ".build" / "plan" / stack


@dataclass(frozen=True)
class PlanReport:
    """What ``build_report`` produced: the text printed, the budget, the policy verdict, the diagram, the files
    written, and why the diagram was not rendered (``render_error``; ``dot_missing`` when Graphviz is absent)."""

    text: str
    budget: Budget
    policy: PolicyReport
    diagram: Diagram
    files: tuple[Path, ...]
    render_error: str | None = None
    dot_missing: bool = False


def build_report(run: ProgramRun, out_dir: Path, *, docs_dir: Path | None = None) -> PlanReport:
    """The plan of ``run`` with its budget, policy verdict and diagram, written to ``out_dir`` (``architecture.dot``,
    ``.svg``, ``.png``, ``report.md``); with ``docs_dir``, the SVG and PNG are copied there too.

    A diagram that cannot be rendered does not stop the report: the DOT file and ``report.md`` are still written and
    ``render_error`` says why (``dot_missing`` when Graphviz is not installed).
    """
    budget = budget_of(run)
    policy = evaluate(run)
    diagram = build_diagram(run)
    out_dir.mkdir(parents=True, exist_ok=True)
    dot_text = to_dot(diagram)
    dot_file = out_dir / f"{DIAGRAM_STEM}.dot"
    dot_file.write_text(dot_text)
    files = [dot_file]
    render_error, dot_missing = None, False
    try:
        images = render_dot(dot_text, out_dir)
    except DiagramRenderError as error:
        images, render_error, dot_missing = [], str(error), isinstance(error, DotNotFoundError)
    files += images
    if docs_dir is not None and images:
        docs_dir.mkdir(parents=True, exist_ok=True)
        files += [Path(shutil.copyfile(image, docs_dir / image.name)) for image in images]
    report_file = out_dir / REPORT_NAME
    files.append(report_file)
    plan = render_plan(run)
    sections = [plan, "", *render_budget(budget), "", "Policy pack", *(f"  {line}" for line in policy.summary_lines())]
    sections += ["", *_diagram_section(diagram, files, render_error)]
    report = PlanReport("\n".join(sections), budget, policy, diagram, tuple(files), render_error, dot_missing)
    report_file.write_text(_markdown(run, plan, report))
    return report


def _diagram_section(diagram: Diagram, files: list[Path], render_error: str | None) -> list[str]:
    size = f"{len(diagram.clusters)} region clusters, {len(diagram.nodes)} nodes, {len(diagram.edges)} edges"
    lines = [f"Architecture diagram ({size})"]
    lines += [f"  written: {_shown(path)}" for path in files]
    if render_error:
        lines.append(f"  not rendered: {render_error}")
    lines += [f"  not drawn: {note}" for note in diagram.notes]
    return lines


def _shown(path: Path) -> str:
    """A path relative to the project when it is inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _markdown(run: ProgramRun, plan: str, report: PlanReport) -> str:
    mode = "preview" if run.preview else "update"
    lines = [
        f"# Offline plan of stack `{run.stack}`",
        "",
        f"Generated by `python -m ops plan --stack {run.stack}` ({mode} mode under the mocks harness; no AWS, no Pulumi CLI).",
        "",
        "## Architecture",
        "",
    ]
    svg = next((path for path in report.files if path.suffix == ".svg" and path.parent == report.files[0].parent), None)
    lines.append(f"![architecture of {run.stack}]({svg.name})" if svg else f"Not rendered: {report.render_error}")
    lines += [f"- not drawn: {note}" for note in report.diagram.notes]
    lines += ["", *budget_markdown(report.budget), "", "## Policy pack", "", "```", *report.policy.summary_lines(), "```"]
    lines += ["", "## Plan", "", "```", plan, "```", ""]
    return "\n".join(lines)
