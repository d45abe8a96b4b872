"""Every rule of the pack, in one list: what ``__main__.py`` registers with the engine and ``evaluate`` runs offline."""

from __future__ import annotations

from pulumi_policy import Policy

from policy import access, encryption, iam, multiregion, observability, protection, tls
from policy.core import Rule

PACK_NAME = "multi-region-guardrails"
DESCRIPTION = (
    "Guardrails of the multi-region platform: encryption, TLS, public access, deletion protection, point-in-time "
    "recovery, backups, least-privilege IAM, logging, and every store and failover path in every region."
)

RULES: tuple[Rule, ...] = (
    *encryption.RULES,
    *tls.RULES,
    *access.RULES,
    *protection.RULES,
    *iam.RULES,
    *observability.RULES,
    *multiregion.RULES,
)


def policies() -> list[Policy]:
    """The pulumi-policy objects of every rule, for ``PolicyPack``."""
    return [rule.policy() for rule in RULES]
