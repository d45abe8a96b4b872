"""Cold start: how long importing each handler module takes, against ``import boto3`` alone, and the package size.

Each import runs in a fresh interpreter (``python -c "import <module>"`` in the project root, ``LAMBDA_TASK_ROOT`` set
as on Lambda); the time of ``python -c pass`` is subtracted, medians of several runs each, the variants taking turns.
The handlers import neither boto3, redis nor Powertools at import time (``tests/functions/test_cold_path.py``): the
*first request's imports* row adds what the first invocation loads. ``--baseline <rev>`` measures that revision's
handlers (``git archive``) in the same run: before and after a change. The package is built by
``components.packaging.build_package`` into a temporary directory: one zip serves every function.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from bench.measure import BARS, Figure, Plot, Result, Table, median, to_ms
from components.packaging import build_package
from planning.harness import ROOT

NAME = "coldstart"
HANDLER_MODULES = (
    "functions.api.handler",
    "functions.processor.handler",
    "functions.stream.handler",
    "functions.runbook.handler",
)
TARGET_HANDLER_OVER_BOTO3 = 1.3
BASELINE = "python -c pass"
BOTO3 = "import boto3"
FIRST_REQUEST = "first request's imports (api handler, boto3, redis)"
IMPORT_TIMEOUT_SECONDS = 60
# Set by ``--baseline``: a git revision whose handlers are measured beside this checkout's.
BASELINE_VARIABLE = "COLDSTART_BASELINE"


def present_handlers(root: Path = ROOT) -> list[str]:
    """The handler modules that exist in this checkout (the runbook's may not yet)."""
    return [module for module in HANDLER_MODULES if (root / (module.replace(".", "/") + ".py")).is_file()]


def interpreter_ns(code: str, env: Mapping[str, str] | None = None, cwd: Path = ROOT) -> int:
    """Nanoseconds from starting ``python -c code`` in ``cwd`` (the project root) to its exit; ``env`` adds variables
    to the environment it inherits."""
    environment = {**os.environ, **env} if env else None
    start = time.perf_counter_ns()
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=environment,
        check=True,
        capture_output=True,
        timeout=IMPORT_TIMEOUT_SECONDS,
    )
    return time.perf_counter_ns() - start


def import_plot(name: str, title: str, import_ms: Mapping[str, float]) -> Plot:
    """Bars of each variant's import time (ms)."""
    return Plot(name=name, title=title, ylabel="ms", kind=BARS, series={label: [value] for label, value in import_ms.items()})


def package_parts(path: Path) -> dict[str, tuple[int, int]]:
    """Files and uncompressed bytes of a zip by top-level folder (``functions``, ``redis``, its ``.dist-info``)."""
    files: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            top = info.filename.split("/", 1)[0]
            files[top] += 1
            sizes[top] += info.file_size
    return {top: (files[top], sizes[top]) for top in sorted(files)}


def lambda_env(root: Path) -> dict[str, str]:
    """What Lambda sets that the handlers' libraries read at import: the task root."""
    return {"LAMBDA_TASK_ROOT": str(root)}


@contextmanager
def revision_tree(revision: str) -> Iterator[Path]:
    """``functions/`` of ``revision``, extracted into a temporary directory."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "functions"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as out:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(out)  # the repository's own archive (the filter argument needs Python 3.11.4)
        yield Path(out)


def _import_times(
    runs: int, handlers: list[str], baseline_root: Path | None = None, revision: str = ""
) -> tuple[float, dict[str, float]]:
    """The interpreter start (ns, median) and each variant's import time (ms, median, the start subtracted), every
    variant in a fresh interpreter, taking turns; with ``baseline_root``, the handlers there too."""
    variants: dict[str, tuple[str, Path]] = {
        BASELINE: ("pass", ROOT),
        BOTO3: ("import boto3", ROOT),
        **{f"import {module}": (f"import {module}", ROOT) for module in handlers},
        FIRST_REQUEST: (first_request_code(ROOT), ROOT),
    }
    if baseline_root is not None:
        variants.update(
            {f"import {module} ({revision})": (f"import {module}", baseline_root) for module in present_handlers(baseline_root)}
        )
        variants[f"{FIRST_REQUEST} ({revision})"] = (first_request_code(baseline_root), baseline_root)
    samples: dict[str, list[int]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, (code, root) in variants.items():
            samples[name].append(interpreter_ns(code, lambda_env(root), cwd=root))
    baseline = median(samples[BASELINE])
    return baseline, {name: to_ms(median(values) - baseline) for name, values in samples.items() if name != BASELINE}


def first_request_code(root: Path) -> str:
    """What the API's first request imports and builds beyond the handler module: boto3, redis and, where the tree
    has them, Powertools' Logger and Tracer with its botocore patch (``functions/shared/tracing.py``)."""
    code = "import functions.api.handler, boto3, redis"
    if (root / "functions" / "shared" / "tracing.py").is_file():
        code += "; from functions.shared import log, tracing; log.powertools_logger(); tracing.tracer(); tracing.patch_aws_sdk()"
    return code


