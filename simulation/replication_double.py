"""A test double of DynamoDB global-table replication between regional tables on the moto server.

moto accepts global-table replicas but replicates nothing (ARCHITECTURE §5), so the convergence tests and the local
drill replicate with this double: each region's local writes, read from its moto stream, are copied to every other
region with a random lag (in steps, or in ms of a given clock), under the service's rule that the later service-side
write wins, and the receiving region's stream records are handed to its stream handler. :meth:`hold`,
:meth:`release` and :meth:`drop` model a regional outage. What it simulates and what it does not:
docs/design/drill.md.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Image = dict[str, Any]


@dataclass
class Replication:
    """One write on its way from ``source`` to ``target``."""

    source: str
    target: str
    key: Image
    image: Image | None  # the new image; None for a delete
    service_time: int
    due: int  # a step number, or a time in ms when the double has a clock
    read_at: int  # when the write was read from the source's stream (same unit)


@dataclass
class Downgrade:
    """A replicated write that moved an item down the application's order (the handler must repair it)."""

    region: str
    item_id: str
    loser_token: str
    winner_token: str


@dataclass
class _Region:
    client: Any
    streams: Any
    stream_arn: str
    iterator: str
    inbox: list[dict[str, Any]] = field(default_factory=list)


class GlobalTableReplicationDouble:
    """Replicates the table ``table_name`` between ``regions`` (see the module notes).

    Parameters
    ----------
    regions: region -> (a DynamoDB client, a DynamoDB Streams client) of that region on the moto server.
    table_name: the table, created in every region with a stream (``NEW_AND_OLD_IMAGES``) before the double.
    rng: the source of lag and of the order in which copies due in the same step arrive.
    max_lag_steps: without a clock, a copy arrives 0..max_lag_steps steps after the step its write was read in.
    order_attribute: the attribute holding the application's order token (to report downgrades).
    now_ms: a clock in milliseconds; with it, lag is ``min_lag_ms..max_lag_ms`` of that clock instead of steps.
    min_lag_ms, max_lag_ms: the range of a copy's lag with a clock.
    """

    def __init__(
        self,
        regions: Mapping[str, tuple[Any, Any]],
        table_name: str,
        rng: random.Random,
        max_lag_steps: int = 3,
        order_attribute: str = "OrderToken",
        *,
        now_ms: Callable[[], int] | None = None,
        min_lag_ms: int = 0,
        max_lag_ms: int = 1000,
    ) -> None:
        if not 0 <= min_lag_ms <= max_lag_ms:
            raise ValueError(f"lag: need 0 <= min_lag_ms <= max_lag_ms, got {min_lag_ms}..{max_lag_ms}")
        self.table_name, self.rng, self.max_lag_steps, self.order_attribute = table_name, rng, max_lag_steps, order_attribute
        self.now_ms, self.min_lag_ms, self.max_lag_ms = now_ms, min_lag_ms, max_lag_ms
        self.regions: dict[str, _Region] = {}
        for name, (client, streams) in regions.items():
            arn = client.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
            shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
            self.regions[name] = _Region(client, streams, arn, iterator["ShardIterator"])
        self.clock = 0
        self.step_number = 0
        self.pending: list[Replication] = []
        self.held: set[str] = set()
        self.written_at: dict[tuple[str, str], int] = {}
        self.downgrades: list[Downgrade] = []
        self.applied = 0
        self.dropped = 0
        self.applied_into: Counter[str] = Counter()
        self.discarded = 0

    def _now(self) -> int:
        return self.step_number if self.now_ms is None else self.now_ms()

    def _lag(self) -> int:
        if self.now_ms is None:
            return self.rng.randint(0, self.max_lag_steps)
        return self.rng.randint(self.min_lag_ms, self.max_lag_ms)

    # ---- reading the regions' streams -----------------------------------------------------------------------------

    def capture(self, regions: Iterable[str] | None = None) -> int:
        """Read the new local writes of ``regions`` (every region by default): queue them for replication and for the
        region's stream handler."""
        return sum(self._read_stream(name, local=True) for name in (self.regions if regions is None else regions))

    def _read_stream(self, name: str, *, local: bool) -> int:
        region = self.regions[name]
        count = 0
        while True:
            response = region.streams.get_records(ShardIterator=region.iterator, Limit=1000)
            region.iterator = response["NextShardIterator"]
            records = response["Records"]
            if not records:
                return count
            for raw in records:
                record = self._lambda_record(name, raw)
                region.inbox.append(record)
                if local:
                    self._replicate(name, record)
                count += 1

    def _replicate(self, source: str, record: Mapping[str, Any]) -> None:
        change = record["dynamodb"]
        key = change["Keys"]
        self.clock += 1
        self.written_at[(source, _key_text(key))] = self.clock
        image = change.get("NewImage") if record["eventName"] != "REMOVE" else None
        now = self._now()
        for target in self.regions:
            if target != source:
                self.pending.append(Replication(source, target, key, image, self.clock, now + self._lag(), now))

    def _lambda_record(self, region: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """A GetRecords record in the shape Lambda's event source gives the handler."""
        change = dict(raw["dynamodb"])
        created = change.get("ApproximateCreationDateTime")
        if created is not None and hasattr(created, "timestamp"):
            change["ApproximateCreationDateTime"] = created.timestamp()
        return {
            **{name: value for name, value in raw.items() if name != "dynamodb"},
            "dynamodb": change,
            "awsRegion": region,
            "eventSourceARN": self.regions[region].stream_arn,
        }

    # ---- delivering copies ----------------------------------------------------------------------------------------

    def step(self, written: Collection[str] | None = None) -> int:
        """Advance one step: capture local writes, then apply every copy now due (and not held), in random order.
        The copies delivered (applied, or dropped by the conflict rule).

        ``written``: the regions that may have written since the last step, when the caller knows (the drill does);
        the streams of the others are read only if a copy is delivered to them. Every region by default.
        """
        captured = set(self.regions if written is None else written)
        self.capture(captured)
        now = self._now()
        due = [replication for replication in self.pending if replication.due <= now and not self._is_held(replication)]
        self.pending = [replication for replication in self.pending if replication.due > now or self._is_held(replication)]
        self.rng.shuffle(due)
        written_into: list[str] = []
        for replication in due:
            if replication.target not in captured:
                self._read_stream(replication.target, local=True)  # its local writes are earlier service writes
                captured.add(replication.target)
            if self._apply(replication) and replication.target not in written_into:
                written_into.append(replication.target)
        # Nothing else writes during a step: every record now in these streams is a copy (not replicated again).
        for name in written_into:
            inbox = self.regions[name].inbox
            before = len(inbox)
            self._read_stream(name, local=False)
            for record in inbox[before:]:
                self._note_downgrade(name, record)
        self.step_number += 1
        return len(due)

    def _apply(self, replication: Replication) -> bool:
        """Put the copy in its target unless the target holds a later service write of the item (then drop it)."""
        target = self.regions[replication.target]
        key_text = _key_text(replication.key)
        held = self.written_at.get((replication.target, key_text), 0)
        if replication.service_time <= held:
            self.dropped += 1
            return False
        self.written_at[(replication.target, key_text)] = replication.service_time
        if replication.image is None:
            target.client.delete_item(TableName=self.table_name, Key=replication.key)
        else:
            target.client.put_item(TableName=self.table_name, Item=replication.image)
        self.applied += 1
        self.applied_into[replication.target] += 1
        return True

    def _note_downgrade(self, region: str, record: Mapping[str, Any]) -> None:
        change = record["dynamodb"]
        old, new = change.get("OldImage") or {}, change.get("NewImage") or {}
        old_token = old.get(self.order_attribute, {}).get("S")
        new_token = new.get(self.order_attribute, {}).get("S")
        if old_token and new_token and new_token < old_token:
            item_id = next(iter(change["Keys"].values()))["S"]
            self.downgrades.append(Downgrade(region, item_id, new_token, old_token))

    # ---- outages -------------------------------------------------------------------------------------------------

    def hold(self, region: str) -> None:
        """The region is cut off: nothing replicates from it or to it until :meth:`release` or :meth:`drop`."""
        self._known(region)
        self.held.add(region)

    def release(self, region: str) -> int:
        """The region is back: its held backlog (both ways) is delivered, each copy at the first step once it is due
        (a copy held past its due time, at the next step). The copies released."""
        self._known(region)
        self.held.discard(region)
        return sum(1 for r in self.pending if region in (r.source, r.target) and not self._is_held(r))

    def drop(self, region: str) -> list[Replication]:
        """The region is gone for good: discard the copies held from it and to it; the discarded copies."""
        self._known(region)
        self.held.discard(region)
        dropped = [replication for replication in self.pending if region in (replication.source, replication.target)]
        self.pending = [replication for replication in self.pending if region not in (replication.source, replication.target)]
        self.discarded += len(dropped)
        return dropped

    def backlog(self, source: str, target: str) -> list[Replication]:
        """The copies from ``source`` to ``target`` not delivered yet (held or not yet due), oldest first."""
        return sorted((r for r in self.pending if r.source == source and r.target == target), key=lambda r: r.service_time)

    def lag_ms(self, target: str) -> int:
        """How long the oldest copy still on its way into ``target`` has been waiting (0: nothing is); needs a clock."""
        if self.now_ms is None:
            raise ValueError("lag_ms needs a clock: build the double with now_ms")
        waiting = [self.now_ms() - r.read_at for r in self.pending if r.target == target]
        return max(waiting, default=0)

    def _is_held(self, replication: Replication) -> bool:
        return replication.source in self.held or replication.target in self.held

    def _known(self, region: str) -> None:
        if region not in self.regions:
            raise ValueError(f"unknown region {region!r}; the double replicates {', '.join(self.regions)}")

    # ---- the stream handlers' side --------------------------------------------------------------------------------

    def take_records(self, region: str) -> list[dict[str, Any]]:
        """The stream records of ``region`` not yet handed out, oldest first."""
        records, self.regions[region].inbox = self.regions[region].inbox, []
        return records

    def put_back(self, region: str, records: list[dict[str, Any]]) -> None:
        """Records a stream handler failed on (and those after them): handed out again first, in order."""
        self.regions[region].inbox[:0] = records

    def quiescent(self) -> bool:
        """Nothing left to replicate or to hand to a stream handler (after reading the streams once more)."""
        self.capture()
        return not self.pending and not any(region.inbox for region in self.regions.values())

    def scan(self, region: str) -> dict[str, Image]:
        """Every record of ``region``'s table, by its key."""
        client = self.regions[region].client
        pages = client.get_paginator("scan").paginate(TableName=self.table_name, ConsistentRead=True)
        return {_key_text(_only_key(item)): item for page in pages for item in page["Items"]}


def _key_text(key: Mapping[str, Any]) -> str:
    return "|".join(f"{name}={next(iter(value.values()))}" for name, value in sorted(key.items()))


def _only_key(item: Mapping[str, Any], key_names: Sequence[str] = ("Id",)) -> Image:
    return {name: item[name] for name in key_names}
