"""The benchmarks' pure parts (bench/): percentiles, verdicts, the markdown report and the plan's configs.

The benchmarks themselves are not run here (``python -m bench`` does that); these tests only prove that what they
print and write says what was measured.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.breaker import SKIPPED, TRIED, Outage, ReadClock
from bench.coldstart import HANDLER_MODULES, first_request_code, present_handlers, revision_tree
from bench.measure import (
    BARS,
    INFO,
    MISS,
    PASS,
    PER_REQUEST,
    Figure,
    Plot,
    Result,
    Table,
    format_number,
    interleaved,
    latency_row,
    median,
    percentile,
)
from bench.plan import REGION_COUNTS, REGIONS, overrides
from bench.report import render_section, render_table, split_sections, summary_rows, update_document
from functions.shared.breaker import CircuitBreaker
from planning.harness import stack_config

ORDER = ("cache", "plan")
HEADER = "# Benchmarks\n\nintro"


# ---- percentiles ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "q", "expected"),
    [
        ([3, 1, 2], 50, 2),
        ([4, 1, 3, 2], 50, 2.5),
        ([10, 20, 30, 40, 50], 99, 49.6),
        ([10, 20, 30, 40, 50], 0, 10),
        ([10, 20, 30, 40, 50], 100, 50),
        ([7], 99, 7),
        (list(range(1, 101)), 99, 99.01),
    ],
)
def test_percentile_interpolates_between_closest_ranks(samples: list[float], q: float, expected: float) -> None:
    assert percentile(samples, q) == pytest.approx(expected)


def test_percentile_refuses_no_samples_and_q_out_of_range() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match="between 0 and 100, got 101"):
        percentile([1], 101)


def test_median_and_latency_row_in_milliseconds() -> None:
    assert median([5, 1, 3]) == 3
    assert latency_row("hit", [1_000_000, 2_000_000, 3_000_000]) == ("hit", "3", "2.000", "2.980", "3.000")


def test_interleaved_times_every_call_and_takes_turns_in_alternating_order() -> None:
    order: list[str] = []
    samples = interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, iterations=3, warmup=1)
    assert order == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert {name: len(values) for name, values in samples.items()} == {"a": 3, "b": 3}
    assert all(value >= 0 for values in samples.values() for value in values)


# ---- figures and verdicts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "target", "verdict"),
    [(1.0, 1.25, PASS), (1.25, 1.25, PASS), (1.26, 1.25, MISS), (3, 1, MISS), (99.0, None, INFO)],
)
def test_a_figure_passes_at_or_below_its_target(value: float, target: float | None, verdict: str) -> None:
    assert Figure("f", value, target).verdict == verdict


def test_a_figure_line_shows_value_target_verdict_and_reason() -> None:
    figure = Figure("requests per new event", 3, 1, unit="", reason="by design")
    assert figure.line() == "requests per new event: 3  (target <= 1)  MISS  - by design"
    assert Figure("p99 difference", 0.4567, 5, unit="ms").line() == "p99 difference: 0.46 ms  (target <= 5 ms)  PASS"
    assert Figure("ratio", 1.08).line() == "ratio: 1.08x  (target -)  info"


@pytest.mark.parametrize(
    ("value", "shown"), [(3.0, "3"), (1.2345, "1.23"), (73.08, "73.08"), (0.01234, "0.0123"), (-2.5, "-2.50")]
)
def test_format_number(value: float, shown: str) -> None:
    assert format_number(value) == shown


def test_a_table_row_must_fill_every_column() -> None:
    with pytest.raises(ValueError, match="has 1 cells, the table has 2 columns"):
        Table(("a", "b"), (("only",),))


def test_a_plot_kind_must_be_known() -> None:
    with pytest.raises(ValueError, match="per-request, bars"):
        Plot("x", "t", "y", "pie", {"a": [1]})


# ---- the markdown report --------------------------------------------------------------------------------------------


def _result(name: str = "cache", value: float = 1.1) -> Result:
    return Result(
        name=name,
        title=f"{name} title",
        method="How it was measured.",
        figures=[Figure("hit / raw GET (p50)", value, 1.25), Figure("a | b", 2.0, reason="context")],
        tables=[Table(("read", "p50 (ms)"), (("hit", "0.100"),))],
        notes=["a note"],
        plots=[Plot(name, "Latencies", "ms", PER_REQUEST, {"hit": [0.1, 0.2]})],
    )


def test_a_table_renders_as_markdown_with_pipes_escaped() -> None:
    assert render_table(Table(("a", "b"), (("x|y", "z"),))) == "| a | b |\n| --- | --- |\n| x\\|y | z |"


def test_a_section_has_markers_figures_tables_notes_plot_and_when() -> None:
    section = render_section(_result(), "2025-01-01 00:00 UTC")
    lines = section.splitlines()
    assert lines[0] == "<!-- bench:cache:begin -->"
    assert lines[-1] == "<!-- bench:cache:end -->"
    assert "## cache title" in lines
    assert "| hit / raw GET (p50) | 1.10x | <= 1.25x | PASS |  |" in lines
    assert "| a \\| b | 2x | - | info | context |" in lines
    assert "| hit | 0.100 |" in lines
    assert "- a note" in lines
    assert "![Latencies](img/bench-cache.png)" in lines
    assert "<sub>`python -m bench cache`, measured 2025-01-01 00:00 UTC.</sub>" in lines


def test_a_miss_is_written_as_a_miss() -> None:
    assert "| hit / raw GET (p50) | 1.40x | <= 1.25x | MISS |  |" in render_section(_result(value=1.4), "now").splitlines()


def test_a_new_document_has_the_header_a_summary_of_every_figure_and_the_sections_in_order() -> None:
    document = update_document(None, [_result("plan", 2.0), _result("cache")], "now", ORDER, HEADER)
    assert document.startswith(HEADER + "\n\n## Summary\n")
    assert "| cache | hit / raw GET (p50) | 1.10x | <= 1.25x | PASS |  |" in document
    assert "| plan | hit / raw GET (p50) | 2x | <= 1.25x | MISS |  |" in document
    assert document.index("<!-- bench:cache:begin -->") < document.index("<!-- bench:plan:begin -->")
    assert list(split_sections(document)) == ["cache", "plan"]


def test_a_subset_run_replaces_its_sections_and_keeps_the_others() -> None:
    first = update_document(None, [_result("cache"), _result("plan")], "monday", ORDER, HEADER)
    second = update_document(first, [_result("cache", 1.2)], "tuesday", ORDER, HEADER)
    sections = split_sections(second)
    assert sections["plan"] == split_sections(first)["plan"]
    assert "tuesday" in sections["cache"]
    assert "monday" not in sections["cache"]
    assert "| cache | hit / raw GET (p50) | 1.20x | <= 1.25x | PASS |  |" in second
    assert second.count("<!-- bench:cache:begin -->") == 1


def test_summary_rows_of_a_section_without_figures_are_none() -> None:
    assert summary_rows("x", "<!-- bench:x:begin -->\ntext\n<!-- bench:x:end -->") == []


# ---- the benchmarks' inputs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", REGION_COUNTS)
def test_the_plan_overrides_are_a_valid_config(count: int) -> None:
    config = overrides(count)
    assert config["regions"] == list(REGIONS[:count])
    assert len(set(config["vpcCidrs"])) == count
    assert config["primaryRegion"] in config["regions"]
    stack_config("prod", config)


def test_the_plan_refuses_a_region_count_the_config_does_not_allow() -> None:
    with pytest.raises(ValueError, match="count must be 2 to 6, got 7"):
        overrides(7)


class WallClock:
    """A fake wall clock: each read takes ``read_seconds``, as on a machine of that speed."""

    def __init__(self, read_seconds: float) -> None:
        self.read_seconds = read_seconds
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += self.read_seconds


def _outage(reads: int, clock: ReadClock | WallClock) -> Outage:
    """``reads`` reads while the dependency is down, the breaker (3 failures, open 10 s) on ``clock``."""
    breaker = CircuitBreaker("cache", failure_threshold=3, open_seconds=10.0, clock=clock)
    sources: list[str] = []
    for _ in range(reads):
        clock.tick()
        if breaker.allow():
            breaker.record_failure()
            sources.append(TRIED)
        else:
            sources.append(SKIPPED)
    return Outage.of(sources, reads_per_period=100)


def test_on_the_wall_clock_a_slower_machine_lands_more_probes_in_the_same_reads() -> None:
    """What the benchmark's figures depended on: the same 500 reads, 5 ms or 50 ms each."""
    assert [len(_outage(500, WallClock(seconds)).probes) for seconds in (0.005, 0.05)] == [0, 2]


