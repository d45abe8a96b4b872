"""The benchmarks' report: ``docs/benchmarks.md`` and its plots (``docs/img/bench-*.png``).

Each benchmark owns one section of the document, between ``<!-- bench:<name>:begin -->`` and
``<!-- bench:<name>:end -->``. A run rewrites the sections of the benchmarks it ran and keeps the others as they
were, so ``python -m bench cache`` refreshes the cache figures without measuring the rest again; the summary table
at the top is rebuilt from the figure tables of every section in the document.

Everything but :func:`draw` is pure text in, text out (``tests/test_bench.py``); matplotlib (the Agg backend, no
display) is imported only to draw.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.measure import PER_REQUEST, Figure, Plot, Result, Table

IMAGE_PREFIX = "img/"
FIGURE_HEADERS = ("figure", "measured", "target", "verdict", "note")
_SECTION = re.compile(r"<!-- bench:(?P<name>[a-z0-9-]+):begin -->\n.*?<!-- bench:(?P=name):end -->", re.DOTALL)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(table: Table) -> str:
    lines = [
        "| " + " | ".join(_cell(header) for header in table.headers) + " |",
        "| " + " | ".join("---" for _ in table.headers) + " |",
    ]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in table.rows]
    return "\n".join(lines)


def figure_table(figures: Sequence[Figure]) -> Table:
    return Table(
        FIGURE_HEADERS,
        tuple(
            (figure.name, figure.shown(figure.value), figure.shown_target, figure.verdict, figure.reason) for figure in figures
        ),
    )


def render_section(result: Result, measured: str) -> str:
    """The section of ``result`` with its markers; ``measured`` says when and how (e.g. the date and ``--quick``)."""
    parts = [
        f"<!-- bench:{result.name}:begin -->",
        f"## {result.title}",
        "",
        result.method,
        "",
        render_table(figure_table(result.figures)),
    ]
    for table in result.tables:
        parts += ["", render_table(table)]
    if result.notes:
        parts += ["", *(f"- {note}" for note in result.notes)]
    for plot in result.plots:
        parts += ["", f"![{plot.title}]({IMAGE_PREFIX}{plot.filename})"]
    parts += ["", f"<sub>`python -m bench {result.name}`, measured {measured}.</sub>", f"<!-- bench:{result.name}:end -->"]
    return "\n".join(parts)


def split_sections(document: str) -> dict[str, str]:
    """The sections of a report, by benchmark name, each with its markers."""
    return {match["name"]: match[0] for match in _SECTION.finditer(document)}


def summary_rows(name: str, section: str) -> list[str]:
    """The rows of a section's figure table, each prefixed with the benchmark's name (for the summary)."""
    lines = section.splitlines()
    header = "| " + " | ".join(FIGURE_HEADERS) + " |"
    if header not in lines:
        return []
    rows = []
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(f"| {name} {line}")
    return rows


def render_document(sections: Mapping[str, str], order: Sequence[str], header: str) -> str:
    """The whole report: ``header``, the summary of every figure, then the sections in ``order`` (unknown names
    last, in name order)."""
    names = [name for name in order if name in sections] + sorted(set(sections) - set(order))
    summary = [
        "## Summary",
        "",
        "| benchmark | " + " | ".join(FIGURE_HEADERS) + " |",
        "| --- | " + " | ".join("---" for _ in FIGURE_HEADERS) + " |",
    ]
    for name in names:
        summary += summary_rows(name, sections[name])
    body = "\n\n".join(sections[name] for name in names)
    return f"{header.rstrip()}\n\n" + "\n".join(summary) + f"\n\n{body}\n"


def update_document(existing: str | None, results: Sequence[Result], measured: str, order: Sequence[str], header: str) -> str:
    """``existing`` (None: no report yet) with the sections of ``results`` replaced or added."""
    sections = split_sections(existing or "")
    for result in results:
        sections[result.name] = render_section(result, measured)
    return render_document(sections, order, header)


def draw(plot: Plot, directory: Path) -> Path:
    """Draw ``plot`` as ``directory/<plot.filename>`` (PNG) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.8), dpi=100)
    if plot.kind == PER_REQUEST:
        for label, values in plot.series.items():
            axes.plot(range(1, len(values) + 1), values, marker=".", linestyle="none", markersize=3, alpha=0.6, label=label)
        axes.set_xlabel("request (in measurement order)")
        axes.legend(markerscale=4, fontsize="small")
    else:
        labels = list(plot.series)
        bars = axes.bar(range(len(labels)), [plot.series[label][0] for label in labels], color="tab:blue")
        axes.set_xticks(range(len(labels)), labels, rotation=15, ha="right", fontsize="small")
        axes.bar_label(bars, fmt="%.3g", fontsize="small")
    if plot.log_y:
        axes.set_yscale("log")
    axes.set_title(plot.title)
    axes.set_ylabel(plot.ylabel)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / plot.filename
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)
    return path
