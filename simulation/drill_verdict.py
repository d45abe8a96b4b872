"""The drill's verdict: what the history of a drill run must show, as plain functions over plain data.

An event is *acknowledged* once a processor decided it (applied, or stale under last-writer-wins), not on a 202; it
is *reflected* in a region when the region's item holds it or a later event of the total order. :func:`verdict`
checks the planned switchover (0 missing), the unplanned failover (missing only within the replication window),
healing (0 lost), duplicates applied at most once (a re-send whose original the failover lost is counted apart),
regions equal and caches coherent after healing. Each check in full: docs/design/drill.md.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

APPLIED = "applied"
STALE = "stale"


@dataclass(frozen=True)
class Ack:
    """A processor's decision on an event: ``applied`` or ``stale``, where and when (simulated epoch ms)."""

    key: str
    item_id: str
    order_token: str
    region: str
    at_ms: int
    kind: str


@dataclass(frozen=True)
class Activation:
    """A runbook run's activation of its target, with the target's items (id -> OrderToken) at that moment."""

    name: str
    planned: bool
    source: str
    target: str
    at_ms: int
    target_tokens: Mapping[str, str]
    outage_ms: int | None = None  # when the source went down (unplanned)


@dataclass(frozen=True)
class History:
    """What a drill run recorded (the input of :func:`verdict`).

    Parameters
    ----------
    acks: every applied or stale decision (a key has one per delivery that decided it).
    activations: the runbook runs that completed, in order.
    expected_activations: (name, planned) of every run the scenario started (one that did not complete fails its check).
    final_records: region -> record id -> the record (plain JSON) after healing.
    served: region -> item id -> the body ``GET /items/{id}`` served after healing (None: 404).
    window_ms: the replication window of the unplanned failover.
    reads_checked, older_reads: how many reads during the run were compared with their region's table, and those that
        served an older version (``region:item@ms``; simulation.drill_reads).
    """

    acks: Sequence[Ack]
    activations: Sequence[Activation]
    expected_activations: Sequence[tuple[str, bool]]
    final_records: Mapping[str, Mapping[str, Mapping[str, Any]]]
    served: Mapping[str, Mapping[str, Any]]
    window_ms: int
    public_attributes: Sequence[str] = field(default=("Id", "Data", "Version", "Timestamp", "LastUpdatedRegion"))
    reads_checked: int = 0
    older_reads: Sequence[str] = ()


EXAMPLES = 10  # keys a failed check names


