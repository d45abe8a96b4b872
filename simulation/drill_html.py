"""The drill's timeline as one self-contained HTML page: inline CSS and JavaScript, the data embedded as JSON.

Nothing external (it opens from a CI artifact or a file anywhere); only the status page's screenshots, when the drill
took them, are files beside it. Its script builds everything from the embedded data: the verdict, a chart of writes
applied and copies replicated per simulated second and one of refused and unanswered writes on their own axis, over
the phases (labels placed so that none overlaps), every outage, heal, runbook, state, DNS and page moment marked and
a legend for each mark; the phases with the status page's screenshot beside each, the runbook runs, the moments. The
drill's test reads that DOM in headless Chromium.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulation.drill import DrillReport

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2733; background: #fbfcfd; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
.meta { color: #5b6775; }
table { border-collapse: collapse; } th, td { padding: 4px 10px; border-bottom: 1px solid #e2e6ea; text-align: left; }
th { background: #f0f3f6; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
#verdict { border: 2px solid #c8ced5; border-radius: 8px; padding: 12px 16px; background: #fff; max-width: 1100px; }
#verdict.pass { border-color: #2f8f4e; } #verdict.fail { border-color: #c23a3a; }
.badge { display: inline-block; min-width: 44px; text-align: center; border-radius: 4px; color: #fff; font-weight: 700; }
.badge.pass { background: #2f8f4e; } .badge.fail { background: #c23a3a; }
#overall { font-weight: 700; margin-top: 8px; }
#chart { background: #fff; border: 1px solid #e2e6ea; border-radius: 8px; }
.legend { max-width: 1100px; } .legend > span { display: inline-block; margin: 0 16px 4px 0; }
.swatch { vertical-align: middle; margin-right: 4px; }
.axis-title { color: #5b6775; margin: 10px 0 2px; }
td.page-shot img { border: 1px solid #c8ced5; border-radius: 4px; display: block; }
td.page-shot .caption { font-size: 12px; color: #3b4653; max-width: 280px; }
.moment-page { color: #1f6fb2; } .moment-dns { color: #0f8a8a; }
.moment-outage { color: #c23a3a; } .moment-heal { color: #2f8f4e; } .moment-runbook { color: #5a4bb0; }
.moment-phase { font-weight: 700; }
"""

