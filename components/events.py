"""The application's events through EventBridge: a custom bus per region, and a global endpoint over two of them.

``RegionalEvents`` (under each RegionalStack): the bus ``<prefix>-items`` (one name in every region, as the endpoint
needs), a rule matching the application's events (``source`` the project, ``detail-type`` ``ItemWrite``) whose target is
the region's events queue with the region's events DLQ as its dead-letter queue, and both queues' policies admitting
that rule alone. ``EventsEndpoint`` (under the GlobalStack, the first region's provider): the global endpoint over the
primary's and a secondary's buses, routed by the primary's traffic gate, with event replication and its role.
Why each choice: docs/design/events.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.policies import Policy, allow_statement, assume_role_policy
from functions.shared.events import EVENT_DETAIL_TYPE

REPLICATION_ENABLED = "ENABLED"
# EventBridge's own defaults for an SQS target, written out so the policy pack and a reader see them: a day of retries.
TARGET_MAXIMUM_EVENT_AGE_SECONDS = 24 * 3600
TARGET_MAXIMUM_RETRY_ATTEMPTS = 185
EVENTS_PRINCIPAL = "events.amazonaws.com"


# ---- pure builders ---------------------------------------------------------------------------------------------------


def bus_name(name_prefix: str) -> str:
    """The custom bus of every region: a global endpoint needs the same name in both its regions.

    Example:
        >>> bus_name("multi-region-prod")
        'multi-region-prod-items'
    """
    return f"{name_prefix}-items"


def rule_name(name_prefix: str) -> str:
    """The rule on each region's bus that delivers the application's events to the region's queue."""
    return f"{name_prefix}-items-to-queue"


def endpoint_name(name_prefix: str) -> str:
    """The global endpoint's name (at most 64 of ``[.-_A-Za-z0-9]``)."""
    return f"{name_prefix}-items"


def event_pattern(project: str) -> str:
    """What the rule matches: events whose ``source`` is the project and whose ``detail-type`` is ``ItemWrite``.

    Example:
        >>> event_pattern("shop")
        '{"source": ["shop"], "detail-type": ["ItemWrite"]}'
    """
    return json.dumps({"source": [project], "detail-type": [EVENT_DETAIL_TYPE]})


def endpoint_regions(regions: Sequence[str], primary: str) -> tuple[str, str]:
    """The endpoint's two regions (a global endpoint spans exactly two): the primary, then the first other region in
    config order, which is also the first region when the primary is not, so the endpoint's home is one of its two.

    Raises
    ------
    ValueError
        Fewer than two regions, or the primary not among them.

    Example:
        >>> endpoint_regions(["us-east-1", "eu-west-1", "ap-southeast-2"], "eu-west-1")
        ('eu-west-1', 'us-east-1')
    """
    if len(regions) < 2 or primary not in regions:
        raise ValueError(f"a global endpoint needs two regions including the primary {primary!r}; got {list(regions)}")
    return primary, next(region for region in regions if region != primary)


def queue_send_policy(queue_arn: str, rule_arn: str) -> Policy:
    """A queue's policy: EventBridge may send to it only on behalf of ``rule_arn`` (``aws:SourceArn``)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RuleSendsEvents",
                "Effect": "Allow",
                "Principal": {"Service": EVENTS_PRINCIPAL},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }


def replication_policy(bus_arns: Sequence[str]) -> Policy:
    """The replication role's policy: put events on the endpoint's two buses, nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [allow_statement("ReplicateToEndpointBuses", ["events:PutEvents"], list(bus_arns))],
    }


# ---- the regional component ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionalEventsArgs:
    """Parameters
    ----------
    name_prefix: ``<project>-<stack>``: the bus and rule names start with it.
    project: the events' ``source`` the rule matches.
    events_queue: the region's events queue (the processor's), the rule's target.
    dead_letter_queue: the region's events DLQ: where EventBridge puts an event it could not deliver.
    """

    name_prefix: str
    project: str
    events_queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue


