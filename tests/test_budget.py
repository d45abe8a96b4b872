"""The resilience budget: the RTO arithmetic, each data store's RPO, and the check against rtoSeconds/rpoSeconds."""

from __future__ import annotations

import dataclasses
import math

import pytest

from functions.shared.state_cache import FENCE_SETTLE_SECONDS, STATE_CACHE_SECONDS
from planning.budget import (
    AURORA_PROMOTION_SECONDS,
    AURORA_REPLICATION_LAG_SECONDS,
    DYNAMODB_REPLICATION_SECONDS,
    MEMORYDB_MULTI_REGION_SECONDS,
    PLANNED,
    ROUTE53_PROPAGATION_SECONDS,
    UNPLANNED,
    Budget,
    Overrun,
    StoreFacts,
    StoreRpo,
    TrafficSettings,
    budget_markdown,
    budget_of,
    detection_seconds,
    render_budget,
    rto_scenarios,
    store_facts,
    store_rpos,
)
from planning.harness import ProgramRun
from tests.support.program import THREE_REGIONS, ProgramRunner

PROD_TRAFFIC = TrafficSettings(
    health_checks_enabled=True,
    interval_seconds=10,
    failure_threshold=3,
    dns_ttl_seconds=60,
    drain_timeout_seconds=300,
    traffic_control="healthCheckGate",
)
REPLICATED = StoreFacts(
    s3_rules=(900.0, 900.0), table_replicas=1, aurora_members=2, secret_replicas=1, memorydb=True, app_config_copies=1
)


def test_detection_is_the_interval_times_the_failure_threshold() -> None:
    assert detection_seconds(10, 3) == 30
    assert detection_seconds(30, 3) == 90
    assert detection_seconds(30, 10) == 300


def test_rto_is_the_sum_of_its_terms_and_only_an_unplanned_failover_waits_for_detection() -> None:
    planned, unplanned = rto_scenarios(PROD_TRAFFIC)
    assert (planned.scenario, unplanned.scenario) == (PLANNED, UNPLANNED)
    runbook = FENCE_SETTLE_SECONDS + 300 + AURORA_PROMOTION_SECONDS + ROUTE53_PROPAGATION_SECONDS + STATE_CACHE_SECONDS
    assert planned.total == runbook + 60
    assert unplanned.total == 30 + runbook + 60
    assert [t.name for t in unplanned.terms] == [
        "detection",
        "fence settle",
        "drain (bound)",
        "Aurora promotion",
        "traffic shift",
        "activation",
        "DNS caches",
    ]
    assert [t.name for t in planned.terms] == [t.name for t in unplanned.terms][1:]
    sources = {t.name: t.source for t in unplanned.terms}
    assert sources["detection"] == "healthCheckIntervalSeconds 10 x healthCheckFailureThreshold 3"
    assert sources["drain (bound)"] == "failoverDrainTimeoutSeconds"
    assert sources["DNS caches"] == "dnsTtlSeconds"
    assert sources["fence settle"] == "functions.shared.state_cache.FENCE_SETTLE_SECONDS"
    assert "healthCheckGate" in sources["traffic shift"]


def test_each_setting_moves_its_term() -> None:
    slow = dataclasses.replace(
        PROD_TRAFFIC, interval_seconds=30, failure_threshold=5, dns_ttl_seconds=10, drain_timeout_seconds=60
    )
    planned, unplanned = rto_scenarios(slow)
    base_planned, base_unplanned = rto_scenarios(PROD_TRAFFIC)
    assert planned.total == base_planned.total - 240 - 50
    assert unplanned.total == base_unplanned.total - 240 - 50 + 120


def test_without_health_checks_nothing_detects_an_outage() -> None:
    planned, unplanned = rto_scenarios(dataclasses.replace(PROD_TRAFFIC, health_checks_enabled=False))
    assert math.isinf(unplanned.total) and math.isfinite(planned.total)
    assert "healthChecksEnabled is false" in unplanned.terms[0].source


