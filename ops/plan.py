"""The offline plan: what ``pulumi up`` would create, drawn from a mocks-harness run (no AWS, no CLI)."""

from __future__ import annotations

from typing import Any

from ops.harness import UNKNOWN, ProgramRun, Resource
from ops.parity import compare_regions, compared_regions, region_resources, render_parity


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
    lines += ["", "Outputs"]
    lines += _outputs(run.outputs, "  ")
    return "\n".join(lines)


def _count(run: ProgramRun, roots: list[Resource]) -> int:
    return sum(1 + sum(1 for _ in run.descendants(root)) for root in roots)


def _regional_roots(run: ProgramRun, region: str) -> list[Resource]:
    """The region's provider and the top-level resources that belong to it (the parity rule)."""
    providers = [r for r in run.roots() if r.type.startswith("pulumi:providers:") and r.region == region]
    top = {id(r) for r in region_resources(run, region)}
    return providers + [r for r in run.roots() if id(r) in top]


def _tree(nodes: list[Resource], indent: str, *, show_region: bool = False) -> list[str]:
    lines = []
    for node in nodes:
        marks = " [protected]" if node.protect else ""
        where = f" [{node.region}]" if show_region and node.region else ""
        lines.append(f"{indent}{node.type}  {node.name}{where}{marks}")
        lines += _tree(node.children, indent + "  ")
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
