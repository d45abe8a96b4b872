"""The offline plan: what ``pulumi up`` would create, drawn from a mocks-harness run (no AWS, no CLI)."""

from __future__ import annotations

from typing import Any

from ops.harness import UNKNOWN, ProgramRun, Resource


def render_plan(run: ProgramRun) -> str:
    """Resource tree (global first, then each region), counts per type and the stack outputs."""
    lines = [f"Offline plan of stack '{run.stack}' ({'preview' if run.preview else 'update'} mode under mocks)", ""]
    regions = run.regions()
    global_roots = [r for r in run.roots() if r.region is None]
    lines.append(f"global ({_count(run, global_roots)} resources)")
    lines += _tree(global_roots, "  ")
    for region in regions:
        roots = [r for r in run.roots() if r.region == region]
        lines.append(f"{region} ({_count(run, roots)} resources)")
        lines += _tree(roots, "  ")
    lines += ["", "Resources by type"]
    counts = run.type_counts()
    width = max(len(t) for t in counts)
    for type_, count in sorted(counts.items()):
        lines.append(f"  {type_:<{width}}  {count}")
    lines.append(f"  {'total':<{width}}  {sum(counts.values())}")
    lines += ["", "Outputs"]
    lines += _outputs(run.outputs, "  ")
    return "\n".join(lines)


def _count(run: ProgramRun, roots: list[Resource]) -> int:
    return sum(1 + sum(1 for _ in run.descendants(root)) for root in roots)


def _tree(nodes: list[Resource], indent: str) -> list[str]:
    lines = []
    for node in nodes:
        marks = " [protected]" if node.protect else ""
        lines.append(f"{indent}{node.type}  {node.name}{marks}")
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