def rows(facts: StoreFacts) -> dict[str, StoreRpo]:
    return {row.store: row for row in store_rpos(facts)}


def test_each_store_row_when_everything_replicates() -> None:
    found = rows(REPLICATED)
    assert list(found) == [
        "DynamoDB global table",
        "Aurora global database",
        "S3 buckets",
        "Secrets Manager replicas",
        "SSM runtime settings",
        "MemoryDB",
    ]
    table, aurora, s3 = found["DynamoDB global table"], found["Aurora global database"], found["S3 buckets"]
    assert (table.planned, table.unplanned) == (0.0, DYNAMODB_REPLICATION_SECONDS)
    assert (aurora.planned, aurora.unplanned) == (0.0, AURORA_REPLICATION_LAG_SECONDS)
    assert (s3.planned, s3.unplanned) == (0.0, 900.0)
    assert "replication time control on all 2 rules" in s3.basis
    for cache_or_config in ("Secrets Manager replicas", "SSM runtime settings", "MemoryDB"):
        assert (found[cache_or_config].planned, found[cache_or_config].unplanned) == (None, None)
    assert "a cache" in found["MemoryDB"].basis
    assert "as old as the last deploy" in found["SSM runtime settings"].basis


def test_a_multi_region_cache_shows_its_replication_lag_as_a_cache() -> None:
    found = rows(dataclasses.replace(REPLICATED, memorydb_members=2))
    assert list(found)[-1] == "MemoryDB Multi-Region" and "MemoryDB" not in found
    cache = found["MemoryDB Multi-Region"]
    assert (cache.planned, cache.unplanned) == (MEMORYDB_MULTI_REGION_SECONDS, MEMORYDB_MULTI_REGION_SECONDS) == (1.0, 1.0)
    assert "a cache, not a store of record" in cache.basis and "refills from the global table" in cache.basis


def test_store_facts_count_the_members_of_a_multi_region_cache(run_stack: ProgramRunner) -> None:
    facts = store_facts(run_stack("prod", cacheTopology="multiRegion", memorydbNodeType="db.r7g.xlarge"))
    assert facts == dataclasses.replace(store_facts(run_stack("prod")), memorydb_members=2)


def test_what_does_not_replicate_has_no_bound() -> None:
    lone = StoreFacts(s3_rules=(), table_replicas=0, aurora_members=1, secret_replicas=0, memorydb=False)
    found = rows(lone)
    for store in ("DynamoDB global table", "Aurora global database", "S3 buckets", "Secrets Manager replicas"):
        assert found[store].planned == found[store].unplanned == math.inf
        assert "a regional outage takes" in found[store].basis
    assert "MemoryDB" not in found and "SSM runtime settings" not in found
    one_region = rows(dataclasses.replace(lone, app_config_copies=0))["SSM runtime settings"]
    assert one_region.planned == one_region.unplanned == math.inf


def test_an_s3_rule_without_replication_time_control_is_unbounded() -> None:
    s3 = rows(dataclasses.replace(REPLICATED, s3_rules=(900.0, None)))["S3 buckets"]
    assert s3.planned == 0.0 and s3.unplanned == math.inf
    assert "without replication time control" in s3.basis


def budget(rto: int, rpo: int, facts: StoreFacts = REPLICATED) -> Budget:
    return Budget(rto, rpo, rto_scenarios(PROD_TRAFFIC), store_rpos(facts))


def test_a_budget_equal_to_its_target_is_within_it() -> None:
    unplanned = rto_scenarios(PROD_TRAFFIC)[1].total
    assert budget(math.ceil(unplanned), 900).overruns() == []
    assert [o.subject for o in budget(math.ceil(unplanned) - 1, 900).overruns()] == [f"{UNPLANNED} RTO"]