class RegionalEvents(pulumi.ComponentResource):
    """The region's bus, its rule and target, and the queue policies that admit the rule."""

    bus: aws.cloudwatch.EventBus
    rule: aws.cloudwatch.EventRule
    target: aws.cloudwatch.EventTarget
    queue_policies: list[aws.sqs.QueuePolicy]

    def __init__(self, name: str, args: RegionalEventsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:events:RegionalEvents", name, None, opts)
        self.bus = aws.cloudwatch.EventBus(
            f"{name}-bus",
            name=bus_name(args.name_prefix),
            description="The application's events; the global endpoint routes and replicates to it",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-rule",
            name=rule_name(args.name_prefix),
            event_bus_name=self.bus.name,
            event_pattern=event_pattern(args.project),
            description="The application's events to the region's events queue",
            opts=pulumi.ResourceOptions(parent=self.bus),
        )
        self.queue_policies = [
            aws.sqs.QueuePolicy(
                f"{name}-{suffix}-policy",
                queue_url=queue.url,
                policy=pulumi.Output.all(queue.arn, self.rule.arn).apply(lambda v: json.dumps(queue_send_policy(v[0], v[1]))),
                opts=pulumi.ResourceOptions(parent=self.rule),
            )
            for suffix, queue in (("queue", args.events_queue), ("dlq", args.dead_letter_queue))
        ]
        self.target = aws.cloudwatch.EventTarget(
            f"{name}-target",
            rule=self.rule.name,
            event_bus_name=self.bus.name,
            arn=args.events_queue.arn,
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=args.dead_letter_queue.arn),
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=TARGET_MAXIMUM_EVENT_AGE_SECONDS,
                maximum_retry_attempts=TARGET_MAXIMUM_RETRY_ATTEMPTS,
            ),
            # The queues must admit the rule before EventBridge first delivers.
            opts=pulumi.ResourceOptions(parent=self.rule, depends_on=self.queue_policies),
        )
        self.register_outputs({"bus_name": self.bus.name, "bus_arn": self.bus.arn, "rule_arn": self.rule.arn})


# ---- the global endpoint ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventsEndpointArgs:
    """Parameters
    ----------
    name_prefix: ``<project>-<stack>``.
    regions: the endpoint's two regions, primary first (``endpoint_regions``).
    buses: every region's bus by region name.
    primary_health_check_arn: the primary region's traffic gate: the endpoint routes to the secondary while it is
        unhealthy, so it moves with the traffic (docs/design/events.md).
    """

    name_prefix: str
    regions: tuple[str, str]
    buses: Mapping[str, aws.cloudwatch.EventBus]
    primary_health_check_arn: pulumi.Input[str]


class EventsEndpoint(pulumi.ComponentResource):
    """The global endpoint over two regions' buses with event replication, and the role replication uses."""

    replication_role: aws.iam.Role
    endpoint: aws.cloudwatch.EventEndpoint

    def __init__(self, name: str, args: EventsEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:events:EventsEndpoint", name, None, opts)
        secondary = args.regions[1]
        bus_arns = [args.buses[region].arn for region in args.regions]
        self.replication_role = aws.iam.Role(
            f"{name}-replication-role",
            description=f"EventBridge replication between the buses of the global endpoint {endpoint_name(args.name_prefix)}",
            # Only on behalf of this account (the confused-deputy condition).
            assume_role_policy=aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id.apply(
                lambda account: json.dumps(assume_role_policy(EVENTS_PRINCIPAL, account))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        replication = aws.iam.RolePolicy(
            f"{name}-replication-policy",
            role=self.replication_role.id,
            # Sorted: a new primary in config between the same two regions leaves the policy as it is.
            policy=pulumi.Output.all(*bus_arns).apply(lambda arns: json.dumps(replication_policy(sorted(arns)))),
            opts=pulumi.ResourceOptions(parent=self.replication_role),
        )
        self.endpoint = aws.cloudwatch.EventEndpoint(
            f"{name}-endpoint",
            name=endpoint_name(args.name_prefix),
            description="The application's events: the primary region's bus while its traffic gate is healthy, else the other",
            event_buses=[aws.cloudwatch.EventEndpointEventBusArgs(event_bus_arn=arn) for arn in bus_arns],
            routing_config=aws.cloudwatch.EventEndpointRoutingConfigArgs(
                failover_config=aws.cloudwatch.EventEndpointRoutingConfigFailoverConfigArgs(
                    primary=aws.cloudwatch.EventEndpointRoutingConfigFailoverConfigPrimaryArgs(
                        health_check=args.primary_health_check_arn
                    ),
                    secondary=aws.cloudwatch.EventEndpointRoutingConfigFailoverConfigSecondaryArgs(route=secondary),
                )
            ),
            replication_config=aws.cloudwatch.EventEndpointReplicationConfigArgs(state=REPLICATION_ENABLED),
            role_arn=self.replication_role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[replication]),
        )
        self.regions, self.bus_name = args.regions, bus_name(args.name_prefix)
        self.register_outputs({"endpoint_arn": self.endpoint.arn, "endpoint_url": self.endpoint.endpoint_url})

    @property
    def outputs(self) -> dict[str, object]:
        """The stack's ``eventsEndpoint`` output: the endpoint a producer sends ``PutEvents`` through (``EndpointId`` is
        its URL's host without ``.endpoints.event.amazonaws.com``), the bus to name, and the endpoint's regions."""
        return {
            "name": self.endpoint.name,
            "url": self.endpoint.endpoint_url,
            "busName": self.bus_name,
            "regions": list(self.regions),
        }
