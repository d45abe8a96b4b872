"""The guardrails policy pack: rules every stack of this program must pass, run by ``pulumi preview --policy-pack
policy`` (``__main__.py``) and offline over a mocks-harness run by ``policy.evaluate``.

The rules are grouped by concern: ``encryption`` (at rest), ``tls`` (in transit), ``access`` (public access and
network exposure), ``protection`` (deletion protection, point-in-time recovery, backups), ``iam`` (least
privilege), ``observability`` (logs and traces) and ``multiregion`` (every store in every region, failover
paths). ``core`` holds the rule model and the adapters to pulumi-policy; ``pack`` lists every rule.

The rule modules import only the standard library and pulumi-policy: the Pulumi CLI runs the pack in a
virtualenv of its own, built from ``policy/requirements.txt``, without the program's packages. ``evaluate`` is the
exception: it runs in the project's environment, over ``planning.harness`` runs, and the pack never imports it.
"""
