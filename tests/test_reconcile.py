"""The reconcile after a failover (docs/failover.md): with the new primary in config, the plan replaces nothing.

After the runbook moves the writer (Aurora, the state record, traffic), the operator sets ``primaryRegion`` to the new
region and runs ``pulumi preview``, then ``pulumi up``. That preview must show in-place updates only: every resource
keeps its name (so its URN), and every input that differs between the two plans is either in the resource's
``ignore_changes`` (the runbook or AWS owns it now) or one of the fields below, each of which AWS updates in place.
"""

from __future__ import annotations

import pytest

from planning.harness import ProgramRun
from tests.support.program import THREE_REGIONS, ProgramRunner

# (resource type, input) that may differ when the primary moves, and why it is an in-place update.
IN_PLACE: dict[tuple[str, str], str] = {
    ("aws:route53/record:Record", "healthCheckId"): "records are named by role; PRIMARY now carries the new primary's check",
    ("aws:route53/record:Record", "records"): "PRIMARY now answers with the new primary's API; a record set updates in place",
    ("aws:route53/record:Record", "aliases"): "the same, for alias records",
    ("aws:cloudfront/distribution:Distribution", "origins"): "the new primary's bucket becomes the first origin",
    ("aws:cloudfront/distribution:Distribution", "originGroups"): "the origin group's primary member follows",
    ("aws:cloudfront/distribution:Distribution", "comment"): "the comment names the primary region",
    ("aws:s3/bucketPolicy:BucketPolicy", "policy"): "with 3+ regions, which two buckets admit the distribution moves",
    ("aws:backup/plan:Plan", "rules"): "with 3+ regions, a backup copy goes to the primary's vault: a plan's rules update",
    ("aws:cloudwatch/eventEndpoint:EventEndpoint", "eventBuses"): "the events endpoint's primary bus is the new primary's; "
    "EventBridge updates an endpoint's buses in place (UpdateEndpoint)",
    ("aws:cloudwatch/eventEndpoint:EventEndpoint", "routingConfig"): "its health check is the new primary's gate: the same",
    ("aws:iam/rolePolicy:RolePolicy", "policy"): "with 3+ regions, the endpoint's pair moves and its replication role names "
    "the pair's buses",
}


def differences(before: ProgramRun, after: ProgramRun) -> set[tuple[str, str]]:
    """(type, input) pairs that differ between two runs and are not ignored by the resource."""
    later = {r.urn: r for r in after.resources}
    found: set[tuple[str, str]] = set()
    for resource in before.resources:
        other = later[resource.urn]
        for key in set(resource.inputs) | set(other.inputs):
            if resource.inputs.get(key) != other.inputs.get(key) and key not in resource.ignore_changes:
                found.add((resource.type, key))
    return found


@pytest.mark.parametrize(
    ("stack", "overrides", "new_primary"),
    [
        ("prod", {}, "eu-west-1"),
        ("dev", {}, "eu-west-1"),
        ("prod", THREE_REGIONS, "ap-southeast-2"),
    ],
)
def test_moving_the_primary_in_config_replaces_nothing(
    run_stack: ProgramRunner, stack: str, overrides: dict[str, object], new_primary: str
) -> None:
    before = run_stack(stack, **overrides)
    after = run_stack(stack, **overrides, primaryRegion=new_primary)
    assert after.error is None and before.error is None
    assert {r.urn for r in before.resources} == {r.urn for r in after.resources}, "a resource would be created or deleted"
    unexplained = differences(before, after) - set(IN_PLACE)
    assert not unexplained, f"inputs that would change with no in-place reason: {sorted(unexplained)}"
    later = {r.urn: r for r in after.resources}
    for resource in before.resources:
        assert resource.ignore_changes == later[resource.urn].ignore_changes, resource.urn


def test_the_check_sees_a_change_that_would_replace() -> None:
    """The comparison itself: a changed, non-ignored input outside the list is reported."""
    from planning.harness import Resource

    def run(engine: str) -> ProgramRun:
        resource = Resource("urn:a", "aws:rds/cluster:Cluster", "a", True, {"engine": engine}, None, None)
        return ProgramRun("prod", False, [resource], {})

    assert differences(run("aurora-postgresql"), run("aurora-mysql")) == {("aws:rds/cluster:Cluster", "engine")}
