"""Generated service passwords: Pulumi secrets from the random provider, never in config."""

from __future__ import annotations

import pulumi
import pulumi_random as random

PASSWORD_LENGTH = 32


def generated_password(name: str, allowed_specials: str, opts: pulumi.ResourceOptions) -> random.RandomPassword:
    """A 32-character password with at least one lower, upper, digit and special character, the specials
    limited to what the service accepts (``allowed_specials``). Its ``result`` is a Pulumi secret."""
    return random.RandomPassword(
        name,
        length=PASSWORD_LENGTH,
        special=True,
        override_special=allowed_specials,
        min_lower=1,
        min_upper=1,
        min_numeric=1,
        min_special=1,
        opts=opts,
    )
