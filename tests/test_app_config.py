"""The runtime-settings parameter (components/app_config.py) under the mocks: one per region, the same document from
the stack's one config section, a standard-tier SecureString under the region's key; a change of a runtime setting
changes those parameters and nothing else; the config keys refuse bad values naming the key and what is allowed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.app_config import parameter_document, parameter_name, runtime_settings
from components.config import ConfigError
from functions.shared.app_config import STANDARD_TIER_LIMIT_BYTES, RuntimeSettings, document_size_problem
from functions.shared.settings import Settings
from planning.harness import ProgramRun, Resource, read_project, stack_config
from planning.tfplan import SECRET_SIG, SECRET_SIG_KEY
from tests.support.mock_ids import mock_arn
from tests.support.program import ProgramRunner

PARAMETER = "aws:ssm/parameter:Parameter"
KEY = "aws:kms/key:Key"
REGIONAL_STACK = "multi-region:regional:RegionalStack"


def _ancestors(run: ProgramRun, urn: str | None) -> list[str]:
    types = []
    while urn:
        resource = run.by_urn(urn)
        types.append(resource.type)
        urn = resource.parent
    return types


def _parameter(run: ProgramRun, region: str) -> Resource:
    assert run.config is not None
    (found,) = [
        p for p in run.of_type(PARAMETER, region) if p.inputs["name"] == parameter_name(run.config.project, run.config.stack)
    ]
    return found


def _value(parameter: Resource) -> str:
    value = parameter.inputs["value"]
    # The provider marks a parameter's value secret: the engine receives it in Pulumi's secret wrapper.
    assert value.get(SECRET_SIG_KEY) == SECRET_SIG, "the parameter's value is a secret"
    return str(value["value"])


def test_every_region_has_the_parameter_with_the_same_document_under_its_own_key(stack_run: ProgramRun) -> None:
    config = stack_run.config
    assert config is not None
    values = set()
    for region in stack_run.regions():
        parameter = _parameter(stack_run, region)
        (key,) = [k for k in stack_run.of_type(KEY, region) if k.name == f"{region}-kms-key"]
        assert parameter.inputs["name"] == parameter_name(config.project, config.stack)
        assert (parameter.inputs["type"], parameter.inputs["tier"]) == ("SecureString", "Standard")
        assert parameter.inputs["keyId"] == mock_arn(key)
        assert REGIONAL_STACK in _ancestors(stack_run, parameter.parent), "under its region's RegionalStack"
        values.add(_value(parameter))
    assert values == {parameter_document(config.app)}
    assert RuntimeSettings.from_document(json.loads(values.pop())) == runtime_settings(config.app)


def test_changing_a_runtime_setting_changes_the_parameters_and_nothing_else(run_stack: ProgramRunner) -> None:
    before = run_stack("dev")
    after = run_stack("dev", cacheTtlSeconds=900, negativeCacheTtlSeconds=30, maxClockSkewSeconds=60, featureFlags=[])
    changed = {r.urn for r in after.resources} ^ {r.urn for r in before.resources}
    assert not changed, "the same resources"
    inputs = {r.urn: r.inputs for r in before.resources}
    differ = sorted(r.type for r in after.resources if r.inputs != inputs[r.urn])
    assert differ == [PARAMETER] * len(after.regions())
    for region in after.regions():
        document = json.loads(_value(_parameter(after, region)))
        assert RuntimeSettings.from_document(document) == RuntimeSettings(900, 30, 60, frozenset())


def test_a_document_over_the_standard_tiers_4_kb_is_refused() -> None:
    assert document_size_problem("x" * STANDARD_TIER_LIMIT_BYTES) is None
    assert document_size_problem("é" * (STANDARD_TIER_LIMIT_BYTES // 2 + 1)) == (
        "the document has 4098 bytes; a standard-tier parameter takes at most 4096"
    )
    # The largest document the config can ask for is far inside the limit.
    config = stack_config("prod", {"cacheTtlSeconds": 86400, "negativeCacheTtlSeconds": 300, "maxClockSkewSeconds": 3600})
    assert len(parameter_document(config.app).encode()) < STANDARD_TIER_LIMIT_BYTES // 10


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"featureFlags": ["cacheReads", "fastPath"]}, "featureFlags: got ['cacheReads', 'fastPath']; allowed: a list of "),
        ({"featureFlags": ["fastPath"]}, "distinct feature flags from: cacheReads (unknown fastPath)"),
        ({"featureFlags": ["cacheReads", "cacheReads"]}, "distinct feature flags from: cacheReads (twice: cacheReads)"),
        ({"featureFlags": "cacheReads"}, "featureFlags: got 'cacheReads'; allowed: a YAML list of strings"),
        ({"negativeCacheTtlSeconds": 0}, "negativeCacheTtlSeconds: got 0; allowed: from 1 to 300"),
        ({"appConfigMaxAgeSeconds": 5}, "appConfigMaxAgeSeconds: got 5; allowed: from 10 to 3600"),
        ({"appConfigMaxAgeSeconds": "soon"}, "appConfigMaxAgeSeconds: got 'soon'; allowed: a whole number, from 10 to 3600"),
    ],
)
def test_bad_runtime_settings_are_refused_naming_the_key_and_what_is_allowed(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        stack_config("dev", overrides)
    assert fragment in str(raised.value)


def test_the_functions_defaults_before_a_read_are_the_declared_defaults() -> None:
    """What a container uses before its first read succeeds (``Settings``' defaults) is what Pulumi.yaml declares."""
    declared = read_project().defaults
    assert RuntimeSettings.of(Settings(region="us-east-1", table_name="t")) == RuntimeSettings(
        int(declared["cacheTtlSeconds"]),
        int(declared["negativeCacheTtlSeconds"]),
        int(declared["maxClockSkewSeconds"]),
        frozenset(declared["featureFlags"]),
    )
