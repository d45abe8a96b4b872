"""Powertools for AWS Lambda (Python) as the functions get it: the AWS-managed public layer, pinned here alone.

``POWERTOOLS_VERSION`` is the package the functions are tested against (requirements-dev.txt pins the same);
``POWERTOOLS_LAYER_VERSION`` the public layer version carrying it, which counts publications and is not derived from
the package's: a bump changes both, and ``ops preflight`` checks the pair against AWS. ``powertools_environment``:
every function's Powertools settings. Why 3.23.0, how to bump: docs/design/application-functions.md (Powertools).

Example:
    >>> powertools_layer_arn("eu-west-1")
    'arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27'
"""

from __future__ import annotations

from components.packaging import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME

# The package release, and the public layer version that is it: 3.23.0 made layer version 27 of
# AWSLambdaPowertoolsPythonV3-python313-x86_64 on 2025-11-13, the `latest` SSM parameter pointing at 27
# (https://github.com/aws-powertools/powertools-lambda-python/issues/7689), and the docs' layer table moved to 27 for
# x86_64 and arm64 together (https://github.com/aws-powertools/powertools-lambda-python/pull/7757). 3.23.0 is pinned
# because it is the newest release whose layer version is known from a citable source.
POWERTOOLS_VERSION = "3.23.0"
POWERTOOLS_LAYER_VERSION = 27

# The accounts publishing the layer (docs/design/powertools-groundwork.md, section 2: the docs' layer table as of
# PR 7757 and docs/index.md of powertools-lambda-python at fa1c29f2d497a7c233f06eb69d0f7ee1b187a9e4).
COMMERCIAL_ACCOUNT = "017000801446"
# The commercial regions of the docs' layer table (docs/includes/_layer_homepage_arm64.md of powertools-lambda-python
# at 0219b401d6a97e222cb26ade10456f8626a716d3): the layer exists there for every runtime and both architectures.
COMMERCIAL_REGIONS: tuple[str, ...] = (
    "af-south-1",
    "ap-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)
# region -> (partition, publishing account).
LAYER_ACCOUNTS: dict[str, tuple[str, str]] = {
    **{region: ("aws", COMMERCIAL_ACCOUNT) for region in COMMERCIAL_REGIONS},
    "cn-north-1": ("aws-cn", "498634801083"),
    "us-gov-east-1": ("aws-us-gov", "165087284144"),
    "us-gov-west-1": ("aws-us-gov", "165093116878"),
}

LAYER_NAME_PREFIX = "AWSLambdaPowertoolsPythonV3"
# Powertools' public SSM parameters: the value is the region's layer ARN of that package version (or of the latest),
# written by the release workflow (https://github.com/aws-powertools/powertools-lambda-python/pull/5754,
# update_ssm.yml). One was once missing (issue 7689), so it is a second opinion, not the source of the pin.
SSM_PARAMETER_PREFIX = "/aws/service/powertools/python"

# ---- the functions' Powertools configuration ------------------------------------------------------------------------

# Powertools' own variable names (aws_lambda_powertools.shared.constants: SERVICE_NAME_ENV, POWERTOOLS_LOG_LEVEL_ENV,
# LOGGER_LOG_SAMPLING_RATE); the metrics namespace's is functions.shared.metrics.NAMESPACE_VARIABLE, set by
# components/app.py. The deploy-time program does not import Powertools; tests/test_powertools_layer.py compares.
SERVICE_NAME_VARIABLE = "POWERTOOLS_SERVICE_NAME"
LOG_LEVEL_VARIABLE = "POWERTOOLS_LOG_LEVEL"
SAMPLE_RATE_VARIABLE = "POWERTOOLS_LOGGER_SAMPLE_RATE"
LOG_LEVEL = "INFO"
# The share of invocations whose Logger logs at DEBUG (Powertools draws it per invocation, the cold start included):
# 1 % gives a steady trickle of full detail for an incident without paying for DEBUG on every call.
DEBUG_SAMPLE_RATE = 0.01


def layer_python_version(runtime: str = LAMBDA_RUNTIME) -> str:
    """The runtime as the layer's name spells it, without the period.

    Example:
        >>> layer_python_version("python3.13")
        'python313'
    """
    if not runtime.startswith("python3."):
        raise ValueError(f"runtime {runtime!r} is not a Python Lambda runtime (python3.N); the layer exists for those")
    return runtime.replace(".", "")


def powertools_layer_name(runtime: str = LAMBDA_RUNTIME, architecture: str = LAMBDA_ARCHITECTURE) -> str:
    """The public layer's name for ``runtime`` and ``architecture`` (``x86_64`` or ``arm64``)."""
    if architecture not in ("x86_64", "arm64"):
        raise ValueError(f"architecture {architecture!r} is not one of x86_64, arm64")
    return f"{LAYER_NAME_PREFIX}-{layer_python_version(runtime)}-{architecture}"


def powertools_layer_arn(region: str) -> str:
    """The pinned layer version's ARN in ``region``, for the functions' runtime and architecture.

    Raises
    ------
    ValueError
        No publishing account is known for ``region``; the message lists the regions there are.
    """
    if region not in LAYER_ACCOUNTS:
        raise ValueError(
            f"region {region!r}: no Powertools public layer is known there; regions: {', '.join(sorted(LAYER_ACCOUNTS))}"
        )
    partition, account = LAYER_ACCOUNTS[region]
    return f"arn:{partition}:lambda:{region}:{account}:layer:{powertools_layer_name()}:{POWERTOOLS_LAYER_VERSION}"


def powertools_ssm_parameter(version: str = POWERTOOLS_VERSION) -> str:
    """The public SSM parameter holding a region's layer ARN of ``version`` (``latest`` for the newest).

    Example:
        >>> powertools_ssm_parameter()
        '/aws/service/powertools/python/arm64/python3.13/3.23.0'
    """
    return f"{SSM_PARAMETER_PREFIX}/{LAMBDA_ARCHITECTURE}/{LAMBDA_RUNTIME}/{version}"


def powertools_environment(service: str) -> dict[str, str]:
    """The Powertools settings of the function ``service`` (its short name: the Logger's and Metrics' service)."""
    return {SERVICE_NAME_VARIABLE: service, LOG_LEVEL_VARIABLE: LOG_LEVEL, SAMPLE_RATE_VARIABLE: str(DEBUG_SAMPLE_RATE)}
