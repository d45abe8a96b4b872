"""The policy pack the Pulumi CLI runs: ``pulumi preview --policy-pack policy``.

The CLI runs this directory with ``python -m pulumi.policy``, which executes this file with the directory first on
``sys.path``. The rules are imported as the ``policy`` package instead (its parent directory first on the path),
so that the names of its modules can never shadow a library's. ``PolicyPack`` serves the rules to the engine and
does not return.
"""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

_PACK_DIR = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _PACK_DIR]
sys.path.insert(0, str(_PACK_DIR.parent))

from policy.pack import DESCRIPTION, PACK_NAME, policies  # noqa: E402 (needs the path set above)

PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=EnforcementLevel.MANDATORY, description=DESCRIPTION)
