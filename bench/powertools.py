"""Powertools on the cold path: what importing (and building) the Powertools for AWS Lambda pieces issue 15 would use
costs, against ``import boto3`` alone and against today's handlers, in the same run.

Measured as ``bench/coldstart.py`` does: each variant in a fresh ``python -c`` interpreter in the project root, the
median of several runs (the variants taking turns), the median of ``python -c pass`` subtracted. Handlers build
Logger, Metrics and Tracer at module level, so the *built* rows construct them as a handler would. Tracer imports the
X-Ray SDK only when it is built (``aws_lambda_powertools.tracing.tracer`` loads ``aws_xray_sdk`` lazily), and it
patches libraries only where it is enabled, which it is only inside Lambda (``LAMBDA_TASK_ROOT`` set): the *in
Lambda* rows set that variable so that the constructor does what it would on Lambda.
"""

from __future__ import annotations

import importlib.metadata

from bench.coldstart import (
    BASELINE,
    BOTO3,
    TARGET_HANDLER_OVER_BOTO3,
    import_plot,
    interpreter_ns,
    present_handlers,
)
from bench.measure import Figure, Result, Table, median, to_ms
from planning.harness import ROOT

NAME = "powertools"
LAMBDA_ENV = {"LAMBDA_TASK_ROOT": str(ROOT), "AWS_LAMBDA_FUNCTION_NAME": "bench", "POWERTOOLS_SERVICE_NAME": "bench"}
BLOCK_XRAY = "import sys; sys.modules['aws_xray_sdk'] = None; "
# (label, code, runs inside Lambda): the figures' order.
VARIANTS: tuple[tuple[str, str, bool], ...] = (
    ("from aws_lambda_powertools import Logger", "from aws_lambda_powertools import Logger", False),
    ("Logger() built", "from aws_lambda_powertools import Logger; Logger()", False),
    ("from aws_lambda_powertools import Metrics", "from aws_lambda_powertools import Metrics", False),
    ("Metrics(namespace=...) built", "from aws_lambda_powertools import Metrics; Metrics(namespace='bench')", False),
    ("from aws_lambda_powertools import Tracer", "from aws_lambda_powertools import Tracer", False),
    (
        "from aws_lambda_powertools import Tracer, aws_xray_sdk absent",
        BLOCK_XRAY + "from aws_lambda_powertools import Tracer",
        False,
    ),
    ("Tracer() built in Lambda (auto-patch)", "from aws_lambda_powertools import Tracer; Tracer()", True),
    (
        "Tracer(patch_modules=['botocore']) built in Lambda",
        "from aws_lambda_powertools import Tracer; Tracer(patch_modules=['botocore'])",
        True,
    ),
    (
        "Tracer(auto_patch=False) built in Lambda",
        "from aws_lambda_powertools import Tracer; Tracer(auto_patch=False)",
        True,
    ),
    (
        "from ...utilities.batch import BatchProcessor, EventType, process_partial_response",
        "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response",
        False,
    ),
    (
        "from ...event_handler import APIGatewayHttpResolver",
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver",
        False,
    ),
    (
        "APIGatewayHttpResolver() built",
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver; APIGatewayHttpResolver()",
        False,
    ),
    (
        "from boto3.dynamodb.types import TypeSerializer, TypeDeserializer",
        "from boto3.dynamodb.types import TypeSerializer, TypeDeserializer",
        False,
    ),
    (
        "API handler's likely set: Logger, Metrics, Tracer (no auto-patch), resolver, built in Lambda",
        "from aws_lambda_powertools import Logger, Metrics, Tracer; "
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver; "
        "Logger(); Metrics(namespace='bench'); Tracer(auto_patch=False); APIGatewayHttpResolver()",
        True,
    ),
    (
        "processor's likely set: Logger, Metrics, Tracer (auto-patch), BatchProcessor, built in Lambda",
        "from aws_lambda_powertools import Logger, Metrics, Tracer; "
        "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType; "
        "Logger(); Metrics(namespace='bench'); Tracer(); BatchProcessor(EventType.SQS)",
        True,
    ),
)


def run(quick: bool) -> Result:
    runs = 3 if quick else 9
    handlers = [(f"import {module}", f"import {module}", False) for module in present_handlers()]
    variants = [(BASELINE, "pass", False), (BOTO3, "import boto3", False), *VARIANTS, *handlers]
    samples: dict[str, list[int]] = {label: [] for label, _, _ in variants}
    for _ in range(runs):
        for label, code, in_lambda in variants:
            samples[label].append(interpreter_ns(code, LAMBDA_ENV if in_lambda else None))
    baseline = median(samples[BASELINE])
    import_ms = {label: to_ms(median(values) - baseline) for label, values in samples.items() if label != BASELINE}
    boto3_ms = import_ms[BOTO3]
    figures = [
        Figure(f"{label} / import boto3", import_ms[label] / boto3_ms, TARGET_HANDLER_OVER_BOTO3)
        for label, _, _ in (*VARIANTS, *handlers)
    ]
    versions = ", ".join(
        f"{name} {_version(name)}" for name in ("aws-lambda-powertools", "aws-xray-sdk", "boto3", "botocore", "wrapt")
    )
    return Result(
        name=NAME,
        title="Powertools on the cold path: imports vs import boto3",
        method=(
            f"Each variant in a fresh `python -c` interpreter in the project root, {runs} runs each, taking turns; "
            f"import time = median wall time minus the median of `{BASELINE}`. The target is the handlers' "
            f"({TARGET_HANDLER_OVER_BOTO3:.1f}x `import boto3`): a piece a handler imports must fit under it together "
            "with the handler's own modules."
        ),
        figures=figures,
        tables=[
            Table(
                ("import", "median (ms, interpreter start subtracted)"),
                tuple((label, f"{value:.1f}") for label, value in import_ms.items()),
            )
        ],
        notes=[
            f"Interpreter start (`{BASELINE}`, subtracted): {to_ms(baseline):.1f} ms (median of {runs}).",
            f"Versions: {versions}.",
            "*in Lambda* rows set `LAMBDA_TASK_ROOT` (and a function and service name) so that Tracer is enabled "
            "and, with auto-patch, patches every library the X-Ray SDK supports that is installed: botocore, which "
            "then loads at import time, and here also requests, httpx and sqlite3, which this venv has (the Lambda "
            "runtime has no requests or httpx). The X-Ray SDK patches no Redis client. *aws_xray_sdk absent* puts "
            "`None` in `sys.modules`, as if the package were not installed.",
            "`boto3.dynamodb.types` imports the `boto3` package first, so that row pays for `import boto3`.",
        ],
        plots=[import_plot(NAME, "Powertools imports in a fresh interpreter (interpreter start subtracted)", import_ms)],
    )


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