def run(quick: bool) -> Result:
    runs = 3 if quick else 7
    handlers = present_handlers()
    revision = os.environ.get(BASELINE_VARIABLE, "")
    with revision_tree(revision) if revision else _no_tree() as baseline_root:
        baseline, import_ms = _import_times(runs, handlers, baseline_root, revision)

    with tempfile.TemporaryDirectory(prefix="bench-package-") as out:
        start = time.perf_counter()
        package = build_package(out_dir=Path(out))
        build_seconds = time.perf_counter() - start
        zip_bytes = package.path.stat().st_size
        parts = package_parts(package.path)

    figures = _figures(import_ms, handlers, revision)
    return Result(
        name=NAME,
        title="Cold start: handler imports vs import boto3, package size",
        method=(
            f"Each variant in a fresh `python -c` interpreter in the project root, {runs} runs each, taking turns, "
            "with `LAMBDA_TASK_ROOT` set as on Lambda; "
            f"import time = median wall time minus the median of `{BASELINE}`"
            + (f"; the handlers of `{revision}` (`--baseline`) measured in the same run." if revision else ".")
        ),
        figures=figures,
        tables=[
            Table(
                ("import", "median (ms, interpreter start subtracted)"),
                tuple((name, f"{value:.1f}") for name, value in import_ms.items()),
            ),
            Table(
                ("package part", "files", "bytes"),
                (
                    *((top, str(count), f"{size:,}") for top, (count, size) in parts.items()),
                    ("zip (every function's package)", str(len(package.entries)), f"{zip_bytes:,}"),
                ),
            ),
        ],
        notes=_notes(baseline, runs, build_seconds, handlers),
        plots=[import_plot(NAME, "Import time in a fresh interpreter (interpreter start subtracted)", import_ms)],
    )


def _figures(import_ms: Mapping[str, float], handlers: list[str], revision: str) -> list[Figure]:
    """Each handler's import against the target, then the context: the baseline's, the first request's imports."""
    figures = [
        Figure(f"import {module} / import boto3", import_ms[f"import {module}"] / import_ms[BOTO3], TARGET_HANDLER_OVER_BOTO3)
        for module in handlers
    ]
    figures.extend(
        Figure(
            f"before: import {module} / import boto3 ({revision})",
            import_ms[f"import {module} ({revision})"] / import_ms[BOTO3],
            reason="context: the same handler at the baseline revision, measured in this run",
        )
        for module in handlers
        if f"import {module} ({revision})" in import_ms
    )
    figures.append(
        Figure(
            "first request's imports / import boto3",
            import_ms[FIRST_REQUEST] / import_ms[BOTO3],
            reason="context: the API handler, then what its first invocation loads: boto3, redis, Powertools' Logger, "
            "the Tracer and its botocore patch",
        )
    )
    if f"{FIRST_REQUEST} ({revision})" in import_ms:
        figures.append(
            Figure(
                f"before: first request's imports / import boto3 ({revision})",
                import_ms[f"{FIRST_REQUEST} ({revision})"] / import_ms[BOTO3],
                reason="context: the same at the baseline revision",
            )
        )
    return figures


@contextmanager
def _no_tree() -> Iterator[None]:
    yield None


def _notes(baseline: float, runs: int, build_seconds: float, handlers: list[str]) -> list[str]:
    missing = sorted(set(HANDLER_MODULES) - set(handlers))
    notes = [
        f"Interpreter start (`{BASELINE}`, subtracted): {to_ms(baseline):.1f} ms (median of {runs}).",
        "The package ships no bytecode (`components/packaging.py` leaves `.pyc` out), so on Lambda the first import "
        "of `functions/` and redis also compiles them; here the bytecode caches of the checkout are warm, as the "
        "runtime's own boto3 is on Lambda.",
        f"Package built in {build_seconds * 1000:.0f} ms; stored uncompressed (reproducible bytes), far below Lambda's "
        "50 MB zipped / 250 MB unzipped limits.",
    ]
    if missing:
        notes.append(f"Not measured (no such module in this checkout): {', '.join(missing)}.")
    return notes
