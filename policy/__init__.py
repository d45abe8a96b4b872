"""The guardrails policy pack: rules every stack of this program must pass, run by ``pulumi preview --policy-pack
policy`` (``__main__.py``) and offline over a mocks-harness run by ``policy.evaluate``.

Rules are grouped by concern (``encryption``, ``tls``, ``access``, ``protection``, ``iam``, ``observability``,
``multiregion``); ``core`` holds the rule model, ``pack`` lists every rule. Rule modules import only the standard
library and pulumi-policy (the CLI runs the pack in its own virtualenv); ``evaluate`` runs in the project's
environment and the pack never imports it. See docs/design/policy-pack.md.
"""
