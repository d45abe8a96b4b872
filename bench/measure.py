"""What every benchmark shares: timing loops, percentiles, and the result types the report renders.

A benchmark returns a :class:`Result`: its figures (each a number with an optional "at most" target, hence a
verdict), tables of the measurements behind them, notes, and plot specifications (plain data; ``bench.report``
draws them). Nothing here imports a server, a client or matplotlib, so the tests exercise it directly.

Example:
    >>> percentile([1, 2, 3, 4], 50), Figure("hit / raw GET (p50)", 1.1, target=1.25).verdict
    (2.5, 'PASS')
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

PASS = "PASS"
MISS = "MISS"
INFO = "info"

NS_PER_MS = 1_000_000

# Plot kinds: one point per request in measurement order (x = request number), or one bar per label.
PER_REQUEST = "per-request"
BARS = "bars"
PLOT_KINDS = (PER_REQUEST, BARS)


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 to 100) of ``samples``, interpolated linearly between closest ranks (numpy's
    default), so p50 of an even count is the mean of the two middle values.

    Example:
        >>> percentile([10, 20, 30, 40, 50], 99)
        49.6
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100, got {q}")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(samples: Sequence[float]) -> float:
    return percentile(samples, 50)


def to_ms(nanoseconds: float) -> float:
    return nanoseconds / NS_PER_MS


def interleaved(calls: Mapping[str, Callable[[], object]], iterations: int, warmup: int) -> dict[str, list[int]]:
    """Time each call ``iterations`` times (nanoseconds, ``time.perf_counter_ns``), taking turns, after ``warmup``
    untimed rounds.

    Taking turns (and reversing the order every other round) spreads the noise of a shared machine over every call
    alike, so their ratio is fairer than that of back-to-back loops measured at different moments.
    """
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            calls[name]()
    samples: dict[str, list[int]] = {name: [] for name in names}
    for round_number in range(iterations):
        for name in names if round_number % 2 == 0 else reversed(names):
            call = calls[name]
            start = time.perf_counter_ns()
            call()
            samples[name].append(time.perf_counter_ns() - start)
    return samples


def format_number(value: float) -> str:
    """Whole numbers as they are, others with two decimals (three significant digits below 0.1)."""
    if float(value).is_integer():
        return str(int(value))
    if abs(value) < 0.1:
        return f"{value:.3g}"
    return f"{value:.2f}"


@dataclass(frozen=True)
class Figure:
    """One measured number, with the target it must meet (at most ``target``), if it has one.

    Parameters
    ----------
    name: what it is, e.g. ``hit / raw GET (p50)``.
    value: the measurement.
    target: the most it may be; None for a figure reported for context only.
    unit: ``x`` for a ratio, else the unit written after the number (``ms``; empty for a count).
    reason: why it misses (or what to read into it), written beside the verdict.
    """

    name: str
    value: float
    target: float | None = None
    unit: str = "x"
    reason: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None:
            return INFO
        return PASS if self.value <= self.target else MISS

    def shown(self, value: float) -> str:
        number = format_number(value)
        if self.unit == "x":
            return f"{number}x"
        return f"{number} {self.unit}" if self.unit else number

    @property
    def shown_target(self) -> str:
        return "-" if self.target is None else f"<= {self.shown(self.target)}"

    def line(self) -> str:
        """The figure as one line of the benchmark's output."""
        text = f"{self.name}: {self.shown(self.value)}  (target {self.shown_target})  {self.verdict}"
        return f"{text}  - {self.reason}" if self.reason else text


@dataclass(frozen=True)
class Table:
    """A markdown table: a header row and rows of already formatted cells."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.headers):
                raise ValueError(f"row {row!r} has {len(row)} cells, the table has {len(self.headers)} columns")


@dataclass(frozen=True)
class Plot:
    """A plot to draw, as plain data.

    Parameters
    ----------
    name: the file is ``docs/img/bench-<name>.png``.
    title, ylabel: the plot's title and y axis label.
    kind: ``per-request`` (one line of points per series, x = request number) or ``bars`` (one bar per series,
        its first value).
    series: label -> values.
    log_y: a logarithmic y axis (for latencies that differ by orders of magnitude).
    """

    name: str
    title: str
    ylabel: str
    kind: str
    series: Mapping[str, Sequence[float]]
    log_y: bool = False

    def __post_init__(self) -> None:
        if self.kind not in PLOT_KINDS:
            raise ValueError(f"plot kind must be one of {', '.join(PLOT_KINDS)}, got {self.kind!r}")

    @property
    def filename(self) -> str:
        return f"bench-{self.name}.png"


@dataclass
class Result:
    """What one benchmark measured.

    Parameters
    ----------
    name: the benchmark's name on the command line (``cache``).
    title: the section heading.
    method: how it was measured, one paragraph of markdown.
    figures, tables, notes, plots: see the classes above; notes are markdown bullets.
    """

    name: str
    title: str
    method: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)


def latency_row(label: str, samples_ns: Sequence[int]) -> tuple[str, ...]:
    """``label``, count, p50, p99 and max in milliseconds: the row of a latency table."""
    return (
        label,
        str(len(samples_ns)),
        f"{to_ms(percentile(samples_ns, 50)):.3f}",
        f"{to_ms(percentile(samples_ns, 99)):.3f}",
        f"{to_ms(max(samples_ns)):.3f}",
    )


LATENCY_HEADERS = ("read", "n", "p50 (ms)", "p99 (ms)", "max (ms)")
