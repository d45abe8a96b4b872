"""``python -m ops drill``: the quick drill run once (moto, two Redis servers, the real functions and runbook) with the
status page opened in headless Chromium at each phase, its verdict, its text timeline and its HTML page (in the same
Chromium); the verdict's checks on hand-made histories that must fail; the pure helpers; the CLI's option errors."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ops.__main__ import main
from simulation.browser import Browser, chromium_binary
from simulation.drill import (
    DEFAULT_HTML,
    PLANNED,
    UNPLANNED,
    DrillOptions,
    DrillReport,
    fence_settle_seconds,
    render_text,
    replication_window_ms,
    run_drill,
)
from simulation.drill_html import render_html
from simulation.drill_reads import NEWER, OLDER, SAME, compare_read
from simulation.drill_verdict import APPLIED, STALE, Ack, Activation, History, item_tokens, missing_at, passed, verdict
from simulation.drill_world import PRIMARY, SECONDARY, resolve_failover

ROOT = Path(__file__).resolve().parent.parent
DRILL_DIRECTORY = ROOT / DEFAULT_HTML.parent  # .build/drill/: the status page's screenshots stay there for a reader
PHASES = ["steady", "outage", "switchover", "failover", "healed"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """The one Chromium of this module: the drill's status page at each phase, then the drill's report."""
    binary = chromium_binary()
    if binary is None:
        pytest.fail("chromium is not installed; `./run test` installs it (apt-get install chromium)")
    with Browser(binary) as opened:
        yield opened


@pytest.fixture(scope="module")
def report(browser: Browser) -> DrillReport:
    """The quick drill with the multi-region cache (every check of the regional one, and the cache's replication) and
    the status page opened at each phase."""
    return run_drill(
        DrillOptions(quick=True, seed=7, html=DRILL_DIRECTORY / DEFAULT_HTML.name, cache_topology="multiRegion"),
        browser=browser,
    )


@pytest.fixture(scope="module")
def page(report: DrillReport) -> Iterator[Path]:
    """The report where ``ops drill`` writes it, beside the status page's screenshots."""
    path = DRILL_DIRECTORY / DEFAULT_HTML.name
    path.write_text(render_html(report), encoding="utf-8")
    yield path


def check(report: DrillReport, name: str) -> tuple[int, bool, str]:
    found = next(c for c in report.checks if c.name == name)
    return found.value, found.passed, found.summary


# ---- the quick drill --------------------------------------------------------------------------------------------------


def test_every_check_of_the_verdict_holds(report: DrillReport) -> None:
    assert report.passed, render_text(report)
    assert [c.name for c in report.checks] == [
        f"acknowledged writes lost at the {PLANNED}",
        f"acknowledged writes missing at the {UNPLANNED}",
        "acknowledged writes lost after healing",
        "duplicates applied twice",
        "items that differ between regions after healing",
        "reads that disagree with the table after healing",
        "reads older than their region's table during the run",
    ]
    assert check(report, f"acknowledged writes lost at the {PLANNED}")[0] == 0
    assert check(report, "acknowledged writes lost after healing")[0] == 0
    assert check(report, "duplicates applied twice")[0] == 0
    assert check(report, "items that differ between regions after healing")[0] == 0
    assert check(report, "reads that disagree with the table after healing")[0] == 0
    assert check(report, "reads older than their region's table during the run")[0] == 0


def test_after_a_switchover_to_a_region_warmed_only_by_cache_replication_the_first_reads_are_cache_hits(
    report: DrillReport,
) -> None:
    """eu-west-1 came back from its outage with an empty Redis and served no item read until the switchover made it
    active (the readers read where DNS points): every copy in its cache came from us-east-1's by replication, and every
    first read there is served from it, none older than eu-west-1's table."""
    planned, unplanned = report.totals["firstReads"]
    assert (planned["run"], planned["region"], planned["itemReadsBefore"]) == (PLANNED, SECONDARY, 0)
    assert planned["reads"] == 8 and planned["copiesFound"] == planned["copiesReplicated"] > 0
    assert planned["cacheHits"] == planned["copiesFound"] >= planned["reads"] // 2
    assert planned["olderThanTable"] == 0
    assert (unplanned["run"], unplanned["region"], unplanned["olderThanTable"]) == (UNPLANNED, PRIMARY, 0)
    assert unplanned["cacheHits"] >= unplanned["copiesFound"] > 0
    assert report.totals["readsChecked"] > 100 and report.totals["cacheCopiesReplicated"] > 0


def test_the_unplanned_failover_really_leaves_writes_behind_and_only_inside_the_window(report: DrillReport) -> None:
    """The outage hits while copies are in flight: some acknowledged writes are missing in the new region, each
    acknowledged within the replication window (the check would pass vacuously with none)."""
    value, ok, summary = check(report, f"acknowledged writes missing at the {UNPLANNED}")
    assert ok and value > 0, summary
    found = re.search(r"in the last (\d+) ms", summary)
    assert found is not None, summary
    assert int(found.group(1)) < report.window_ms == replication_window_ms(report.options.lag_ms)


def test_the_scenario_exercises_what_it_claims(report: DrillReport) -> None:
    totals = report.totals
    assert totals["events"] == report.options.event_count
    assert totals["duplicatesSent"] > 0 and totals["duplicatesAbsorbed"] > 0
    assert totals["duplicatesAbsorbedAcrossRegions"] > 0  # re-sent after the switchover, absorbed by the new region
    assert totals["refused503"] > 0  # writes refused during the fences, retried
    assert totals["acknowledged"] == totals["events"]  # every event was eventually decided
    assert totals["acceptedNeverDecided"] == [] and totals["deadLetters"] == {PRIMARY: [], SECONDARY: []}
    assert [(run.name, run.status) for run in report.runs] == [(PLANNED, "succeeded"), (UNPLANNED, "succeeded")]
    assert all(run.write_downtime_ms is not None and run.write_downtime_ms > 0 for run in report.runs)
    kinds = [moment.kind for moment in report.moments]
    assert kinds.count("outage") == 2 and kinds.count("heal") >= 3 and "settled" in kinds
    final = report.buckets[-1].states
    assert final == {PRIMARY: "active in us-east-1 (epoch 7)", SECONDARY: "active in us-east-1 (epoch 7)"}
    applied = {region: sum(b.regions[region]["applied"] for b in report.buckets) for region in (PRIMARY, SECONDARY)}
    assert applied[PRIMARY] > 0 and applied[SECONDARY] > 0  # each region was the active one for a while
    assert sum(b.regions[SECONDARY]["replicated"] for b in report.buckets) > 0


def test_the_text_timeline_has_the_phases_the_runbook_steps_and_the_verdict(report: DrillReport) -> None:
    text = render_text(report)
    for phase in ("phase 1: steady", "phase 2: outage", "phase 3: planned switchover", "phase 4: unplanned", "phase 5"):
        assert phase in text
    assert f"{PLANNED}: activate done" in text and f"{UNPLANNED}: activate done" in text
    assert "eu-west-1 now reads: active in eu-west-1 (epoch 4)" in text
    verdict_lines = text.split("\nVerdict\n")[1].splitlines()
    assert [line.split()[0] for line in verdict_lines[: len(report.checks)]] == ["PASS"] * len(report.checks)
    assert verdict_lines[len(report.checks)].strip() == "every check holds"


def test_the_html_page_is_self_contained(page: Path) -> None:
    source = page.read_text(encoding="utf-8")
    assert "<script src" not in source and "<link" not in source and "@import" not in source
    assert set(re.findall(r"https?://[^\s'\"<>)]+", source)) == {"http://www.w3.org/2000/svg"}  # a namespace, not fetched


def test_the_page_renders_the_verdict_and_the_chart_in_headless_chromium(
    report: DrillReport, page: Path, browser: Browser
) -> None:
    browser.navigate(page.as_uri())
    dom = browser.evaluate("document.documentElement.outerHTML")
    verdict_block = dom[dom.index('id="verdict"') :]
    rows = re.findall(r'<tr class="verdict-row (pass|fail)"', verdict_block)
    assert rows == ["pass"] * len(report.checks)  # rendered by the page's script from the embedded data
    for found in report.checks:
        assert found.name in verdict_block
    assert "Every check holds." in dom
    drawn = browser.evaluate(
        "[document.querySelectorAll('#chart polyline').length, document.querySelectorAll('#failed-chart polyline').length,"
        " document.querySelectorAll('#chart .phase-band').length]"
    )
    # Applied and replicated per region above; refused and unanswered per region on their own axis below.
    assert drawn == [4, 4, 5]
    assert dom.count('class="phase-row"') == 5


def read_report(page: Path, browser: Browser, script: str) -> Any:
    """``script``'s value on the drill's report, freshly opened."""
    browser.navigate(page.as_uri())
    return browser.evaluate(script)


def test_every_phase_is_labelled_and_no_two_labels_overlap(page: Path, browser: Browser) -> None:
    boxes = read_report(
        page,
        browser,
        "Array.from(document.querySelectorAll('#chart .phase-label')).map(t => {"
        " const b = t.getBBox(); return [t.textContent, b.x, b.y, b.width, b.height]; })",
    )
    assert [box[0] for box in boxes] == ["1 steady", "2 outage", "3 switchover", "4 failover", "5 healing"]
    for index, (name, x, y, width, height) in enumerate(boxes):
        assert width > 0 and height > 0, name
        for other, ox, oy, owidth, oheight in boxes[index + 1 :]:
            apart = x + width <= ox or ox + owidth <= x or y + height <= oy or oy + oheight <= y
            assert apart, f"{name} overlaps {other}"


def test_the_legend_names_every_mark_and_series_drawn(page: Path, browser: Browser) -> None:
    found = read_report(
        page,
        browser,
        "({marks: Array.from(new Set(Array.from(document.querySelectorAll('.moment-mark')).map(m => m.dataset.kind))),"
        " legendMarks: Array.from(document.querySelectorAll('#legend .legend-mark')).map(m => m.dataset.mark),"
        " series: Array.from(new Set(Array.from(document.querySelectorAll('polyline.series')).map(p => p.dataset.series))),"
        " legendSeries: Array.from(document.querySelectorAll('#legend .legend-series')).map(m => m.dataset.series)})",
    )
    # DNS and state changes are marked, as are outages, heals, the runbook and the status page's moments.
    assert set(found["marks"]) == {"outage", "heal", "runbook", "state", "dns", "page"}
    assert sorted(found["legendMarks"]) == sorted(found["marks"])
    assert sorted(found["legendSeries"]) == sorted(found["series"]) and len(found["series"]) == 8


def test_each_phase_shows_the_status_page_as_it_was_then(page: Path, browser: Browser) -> None:
    cells = read_report(
        page,
        browser,
        "Array.from(document.querySelectorAll('tr.phase-row')).map(row => {"
        " const img = row.querySelector('td.page-shot img');"
        " return [row.cells[0].textContent, img ? img.getAttribute('src') : null, img ? img.naturalWidth : 0,"
        " row.querySelector('td.page-shot .caption').textContent]; })",
    )
    assert [cell[:3] for cell in cells] == [
        ["1 steady", "status-steady.png", 1100],
        ["2 outage", "status-outage.png", 1100],
        ["3 switchover", "status-switchover.png", 1100],
        ["4 failover", "status-failover.png", 1100],
        ["5 healing", "status-healed.png", 1100],
    ]  # loaded: the screenshots are beside the report
    assert "the form got: applied, duplicate." in cells[0][3] and "Writes refused" in cells[2][3]


def test_the_page_screenshot_is_not_blank(page: Path, tmp_path: Path, browser: Browser) -> None:
    browser.resize(1280, 2000)
    browser.navigate(page.as_uri())
    shot = browser.screenshot(tmp_path / "timeline.png", full_page=False)
    width, height, pixels = _png(shot.read_bytes())
    assert (width, height) == (1280, 2000)
    assert len(set(pixels)) > 50  # text, badges and lines, not one flat colour


def _png(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, width, height, compressed = 8, 0, 0, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            compressed += body
        position += 12 + length
    return width, height, zlib.decompress(compressed)


# ---- the status page during the drill ------------------------------------------------------------------------------


def shown(report: DrillReport) -> dict[str, dict[str, Any]]:
    return {shot["phase"]: shot["facts"] for shot in report.page}


def test_the_status_page_was_opened_at_every_phase_and_photographed(report: DrillReport) -> None:
    assert [shot["phase"] for shot in report.page] == PHASES
    for shot in report.page:
        assert shot["image"] == f"status-{shot['phase']}.png"
        width, _, pixels = _png((DRILL_DIRECTORY / shot["image"]).read_bytes())
        assert width == 1100 and len(set(pixels)) > 50  # text, banners and the table, not one flat colour


def rows(facts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["region"]: row for row in facts["rows"]}


def outcomes(facts: dict[str, Any]) -> list[str]:
    return [outcome["kind"] for outcome in facts["outcomes"]]


def test_steady_both_regions_answer_the_primary_serves_and_an_event_is_applied_once(report: DrillReport) -> None:
    steady = shown(report)["steady"]
    assert (steady["state"], steady["degraded"], steady["moved"]) == ("active", False, None)
    assert steady["banner"] == "Active in us-east-1 (epoch 1)."
    us, eu = rows(steady)[PRIMARY], rows(steady)[SECONDARY]
    assert us["answered"] and eu["answered"]
    assert us["cells"][2:5] == ["active in us-east-1", "1", "healthy: serves reads and writes"]
    assert us["cells"][6] == "serves traffic" and eu["cells"][6] == ""
    assert eu["cells"][4] == "standby: serves reads, not writes"
    assert re.fullmatch(r"→ eu-west-1: \d+ ms", us["cells"][5])  # the replication lag, from CloudWatch
    assert (steady["actions"]["read"]["allowed"], steady["actions"]["write"]["allowed"]) == (True, True)
    assert outcomes(steady) == ["applied", "duplicate"]  # sent, then sent again with the same key


def test_during_the_outage_the_page_marks_the_silent_region_and_writes_still_apply(report: DrillReport) -> None:
    outage = shown(report)["outage"]
    assert (outage["state"], outage["degraded"]) == ("active", True)
    assert "No answer from eu-west-1." in outage["banner"]
    assert rows(outage)[SECONDARY]["answered"] is False and rows(outage)[SECONDARY]["cells"][1] == "no answer"
    assert rows(outage)[PRIMARY]["cells"][6] == "serves traffic"
    assert outage["actions"]["write"]["allowed"] is True and outcomes(outage) == ["applied"]


@pytest.mark.parametrize("phase", ["switchover", "failover"])
def test_while_the_runbook_holds_the_fence_writes_are_refused_and_the_page_asks_for_a_reload(
    report: DrillReport, phase: str
) -> None:
    facts = shown(report)[phase]
    assert facts["state"] in ("fenced", "failover")
    assert facts["actions"]["write"]["allowed"] is False and facts["actions"]["read"]["allowed"] is True
    assert all(row["cells"][6] == "" for row in facts["rows"])  # no region serves writes
    assert outcomes(facts) in (["refused"], ["unreachable"])
    assert facts["moved"] is not None and "reload" in facts["moved"]
    assert facts["degraded"] is (phase == "failover")  # the active region is down in the unplanned failover
    assert rows(facts)[SECONDARY]["answered"] is (phase == "switchover")


def test_healed_the_primary_serves_again_and_an_event_is_applied(report: DrillReport) -> None:
    healed = shown(report)["healed"]
    assert (healed["state"], healed["degraded"]) == ("active", False)
    assert healed["banner"] == "Active in us-east-1 (epoch 7)."
    assert rows(healed)[PRIMARY]["cells"][6] == "serves traffic"
    assert healed["actions"]["write"]["allowed"] is True and outcomes(healed) == ["applied"]


# ---- the verdict on hand-made histories -------------------------------------------------------------------------------

BASE = 1_700_000_000_000
US, EU = PRIMARY, SECONDARY


def token(timestamp: int, key: str) -> str:
    return f"{timestamp:016d}#{key}#hash"


def ack(key: str, item: str, at: int, region: str = US, kind: str = APPLIED) -> Ack:
    return Ack(key, item, token(at, key), region, at, kind)


def record(item: str, at: int, key: str) -> dict[str, object]:
    return {"Id": item, "Data": {"k": key}, "Version": 1, "Timestamp": at, "LastUpdatedRegion": US, "OrderToken": token(at, key)}


def history(
    acks: list[Ack],
    *,
    activations: list[Activation] | None = None,
    records: dict[str, dict[str, dict[str, object]]] | None = None,
    served: dict[str, dict[str, object]] | None = None,
) -> History:
    final = records or {US: {}, EU: {}}
    return History(
        acks=acks,
        activations=activations or [],
        expected_activations=[(a.name, a.planned) for a in activations or []],
        final_records=final,
        served=served or {},
        window_ms=1750,
    )


def healthy_records(*items: tuple[str, int, str]) -> dict[str, dict[str, dict[str, object]]]:
    both = {item: record(item, at, key) for item, at, key in items}
    return {US: dict(both), EU: dict(both)}


def names_failing(h: History) -> list[str]:
    return [c.name for c in verdict(h) if not c.passed]


def test_a_consistent_history_passes() -> None:
    records = healthy_records(("a", BASE + 20, "k2"))
    acks = [ack("k1", "a", BASE + 10), ack("k2", "a", BASE + 20)]
    planned = Activation(PLANNED, True, US, EU, BASE + 30, item_tokens(records[EU]))
    assert passed(verdict(history(acks, activations=[planned], records=records)))


def test_a_write_missing_at_the_planned_activation_fails() -> None:
    records = healthy_records(("a", BASE + 20, "k2"))
    acks = [ack("k1", "a", BASE + 10), ack("k2", "a", BASE + 20)]
    planned = Activation(PLANNED, True, US, EU, BASE + 30, {"a": token(BASE + 10, "k1")})  # k2 had not replicated
    h = history(acks, activations=[planned], records=records)
    assert names_failing(h) == [f"acknowledged writes lost at the {PLANNED}"]
    assert [a.key for a in missing_at(planned, acks)] == ["k2"]


def test_a_write_superseded_by_a_later_one_is_not_missing() -> None:
    acks = [ack("k1", "a", BASE + 10, kind=STALE), ack("k2", "a", BASE + 20)]
    planned = Activation(PLANNED, True, US, EU, BASE + 30, {"a": token(BASE + 20, "k2")})
    assert missing_at(planned, acks) == []


def test_an_unplanned_loss_is_accepted_inside_the_window_only() -> None:
    outage = BASE + 10_000
    records = healthy_records(("a", outage - 500, "recent"), ("b", outage - 5000, "old"))
    acks = [ack("recent", "a", outage - 500, EU), ack("old", "b", outage - 5000, EU)]
    inside = Activation(UNPLANNED, False, EU, US, outage + 60_000, {"b": token(outage - 5000, "old")}, outage)
    assert passed(verdict(history(acks, activations=[inside], records=records)))
    outside = Activation(UNPLANNED, False, EU, US, outage + 60_000, {}, outage)  # "old" is missing too: 5 s before
    h = history(acks, activations=[outside], records=records)
    assert names_failing(h) == [f"acknowledged writes missing at the {UNPLANNED}"]
    assert next(c for c in verdict(h) if not c.passed).examples == ("old",)


def test_a_run_that_did_not_complete_fails_its_check() -> None:
    h = History([], [], [(PLANNED, True), (UNPLANNED, False)], {US: {}, EU: {}}, {}, 1750)
    assert names_failing(h) == [f"acknowledged writes lost at the {PLANNED}", f"acknowledged writes missing at the {UNPLANNED}"]


def test_a_write_lost_after_healing_fails() -> None:
    records = {US: {"a": record("a", BASE + 20, "k2")}, EU: {"a": record("a", BASE + 20, "k2")}}
    acks = [ack("k2", "a", BASE + 20), ack("k3", "b", BASE + 30)]  # b exists nowhere
    assert names_failing(history(acks, records=records)) == ["acknowledged writes lost after healing"]


def test_a_duplicate_applied_twice_fails_unless_its_original_was_lost_in_the_window() -> None:
    records = healthy_records(("a", BASE + 10, "k1"))
    twice = [ack("k1", "a", BASE + 10, US), ack("k1", "a", BASE + 50, US)]
    assert names_failing(history(twice, records=records)) == ["duplicates applied twice"]
    outage = BASE + 20
    failover = Activation(UNPLANNED, False, EU, US, BASE + 40, {}, outage)
    lost_then_resent = [ack("k1", "a", BASE + 10, EU), ack("k1", "a", BASE + 50, US)]
    checks = verdict(history(lost_then_resent, activations=[failover], records=records))
    assert passed(checks)
    assert (
        "1 re-sent events applied again in the new region"
        in next(c for c in checks if c.name == "duplicates applied twice").summary
    )


def test_records_that_differ_between_regions_fail() -> None:
    records = healthy_records(("a", BASE + 10, "k1"))
    records[EU]["IDEMPOTENCY#k1"] = {"Id": "IDEMPOTENCY#k1", "Outcome": "applied"}
    h = history([ack("k1", "a", BASE + 10)], records=records)
    assert names_failing(h) == ["items that differ between regions after healing"]
    assert next(c for c in verdict(h) if not c.passed).examples == ("IDEMPOTENCY#k1",)


def test_a_read_that_disagrees_with_the_table_fails() -> None:
    records = healthy_records(("a", BASE + 10, "k1"))
    public = {name: value for name, value in records[US]["a"].items() if name != "OrderToken"}
    good = {US: {"a": public, "missing": None}, EU: {"a": public}}
    assert passed(verdict(history([ack("k1", "a", BASE + 10)], records=records, served=good)))
    stale = {US: {"a": {**public, "Version": 0}}, EU: {"a": public}}
    h = history([ack("k1", "a", BASE + 10)], records=records, served=stale)
    assert names_failing(h) == ["reads that disagree with the table after healing"]


def test_a_read_older_than_its_regions_table_during_the_run_fails() -> None:
    older = History(
        acks=[],
        activations=[],
        expected_activations=[],
        final_records={US: {}, EU: {}},
        served={},
        window_ms=1750,
        reads_checked=3,
        older_reads=["us-east-1:a@1000"],
    )
    assert names_failing(older) == ["reads older than their region's table during the run"]


def test_a_read_is_older_newer_or_the_same_as_the_table() -> None:
    attributes = ("Id", "Data", "Timestamp")
    table = {"Id": "a", "Data": {"v": 2}, "Timestamp": 200, "OrderToken": "t2"}
    assert compare_read({"Id": "a", "Data": {"v": 2}, "Timestamp": 200}, table, attributes) == SAME
    assert compare_read({"Id": "a", "Data": {"v": 1}, "Timestamp": 100}, table, attributes) == OLDER
    assert compare_read({"Id": "a", "Data": {"v": 9}, "Timestamp": 200}, table, attributes) == OLDER  # a tie: counted
    assert compare_read({"Id": "a", "Data": {"v": 3}, "Timestamp": 300}, table, attributes) == NEWER
    assert compare_read(None, table, attributes) == OLDER  # "not found" while the table has it
    assert compare_read({"Id": "a", "Data": {}, "Timestamp": 1}, None, attributes) == NEWER
    assert compare_read(None, None, attributes) == SAME


# ---- helpers and the CLI ----------------------------------------------------------------------------------------------


def test_the_fence_settle_covers_the_fences_replication_and_the_state_cache() -> None:
    assert fence_settle_seconds(250) == 2  # 0.25 s tick + 1 s state cache, rounded up; the lag is the drain's
    assert fence_settle_seconds(1500) == 3
    assert replication_window_ms(1500, 250) == 1750


@pytest.mark.parametrize(
    ("healthy", "answer"),
    [
        ({US: True, EU: True}, US),
        ({US: False, EU: True}, EU),
        ({US: False, EU: False}, US),  # Route53 answers the primary when both are unhealthy
        ({US: True, EU: False}, US),
    ],
)
def test_dns_follows_route53_failover_routing(healthy: dict[str, bool], answer: str) -> None:
    assert resolve_failover(US, EU, healthy) == answer


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--events", "5"], "--events: got 5; allowed: 20 to 20000"),
        (["--lag-ms", "-1"], "--lag-ms: got -1; allowed: 0 to 10000"),
        (["--cache-topology", "global"], "--cache-topology: got 'global'; allowed: regional, multiRegion"),
    ],
)
def test_bad_options_are_refused_before_anything_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["drill", *argv]) == 2
    assert message in capsys.readouterr().err
