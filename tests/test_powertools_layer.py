"""The Powertools public layer pinned in components/powertools.py: its ARN in every region the project can deploy to,
one layer version for the one package version the venv runs, and every function of the program carrying it."""

from __future__ import annotations

import re

import pytest
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.version import VERSION as INSTALLED_VERSION
from packaging.requirements import Requirement

from components.app_functions import function_names
from components.config import KNOWN_REGIONS
from components.packaging import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, ROOT
from components.powertools import (
    DEBUG_SAMPLE_RATE,
    LAYER_ACCOUNTS,
    LOG_LEVEL,
    LOG_LEVEL_VARIABLE,
    POWERTOOLS_LAYER_VERSION,
    POWERTOOLS_VERSION,
    SAMPLE_RATE_VARIABLE,
    SERVICE_NAME_VARIABLE,
    powertools_environment,
    powertools_layer_arn,
    powertools_layer_name,
    powertools_ssm_parameter,
)
from components.rotation import SERVICE as ROTATION
from components.runbook import RUNBOOK
from planning.harness import ProgramRun, stack_config
from tests.support.program import STACKS, THREE_REGIONS, ProgramRunner

FUNCTION = "aws:lambda/function:Function"
# The (package, layer version) pairs someone checked against a source, with it. A bump adds its pair here.
REVIEWED_LAYER_VERSIONS = {
    # https://github.com/aws-powertools/powertools-lambda-python/issues/7689 and pull/7757
    "3.23.0": 27,
}
HOW_TO_BUMP = (
    "bump together: requirements-dev.txt's aws-lambda-powertools pin, POWERTOOLS_VERSION and POWERTOOLS_LAYER_VERSION "
    "in components/powertools.py (the layer version that release was published as: its docs' layer table, or the "
    "Description of `aws lambda get-layer-version-by-arn`), and REVIEWED_LAYER_VERSIONS here with the source; "
    "then run `python -m ops preflight`, which asks AWS"
)
LAYER_NAME = f"AWSLambdaPowertoolsPythonV3-{LAMBDA_RUNTIME.replace('.', '')}-{LAMBDA_ARCHITECTURE}"


def _arn_pattern(partition: str, account: str, region: str) -> str:
    return rf"arn:{partition}:lambda:{re.escape(region)}:{account}:layer:{re.escape(LAYER_NAME)}:(\d+)"


def _deployable_regions() -> list[str]:
    """The regions the config accepts and those of the committed stacks."""
    return sorted({*KNOWN_REGIONS, *(region for stack in STACKS for region in stack_config(stack).region_names)})


def test_every_region_the_project_can_deploy_to_has_the_commercial_layer() -> None:
    for region in _deployable_regions():
        arn = powertools_layer_arn(region)
        match = re.fullmatch(_arn_pattern("aws", "017000801446", region), arn)
        assert match, f"{region}: {arn}"
        assert int(match[1]) == POWERTOOLS_LAYER_VERSION


def test_china_and_govcloud_have_their_own_partitions_and_accounts() -> None:
    for region, partition, account in (
        ("cn-north-1", "aws-cn", "498634801083"),
        ("us-gov-east-1", "aws-us-gov", "165087284144"),
        ("us-gov-west-1", "aws-us-gov", "165093116878"),
    ):
        assert re.fullmatch(_arn_pattern(partition, account, region), powertools_layer_arn(region)), region


def test_one_layer_version_in_every_region() -> None:
    versions = {powertools_layer_arn(region).rsplit(":", 1)[1] for region in LAYER_ACCOUNTS}
    assert versions == {str(POWERTOOLS_LAYER_VERSION)}


def test_a_region_without_a_layer_account_is_refused_naming_the_ones_there_are() -> None:
    with pytest.raises(ValueError, match=r"region 'ca-west-1': no Powertools public layer is known there; regions: af-south-1, "):
        powertools_layer_arn("ca-west-1")