@pytest.mark.parametrize("reads", [150, 500, 1234])
def test_on_the_read_clock_an_outage_is_the_threshold_then_one_probe_per_open_period(reads: int) -> None:
    outage = _outage(reads, ReadClock(10))
    assert outage.opening == (0, 1, 2)
    assert len(outage.probes) == outage.open_periods == (reads - 3) // 100
    assert outage.probes_per_open_period() == 1
    assert len(outage.opening) + len(outage.probes) + len(outage.skipped) == reads


def test_the_read_clock_is_exact_and_refuses_no_reads_per_second() -> None:
    clock = ReadClock(10)
    for _ in range(103):
        clock.tick()
    assert clock() - 0.3 >= 10.0
    with pytest.raises(ValueError, match="reads_per_second must be at least 1, got 0"):
        ReadClock(0)


def test_an_outage_whose_breaker_never_opened_has_only_opening_reads() -> None:
    outage = Outage.of([TRIED] * 5, reads_per_period=100)
    assert (outage.opening, outage.probes, outage.skipped, outage.open_periods) == ((0, 1, 2, 3, 4), (), (), 0)
    assert Outage.of([TRIED, SKIPPED, TRIED, TRIED], reads_per_period=1).probes_per_open_period() == 2 / 3


def test_only_handler_modules_that_exist_are_imported(tmp_path: Path) -> None:
    (tmp_path / "functions" / "api").mkdir(parents=True)
    (tmp_path / "functions" / "api" / "handler.py").write_text("")
    assert present_handlers(tmp_path) == ["functions.api.handler"]
    assert set(HANDLER_MODULES) >= {"functions.api.handler", "functions.processor.handler", "functions.stream.handler"}


def test_bars_are_a_plot_kind() -> None:
    assert Plot("x", "t", "y", BARS, {"a": [1]}).filename == "bench-x.png"


def test_a_baseline_revision_is_extracted_with_its_handlers() -> None:
    """``--baseline``: the revision's ``functions/`` in a temporary directory, measured like this checkout's."""
    with revision_tree("HEAD") as root:
        assert present_handlers(root) == list(HANDLER_MODULES)
        assert (root / "functions" / "shared" / "log.py").is_file()
        extracted = root
    assert not extracted.exists()


def test_the_first_request_loads_powertools_only_where_the_tree_has_it(tmp_path: Path) -> None:
    assert first_request_code(tmp_path) == "import functions.api.handler, boto3, redis"
    (tmp_path / "functions" / "shared").mkdir(parents=True)
    (tmp_path / "functions" / "shared" / "tracing.py").write_text("")
    assert "tracing.patch_aws_sdk()" in first_request_code(tmp_path)