_SCRIPT = r"""
(function () {
  const data = JSON.parse(document.getElementById('drill-data').textContent);
  const SVG = 'http://www.w3.org/2000/svg';
  const colors = {};
  const palette = ['#1f6fb2', '#e07b1a'];
  data.regions.forEach((r, i) => { colors[r] = palette[i % palette.length]; });

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function secs(ms) { return (ms / 1000).toFixed(1) + ' s'; }

  // The verdict.
  const verdict = document.getElementById('verdict');
  verdict.classList.add(data.passed ? 'pass' : 'fail');
  const vt = el('table', {id: 'verdict-table'});
  const vh = el('tr'); ['', 'check', 'found', 'what it means'].forEach(h => vh.appendChild(el('th', {}, h)));
  vt.appendChild(vh);
  data.checks.forEach((check, i) => {
    const row = el('tr', {class: 'verdict-row ' + (check.passed ? 'pass' : 'fail'), 'data-check': String(i)});
    const badge = el('td');
    badge.appendChild(el('span', {class: 'badge ' + (check.passed ? 'pass' : 'fail')}, check.passed ? 'PASS' : 'FAIL'));
    row.appendChild(badge);
    row.appendChild(el('td', {}, check.name));
    row.appendChild(el('td', {class: 'num'}, String(check.value)));
    const examples = check.examples.length && !check.passed ? ' (e.g. ' + check.examples.join(', ') + ')' : '';
    const what = el('td', {}, check.summary + examples);
    row.appendChild(what);
    vt.appendChild(row);
  });
  verdict.appendChild(vt);
  verdict.appendChild(el('div', {id: 'overall'}, data.passed ? 'Every check holds.' : 'Some checks fail.'));

  // The charts: writes applied and copies replicated above, refused and unanswered requests on their own axis below;
  // both share the time axis, the phase bands and the marks of what changed the world.
  const buckets = data.buckets;
  const W = 1100, L = 48, R = 16, B = 30;
  const tMax = Math.max(1000, data.simulatedMs);
  const x = t => L + (W - L - R) * t / tMax;
  const phases = [];
  buckets.forEach(b => {
    const last = phases[phases.length - 1];
    if (!last || last.phase !== b.phase) phases.push({phase: b.phase, start: b.t, end: b.t + 1000});
    else last.end = b.t + 1000;
  });
  // Phase labels above the plot, each on the first row where it clears the label before it: none hidden, none overlap.
  const LABEL_CHAR = 7, LABEL_ROW = 14;
  const rowEnds = [];
  phases.forEach(p => {
    p.labelX = x(p.start) + 2;
    let row = rowEnds.findIndex(end => end + 6 <= p.labelX);
    if (row < 0) { row = rowEnds.length; rowEnds.push(0); }
    rowEnds[row] = p.labelX + LABEL_CHAR * p.phase.length;
    p.labelRow = row;
  });
  const marks = {
    outage: {label: 'region down', color: '#c23a3a', width: 1.6, dash: ''},
    heal: {label: 'region back, or caught up', color: '#2f8f4e', width: 1.6, dash: ''},
    runbook: {label: 'runbook: fence or activate done', color: '#5a4bb0', width: 1.4, dash: '5 3'},
    state: {label: 'a region reads a new state', color: '#8a96a3', width: 1, dash: '2 2'},
    dns: {label: 'DNS answers another region', color: '#0f8a8a', width: 2.2, dash: '8 3 2 3'},
    page: {label: 'status page photographed', color: '#1f6fb2', width: 1, dash: '1 4'},
  };
  const marked = data.moments.filter(m => marks[m.kind] &&
    (m.kind !== 'runbook' || / (fence|activate) done/.test(m.text)));
  function frame(chart, top, height, withLabels) {
    phases.forEach((p, i) => {
      const band = svg('rect', {x: x(p.start), y: top, width: Math.max(0, x(p.end) - x(p.start)), height: height,
        fill: i % 2 ? '#eef2f6' : '#fafbfc', class: 'phase-band'});
      band.appendChild(svg('title', {}, p.phase + ': ' + secs(p.start) + ' to ' + secs(p.end)));
      chart.appendChild(band);
      if (withLabels) {
        const y = 4 + (p.labelRow + 1) * LABEL_ROW - 3;
        chart.appendChild(svg('line', {x1: x(p.start), y1: y + 3, x2: x(p.start), y2: top, stroke: '#c8ced5'}));
        chart.appendChild(svg('text', {x: p.labelX, y: y, 'font-size': 11, fill: '#3b4653', class: 'phase-label'}, p.phase));
      }
    });
    marked.forEach(m => {
      const style = marks[m.kind];
      const line = svg('line', {x1: x(m.t), y1: top, x2: x(m.t), y2: top + height, stroke: style.color,
        'stroke-width': style.width, 'stroke-dasharray': style.dash, class: 'moment-mark', 'data-kind': m.kind});
      line.appendChild(svg('title', {}, secs(m.t) + ': ' + m.text));
      chart.appendChild(line);
    });
    chart.appendChild(svg('line', {x1: L, y1: top + height, x2: W - R, y2: top + height, stroke: '#8a96a3'}));
    chart.appendChild(svg('line', {x1: L, y1: top, x2: L, y2: top + height, stroke: '#8a96a3'}));
    for (let s = 0; s <= tMax / 1000; s += Math.max(5, Math.ceil(tMax / 1000 / 12 / 5) * 5)) {
      const label = {x: x(s * 1000), y: top + height + 16, 'font-size': 11, 'text-anchor': 'middle', fill: '#5b6775'};
      chart.appendChild(svg('text', label, s + ' s'));
    }
  }
  function plot(id, title, series, top, height, withLabels) {
    const yMax = Math.max(5, ...buckets.map(b => Math.max(...series.map(s => s.get(b)))));
    const y = v => top + height * (1 - Math.min(v, yMax) / yMax);
    const size = top + height + B;
    const chart = svg('svg', {id: id, width: W, height: size, viewBox: '0 0 ' + W + ' ' + size, role: 'img'});
    chart.appendChild(svg('title', {}, title));
    frame(chart, top, height, withLabels);
    [0, Math.round(yMax / 2), yMax].forEach(v => {
      chart.appendChild(svg('text', {x: L - 6, y: y(v) + 4, 'font-size': 11, 'text-anchor': 'end', fill: '#5b6775'}, String(v)));
    });
    series.forEach(s => {
      const points = buckets.map(b => x(b.t + 500).toFixed(1) + ',' + y(s.get(b)).toFixed(1)).join(' ');
      const line = svg('polyline', {points: points, fill: 'none', stroke: s.color, 'stroke-width': 1.8,
        'stroke-dasharray': s.dash, 'stroke-opacity': s.opacity || 1, class: 'series', 'data-series': s.label});
      line.appendChild(svg('title', {}, s.label));
      chart.appendChild(line);
    });
    return chart;
  }
  const count = (r, key) => b => (b.regions[r] || {})[key] || 0;
  const done = [], failed = [];
  data.regions.forEach(r => {
    done.push({label: 'applied in ' + r, color: colors[r], dash: '', style: 'solid', get: count(r, 'applied')});
    done.push({label: 'replicated into ' + r, color: colors[r], dash: '8 3', style: 'dashed', opacity: 0.55,
      get: count(r, 'replicated')});
    failed.push({label: 'refused (503) by ' + r, color: colors[r], dash: '', style: 'solid', get: count(r, 'refused')});
    failed.push({label: 'unanswered, sent to ' + r, color: colors[r], dash: '2 3', style: 'dotted',
      get: count(r, 'unreachable')});
  });
  const box = document.getElementById('chart-box');
  box.appendChild(plot('chart', 'Writes applied and copies replicated per simulated second, by region', done,
    8 + rowEnds.length * LABEL_ROW, 260, true));
  box.appendChild(el('div', {class: 'axis-title'}, 'Refused and unanswered writes per simulated second (their own axis):'));
  box.appendChild(plot('failed-chart', 'Refused and unanswered writes per simulated second, by region', failed, 8, 110, false));
  const legend = document.getElementById('legend');
  function swatch(color, width, dash, opacity) {
    const icon = svg('svg', {width: 34, height: 10, class: 'swatch'});
    icon.appendChild(svg('line', {x1: 1, y1: 5, x2: 33, y2: 5, stroke: color, 'stroke-width': Math.max(width, 1.6),
      'stroke-dasharray': dash, 'stroke-opacity': opacity || 1}));
    return icon;
  }
  done.concat(failed).forEach(s => {
    const item = el('span', {class: 'legend-series', 'data-series': s.label});
    item.appendChild(swatch(s.color, 1.8, s.dash, s.opacity));
    item.appendChild(document.createTextNode(s.label + ' (' + s.style + ')'));
    legend.appendChild(item);
  });
  const band = el('span', {class: 'legend-band'});
  const bandIcon = svg('svg', {width: 34, height: 10, class: 'swatch'});
  bandIcon.appendChild(svg('rect', {x: 1, y: 0, width: 32, height: 10, fill: '#eef2f6', stroke: '#c8ced5'}));
  band.appendChild(bandIcon);
  band.appendChild(document.createTextNode('a phase (named above the chart)'));
  legend.appendChild(band);
  Object.keys(marks).filter(kind => marked.some(m => m.kind === kind)).forEach(kind => {
    const item = el('span', {class: 'legend-mark', 'data-mark': kind});
    item.appendChild(swatch(marks[kind].color, marks[kind].width, marks[kind].dash));
    item.appendChild(document.createTextNode(marks[kind].label));
    legend.appendChild(item);
  });

  // The status page as it was at a phase: its screenshot (a file beside this page), what it said, what the form got.
  function pageCell(shot) {
    const td = el('td', {class: 'page-shot'});
    if (!shot) return td;
    const link = el('a', {href: shot.image});
    link.appendChild(el('img', {src: shot.image, alt: 'the status page at ' + shot.phase, width: 280}));
    td.appendChild(link);
    const facts = shot.facts;
    const write = facts.actions.write || {};
    td.appendChild(el('div', {class: 'caption'}, secs(shot.t) + ': ' + facts.banner + ' Writes ' +
      (write.allowed ? 'allowed' : 'refused') + '; the form got: ' + facts.outcomes.map(o => o.kind).join(', ') + '.'));
    return td;
  }

  // The phases.
  const keys = ['applied', 'duplicates', 'stale', 'refused', 'unreachable', 'replicated', 'conflicts', 'repaired'];
  const pt = document.getElementById('phases');
  const head = el('tr');
  const shots = {};
  (data.page || []).forEach(shot => { shots[shot.drillPhase] = shot; });
  const photographed = (data.page || []).length > 0;
  const columns = ['phase', 'from', 'to'].concat(keys).concat(['state at the end']);
  (photographed ? columns.concat(['status page']) : columns).forEach(h => head.appendChild(el('th', {}, h)));
  pt.appendChild(head);
  phases.forEach(p => {
    const row = el('tr', {class: 'phase-row'});
    row.appendChild(el('td', {}, p.phase));
    row.appendChild(el('td', {class: 'num'}, secs(p.start)));
    row.appendChild(el('td', {class: 'num'}, secs(p.end)));
    const inPhase = buckets.filter(b => b.phase === p.phase);
    keys.forEach(k => {
      const parts = data.regions.map(r => inPhase.reduce((sum, b) => sum + ((b.regions[r] || {})[k] || 0), 0));
      row.appendChild(el('td', {class: 'num', title: data.regions.join(' / ')}, parts.join(' / ')));
    });
    const last = inPhase[inPhase.length - 1];
    row.appendChild(el('td', {}, data.regions.map(r => r + ': ' + last.states[r]).join('; ')));
    if (photographed) row.appendChild(pageCell(shots[p.phase]));
    pt.appendChild(row);
  });

  // The runbook runs.
  const rt = document.getElementById('runs');
  const rh = el('tr');
  ['run', 'status', 'steps (attempts, simulated duration)', 'writes blocked'].forEach(h => rh.appendChild(el('th', {}, h)));
  rt.appendChild(rh);
  data.runs.forEach(run => {
    const row = el('tr');
    row.appendChild(el('td', {}, run.name)); row.appendChild(el('td', {}, run.status));
    row.appendChild(el('td', {}, run.steps.map(s => s.step + ' ' + s.attempts + 'x ' + secs(s.durationMs || 0)).join(', ')));
    row.appendChild(el('td', {class: 'num'}, run.writeDowntimeMs === null ? '' : secs(run.writeDowntimeMs)));
    rt.appendChild(row);
  });

  // The moments.
  const list = document.getElementById('moments');
  data.moments.forEach(m => list.appendChild(el('li', {class: 'moment-' + m.kind}, secs(m.t) + '  ' + m.text)));
})();
"""