def test_the_pinned_package_is_the_one_the_venv_runs() -> None:
    pins = [
        Requirement(line)
        for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-r"))
    ]
    powertools = [r for r in pins if r.name == "aws-lambda-powertools"]
    assert len(powertools) == 1, "requirements-dev.txt pins aws-lambda-powertools once"
    pinned = str(powertools[0].specifier)
    assert pinned == f"=={POWERTOOLS_VERSION}", (
        f"requirements-dev.txt pins {pinned}, components/powertools.py {POWERTOOLS_VERSION}: {HOW_TO_BUMP}"
    )
    assert INSTALLED_VERSION == POWERTOOLS_VERSION, (
        f"the venv runs Powertools {INSTALLED_VERSION}, the layer carries {POWERTOOLS_VERSION}: reinstall the venv "
        "(./run test --co) or, if the pin moved, " + HOW_TO_BUMP
    )


def test_the_layer_version_is_the_one_reviewed_for_the_package_version() -> None:
    assert POWERTOOLS_VERSION in REVIEWED_LAYER_VERSIONS, (
        f"POWERTOOLS_VERSION is {POWERTOOLS_VERSION}, whose layer version nobody recorded here: {HOW_TO_BUMP}"
    )
    assert REVIEWED_LAYER_VERSIONS[POWERTOOLS_VERSION] == POWERTOOLS_LAYER_VERSION, (
        f"Powertools {POWERTOOLS_VERSION} is layer version {REVIEWED_LAYER_VERSIONS[POWERTOOLS_VERSION]}, "
        f"components/powertools.py says {POWERTOOLS_LAYER_VERSION}: {HOW_TO_BUMP}"
    )


def test_runtime_and_architecture_come_from_packaging() -> None:
    assert powertools_layer_name() == LAYER_NAME == powertools_layer_name(LAMBDA_RUNTIME, LAMBDA_ARCHITECTURE)
    assert powertools_layer_name("python3.12", "x86_64") == "AWSLambdaPowertoolsPythonV3-python312-x86_64"
    assert powertools_ssm_parameter() == f"/aws/service/powertools/python/{LAMBDA_ARCHITECTURE}/{LAMBDA_RUNTIME}/3.23.0"
    assert powertools_ssm_parameter("latest").endswith(f"/{LAMBDA_RUNTIME}/latest")
    with pytest.raises(ValueError, match="architecture 'aarch64' is not one of x86_64, arm64"):
        powertools_layer_name(LAMBDA_RUNTIME, "aarch64")
    with pytest.raises(ValueError, match=r"'nodejs22\.x' is not a Python Lambda runtime"):
        powertools_layer_name("nodejs22.x")


def test_the_environment_uses_powertools_own_variables_and_valid_values() -> None:
    assert SERVICE_NAME_VARIABLE == constants.SERVICE_NAME_ENV
    assert LOG_LEVEL_VARIABLE == constants.POWERTOOLS_LOG_LEVEL_ENV
    assert SAMPLE_RATE_VARIABLE == constants.LOGGER_LOG_SAMPLING_RATE
    assert LOG_LEVEL in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    assert 0 < DEBUG_SAMPLE_RATE < 1
    assert powertools_environment("api") == {
        "POWERTOOLS_SERVICE_NAME": "api",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_LOGGER_SAMPLE_RATE": "0.01",
    }


def _assert_every_function_has_its_regions_layer(run: ProgramRun) -> None:
    expected_services = sorted([*function_names(), RUNBOOK, ROTATION])
    for region in run.region_order:
        functions = run.of_type(FUNCTION, region)
        services = sorted(f.inputs["environment"]["variables"]["POWERTOOLS_SERVICE_NAME"] for f in functions)
        assert services == expected_services, region
        for function in functions:
            assert function.inputs["layers"] == [powertools_layer_arn(region)], f"{region} {function.name}"
            assert f":{region}:" in function.inputs["layers"][0]


def test_every_function_of_the_program_has_the_layer_of_its_region(stack_run: ProgramRun) -> None:
    _assert_every_function_has_its_regions_layer(stack_run)
    first = stack_run.of_type(FUNCTION, "us-east-1")[0]
    assert first.inputs["layers"] == [f"arn:aws:lambda:us-east-1:017000801446:layer:{LAYER_NAME}:27"]


def test_a_third_region_gets_its_own_layer(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", **THREE_REGIONS)
    assert run.region_order == THREE_REGIONS["regions"]
    _assert_every_function_has_its_regions_layer(run)
