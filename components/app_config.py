"""The application's runtime configuration in each region: one SSM parameter, written from the stack's config.

Every region gets the same document (``functions.shared.app_config.RuntimeSettings``: cache TTLs, skew limit, feature
flags) from the one ``AppConfig`` section, as a standard-tier SecureString under the region's key; the functions read
it with caching (``APP_CONFIG_MAX_AGE_SECONDS``). A change of a runtime setting updates these parameters and nothing
else: no function is redeployed. Why: docs/design/app-config.md.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.config import AppConfig
from components.policies import Policy, allow_statement
from functions.shared.app_config import (
    MAX_AGE_VARIABLE,
    PARAMETER_VARIABLE,
    RuntimeSettings,
    document_size_problem,
)

PARAMETER_LEAF = "app-config"
# The stack's SSM parameters (this one and the runbook's topology, components/runbook.py): free, up to 4 KB, under the
# region's key.
SSM_TIER = "Standard"
SSM_TYPE = "SecureString"


def parameter_name(project: str, stack: str) -> str:
    """The parameter's name, the same in every region.

    Example:
        >>> parameter_name("multi-region", "prod")
        '/multi-region/prod/app-config'
    """
    return f"/{project}/{stack}/{PARAMETER_LEAF}"


def parameter_arn(partition: str, region: str, account_id: str, name: str) -> str:
    """A parameter's ARN (a name starting with ``/`` gives one ``/`` after ``parameter``).

    Example:
        >>> parameter_arn("aws", "eu-west-1", "123456789012", "/multi-region/prod/app-config")
        'arn:aws:ssm:eu-west-1:123456789012:parameter/multi-region/prod/app-config'
    """
    return f"arn:{partition}:ssm:{region}:{account_id}:parameter/{name.lstrip('/')}"


def runtime_settings(app: AppConfig) -> RuntimeSettings:
    """The runtime settings the stack's ``AppConfig`` asks for."""
    return RuntimeSettings(
        cache_ttl_seconds=app.cache_ttl_seconds,
        negative_cache_ttl_seconds=app.negative_cache_ttl_seconds,
        max_clock_skew_seconds=app.max_clock_skew_seconds,
        feature_flags=frozenset(app.feature_flags),
    )


def parameter_document(app: AppConfig) -> str:
    """The parameter's value for ``app``.

    Raises
    ------
    ValueError
        The document is larger than a standard-tier parameter takes (4 KB).
    """
    document = runtime_settings(app).to_document()
    problem = document_size_problem(document)
    if problem:
        raise ValueError(f"app config parameter: {problem}")
    return document


def parameter_environment(name: str, app: AppConfig) -> dict[str, str]:
    """What a function needs to read the parameter: its name and how long to keep a value."""
    return {PARAMETER_VARIABLE: name, MAX_AGE_VARIABLE: str(app.app_config_max_age_seconds)}


def parameter_read_statements(arn: str, key_arn: str, region: str) -> list[Policy]:
    """Reading the one parameter, and decrypting it with the region's key only through SSM of this region and only
    for this parameter (SSM sets the parameter's ARN as the encryption context)."""
    return [
        allow_statement("AppConfigRead", ["ssm:GetParameter"], [arn]),
        allow_statement(
            "AppConfigKeyThroughSsm",
            ["kms:Decrypt"],
            [key_arn],
            {"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com", "kms:EncryptionContext:PARAMETER_ARN": arn}},
        ),
    ]


def runtime_settings_parameter(
    resource_name: str, name: str, app: AppConfig, key_arn: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> aws.ssm.Parameter:
    """The region's parameter (``opts`` carries its parent, and through it the region's provider)."""
    return aws.ssm.Parameter(
        resource_name,
        name=name,
        description="Runtime settings of the application's functions, written by the stack (docs/design/app-config.md)",
        type=SSM_TYPE,
        tier=SSM_TIER,
        key_id=key_arn,
        value=parameter_document(app),
        opts=opts,
    )