@dataclass(frozen=True)
class Check:
    """One line of the verdict: what was checked, the number found, whether it holds, and the keys behind it."""

    name: str
    value: int
    passed: bool
    summary: str
    examples: tuple[str, ...] = ()

    @classmethod
    def of_found(cls, name: str, found: Sequence[str], summary: str) -> Check:
        """A check that holds when nothing was ``found``; the first few found are its examples."""
        return cls(name, len(found), not found, summary, tuple(found[:EXAMPLES]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "passed": self.passed,
            "summary": self.summary,
            "examples": list(self.examples),
        }


def first_acks(acks: Sequence[Ack]) -> dict[str, Ack]:
    """The earliest decision per key."""
    first: dict[str, Ack] = {}
    for ack in sorted(acks, key=lambda a: a.at_ms):
        first.setdefault(ack.key, ack)
    return first


def reflected(tokens: Mapping[str, str], ack: Ack) -> bool:
    """The region (``tokens``: item id -> OrderToken) holds the event or a later one of the total order."""
    return tokens.get(ack.item_id, "") >= ack.order_token


def missing_at(activation: Activation, acks: Sequence[Ack]) -> list[Ack]:
    """Events acknowledged before the activation and not reflected in the target then, oldest first."""
    return sorted(
        (
            ack
            for ack in first_acks(acks).values()
            if ack.at_ms <= activation.at_ms and not reflected(activation.target_tokens, ack)
        ),
        key=lambda ack: ack.at_ms,
    )


def item_tokens(records: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Item id -> OrderToken of a region's records (the table's own records have no order token)."""
    return {
        record_id: str(record["OrderToken"])
        for record_id, record in records.items()
        if "OrderToken" in record and "#" not in record_id
    }


def verdict(history: History) -> list[Check]:
    """Every check of the module notes, in order."""
    acks = history.acks
    by_name = {activation.name: activation for activation in history.activations}
    return [
        *(
            _planned(name, by_name.get(name), acks) if planned else _unplanned(name, by_name.get(name), acks, history.window_ms)
            for name, planned in history.expected_activations
        ),
        _lost_after_healing(history),
        _applied_twice(history),
        _differing(history),
        _stale_reads(history),
        Check.of_found(
            "reads older than their region's table during the run",
            list(history.older_reads),
            f"{len(history.older_reads)} of {history.reads_checked} reads through the APIs served a version older than the "
            "region's table held at that moment",
        ),
    ]


def passed(checks: Sequence[Check]) -> bool:
    return all(check.passed for check in checks)


def _planned(name: str, activation: Activation | None, acks: Sequence[Ack]) -> Check:
    title = f"acknowledged writes lost at the {name}"
    if activation is None:
        return Check(title, -1, False, f"the {name} did not complete: nothing to check")
    missing = missing_at(activation, acks)
    return Check.of_found(
        title,
        [ack.key for ack in missing],
        f"{len(missing)} of {_count_before(acks, activation)} acknowledged writes missing in {activation.target} "
        "when it was activated",
    )


def _unplanned(name: str, activation: Activation | None, acks: Sequence[Ack], window_ms: int) -> Check:
    title = f"acknowledged writes missing at the {name}"
    if activation is None or activation.outage_ms is None:
        return Check(title, -1, False, f"the {name} did not complete (or its outage was not recorded): nothing to check")
    missing = missing_at(activation, acks)
    outage = activation.outage_ms
    outside = [ack for ack in missing if not outage - window_ms < ack.at_ms <= outage]
    oldest = max((outage - ack.at_ms for ack in missing), default=0)
    summary = (
        f"{len(missing)} acknowledged in {activation.source} were missing in {activation.target} when it was activated; "
        + (
            f"all acknowledged in the last {oldest} ms before the outage (the replication window is {window_ms} ms)"
            if not outside
            else f"{len(outside)} of them acknowledged outside the last {window_ms} ms before the outage: "
            "a loss the lag does not explain"
        )
    )
    return Check(title, len(missing), not outside, summary, tuple(ack.key for ack in (outside or missing)[:EXAMPLES]))


def _count_before(acks: Sequence[Ack], activation: Activation) -> int:
    return sum(1 for ack in first_acks(acks).values() if ack.at_ms <= activation.at_ms)


def _lost_after_healing(history: History) -> Check:
    tokens = {region: item_tokens(records) for region, records in history.final_records.items()}
    lost = sorted(
        {ack.key for ack in first_acks(history.acks).values() for region in tokens if not reflected(tokens[region], ack)}
    )
    return Check.of_found(
        "acknowledged writes lost after healing",
        lost,
        f"{len(lost)} of {len(first_acks(history.acks))} acknowledged writes not reflected in every region",
    )


def _applied_twice(history: History) -> Check:
    applied: dict[str, list[Ack]] = defaultdict(list)
    for ack in history.acks:
        if ack.kind == APPLIED:
            applied[ack.key].append(ack)
    explained: set[str] = set()
    for activation in history.activations:
        if activation.planned:
            continue
        lost_keys = {ack.key for ack in missing_at(activation, history.acks)}
        for key in lost_keys:
            later = [ack for ack in applied.get(key, []) if ack.region == activation.target and ack.at_ms > activation.at_ms]
            if len(applied.get(key, [])) == 2 and len(later) == 1:
                explained.add(key)
    twice = sorted(key for key, decisions in applied.items() if len(decisions) > 1 and key not in explained)
    summary = f"{len(twice)} idempotency keys applied more than once"
    if explained:
        summary += (
            f"; {len(explained)} re-sent events applied again in the new region because their original was in the "
            "data-loss window (expected, counted apart)"
        )
    return Check.of_found("duplicates applied twice", twice, summary)


def _differing(history: History) -> Check:
    regions = sorted(history.final_records)
    ids = sorted({record_id for records in history.final_records.values() for record_id in records})
    differing = [
        record_id
        for record_id in ids
        if len({_canonical(history.final_records[region].get(record_id)) for region in regions}) > 1
    ]
    return Check.of_found(
        "items that differ between regions after healing",
        differing,
        f"{len(differing)} of {len(ids)} records differ between {' and '.join(regions)}",
    )


def _stale_reads(history: History) -> Check:
    stale: list[str] = []
    checked = 0
    for region, served in history.served.items():
        records = history.final_records.get(region, {})
        for item_id, body in served.items():
            checked += 1
            record = records.get(item_id)
            expected = {name: record[name] for name in history.public_attributes if name in record} if record else None
            if body != expected:
                stale.append(f"{region}:{item_id}")
    return Check.of_found(
        "reads that disagree with the table after healing",
        stale,
        f"{len(stale)} of {checked} reads through the regions' APIs (cache first) differ from the table",
    )


def _canonical(record: Mapping[str, Any] | None) -> str:
    return json.dumps(record, sort_keys=True, default=str)