def render_html(report: DrillReport) -> str:
    """The page for ``report`` (one string, no external references)."""
    data = json.dumps(report.to_json(), sort_keys=True).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    options = report.options
    title = f"Drill timeline: seed {options.seed}, {'PASS' if report.passed else 'FAIL'}"
    totals = report.totals
    summary = (
        f"{totals['events']} events and {totals['duplicatesSent']} re-sent duplicates from writers in both regions, "
        f"replication lag {options.lag_ms // 2}-{options.lag_ms} ms, fence settle {report.fence_settle_seconds} s; "
        f"{report.simulated_ms / 1000:.0f} s simulated in {report.elapsed_seconds:.1f} s."
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">{html.escape(summary)}</p>
<h2>Verdict</h2>
<section id="verdict"></section>
<h2>Timeline (events per simulated second)</h2>
<div id="chart-box"></div>
<p class="legend" id="legend"></p>
<h2>Phases (per region: {html.escape(" / ".join(report.to_json()["regions"]))})</h2>
<table id="phases"></table>
<h2>Runbook runs</h2>
<table id="runs"></table>
<h2>What happened</h2>
<ol id="moments"></ol>
<noscript>This page draws its verdict and timeline with JavaScript.</noscript>
<script type="application/json" id="drill-data">{data}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""