def test_overruns_name_the_key_the_target_and_the_budget() -> None:
    found = budget(60, 0).overruns()
    planned, unplanned = rto_scenarios(PROD_TRAFFIC)
    assert found[:2] == [
        Overrun("rtoSeconds", 60, planned.total, f"{PLANNED} RTO"),
        Overrun("rtoSeconds", 60, unplanned.total, f"{UNPLANNED} RTO"),
    ]
    assert [(o.key, o.subject) for o in found[2:]] == [
        ("rpoSeconds", f"DynamoDB global table {UNPLANNED} RPO"),
        ("rpoSeconds", f"Aurora global database {UNPLANNED} RPO"),
        ("rpoSeconds", f"S3 buckets {UNPLANNED} RPO"),
    ], "a store without an RPO is never over; a planned switchover loses nothing"
    assert found[4].message() == "rpoSeconds: the S3 buckets unplanned failover RPO budget is 900 s, over the target of 0 s"
    unbounded = budget(900, 900, dataclasses.replace(REPLICATED, s3_rules=(None,))).overruns()
    assert [o.message() for o in unbounded] == [
        "rpoSeconds: the S3 buckets unplanned failover RPO budget is unbounded, over the target of 900 s"
    ]


def test_the_shipped_stacks_fit_their_targets(stack_run: ProgramRun) -> None:
    """prod and dev with the shipped config (rtoSeconds and rpoSeconds 900): within budget, and the numbers are the
    config's, term by term."""
    assert stack_run.config is not None
    config = stack_run.config
    found = budget_of(stack_run)
    assert (found.rto_target, found.rpo_target) == (config.failover.rto_seconds, config.failover.rpo_seconds) == (900, 900)
    assert found.overruns() == []
    planned, unplanned = found.rto
    runbook = FENCE_SETTLE_SECONDS + config.failover.drain_timeout_seconds + AURORA_PROMOTION_SECONDS
    runbook += ROUTE53_PROPAGATION_SECONDS + STATE_CACHE_SECONDS + config.routing.dns_ttl_seconds
    detection = config.edge.health_check_interval_seconds * config.edge.health_check_failure_threshold
    assert (planned.total, unplanned.total) == (runbook, runbook + detection)
    assert {"prod": (741, 771), "dev": (711, 801)}[stack_run.stack] == (planned.total, unplanned.total)
    assert store_facts(stack_run) == dataclasses.replace(REPLICATED, event_replication=True)


def test_store_facts_follow_the_regions(run_stack: ProgramRunner) -> None:
    facts = store_facts(run_stack("prod", **THREE_REGIONS, routingMode="failover"))
    assert facts == StoreFacts(
        s3_rules=(900.0,) * 6,
        table_replicas=2,
        aurora_members=3,
        secret_replicas=2,
        memorydb=True,
        event_replication=True,
        app_config_copies=2,
    )


def test_a_run_without_config_has_no_budget(stack_run: ProgramRun) -> None:
    with pytest.raises(ValueError, match="no stack config"):
        budget_of(dataclasses.replace(stack_run, config=None))


def test_the_table_and_the_markdown_show_every_term_store_and_overrun() -> None:
    within, over = budget(900, 900), budget(60, 900)
    text = render_budget(within)
    assert text[0] == "Resilience budget (targets: rtoSeconds 900, rpoSeconds 900)"
    assert text[1].split() == ["RTO", "term", "planned", "switchover", "unplanned", "failover", "source"]
    assert text[2].split()[:3] == ["detection", "-", "30"]
    assert any(line.split()[:4] == ["total", "741", "s", "ok"] for line in text)
    assert any(line.split()[:3] == ["MemoryDB", "no", "RPO"] for line in text)
    assert text[-1] == "  every budget is within its target"
    assert render_budget(over)[-2:] == [f"  OVER: {o.message()}" for o in over.overruns()]
    markdown = budget_markdown(over)
    assert "| **total** | **741 s OVER** | **771 s OVER** | |" in markdown
    assert "| S3 buckets | 0 s ok | 900 s ok |" in "\n".join(markdown)
    assert markdown[-1] == f"- **over**: {over.overruns()[-1].message()}"
