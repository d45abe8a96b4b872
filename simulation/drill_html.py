"""The drill's timeline as one self-contained HTML page: inline CSS and JavaScript, the data embedded as JSON.

The page fetches nothing (no external URL, so it opens from a CI artifact or a file anywhere). Its script builds
everything from the embedded data: the verdict rows (in ``#verdict``), an SVG chart of events per simulated second per
region (writes applied, writes refused, copies replicated in) over the phases, with the moments (outages, runbook
steps, state changes) marked, the table of phases, the runbook runs and the list of moments. So a browser that shows
the verdict rows and the chart has run the script over the data, which is what the drill's test checks in headless
Chromium.
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
.legend span { margin-right: 16px; }
.swatch { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin-right: 4px; }
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

  // The chart: events per simulated second.
  const buckets = data.buckets;
  const W = 1100, H = 340, L = 48, R = 16, T = 18, B = 34;
  const tMax = Math.max(1000, data.simulatedMs);
  const series = [];
  data.regions.forEach(r => {
    series.push({label: 'applied in ' + r, color: colors[r], dash: '', get: b => (b.regions[r] || {}).applied || 0});
    series.push({label: 'refused (503) by ' + r, color: colors[r], dash: '2 3', style: 'dotted',
      get: b => (b.regions[r] || {}).refused || 0});
    series.push({label: 'replicated into ' + r, color: colors[r], dash: '8 3', style: 'dashed', opacity: 0.55,
      get: b => (b.regions[r] || {}).replicated || 0});
  });
  const yMax = Math.max(5, ...buckets.map(b => Math.max(...series.map(s => s.get(b)))));
  const x = t => L + (W - L - R) * t / tMax;
  const y = v => T + (H - T - B) * (1 - Math.min(v, yMax) / yMax);
  const chart = svg('svg', {id: 'chart', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img'});
  chart.appendChild(svg('title', {}, 'Events per simulated second, by region'));
  // Phase bands.
  const phases = [];
  buckets.forEach(b => {
    const last = phases[phases.length - 1];
    if (!last || last.phase !== b.phase) phases.push({phase: b.phase, start: b.t, end: b.t + 1000});
    else last.end = b.t + 1000;
  });
  phases.forEach((p, i) => {
    const band = svg('rect', {x: x(p.start), y: T, width: Math.max(0, x(p.end) - x(p.start)), height: H - T - B,
      fill: i % 2 ? '#f3f6f9' : '#fafbfc', class: 'phase-band'});
    band.appendChild(svg('title', {}, p.phase + ': ' + secs(p.start) + ' to ' + secs(p.end)));
    chart.appendChild(band);
    if (x(p.end) - x(p.start) > 7 * p.phase.length) {  // a label that fits its band
      chart.appendChild(svg('text', {x: x(p.start) + 3, y: T + 12, 'font-size': 11, fill: '#5b6775'}, p.phase));
    }
  });
  // Axes.
  chart.appendChild(svg('line', {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#8a96a3'}));
  chart.appendChild(svg('line', {x1: L, y1: T, x2: L, y2: H - B, stroke: '#8a96a3'}));
  for (let s = 0; s <= tMax / 1000; s += Math.max(5, Math.ceil(tMax / 1000 / 12 / 5) * 5)) {
    const label = {x: x(s * 1000), y: H - B + 16, 'font-size': 11, 'text-anchor': 'middle', fill: '#5b6775'};
    chart.appendChild(svg('text', label, s + ' s'));
  }
  [0, Math.round(yMax / 2), yMax].forEach(v => {
    chart.appendChild(svg('text', {x: L - 6, y: y(v) + 4, 'font-size': 11, 'text-anchor': 'end', fill: '#5b6775'}, String(v)));
  });
  // Moments that change the world.
  const markColors = {outage: '#c23a3a', heal: '#2f8f4e', runbook: '#5a4bb0', state: '#b7bec6'};
  data.moments
    .filter(m => ['outage', 'heal', 'state'].includes(m.kind) || (m.kind === 'runbook' && / (fence|activate) done/.test(m.text)))
    .forEach(m => {
      const line = svg('line', {x1: x(m.t), y1: T, x2: x(m.t), y2: H - B, stroke: markColors[m.kind],
        'stroke-width': m.kind === 'state' ? 0.6 : 1.4, class: 'moment-mark'});
      line.appendChild(svg('title', {}, secs(m.t) + ': ' + m.text));
      chart.appendChild(line);
    });
  // The series.
  series.forEach(s => {
    const points = buckets.map(b => x(b.t + 500).toFixed(1) + ',' + y(s.get(b)).toFixed(1)).join(' ');
    const line = svg('polyline', {points: points, fill: 'none', stroke: s.color, 'stroke-width': 1.8, 'stroke-dasharray': s.dash,
      'stroke-opacity': s.opacity || 1, class: 'series'});
    line.appendChild(svg('title', {}, s.label));
    chart.appendChild(line);
  });
  document.getElementById('chart-box').appendChild(chart);
  const legend = document.getElementById('legend');
  series.forEach(s => {
    const item = el('span');
    const swatch = el('span', {class: 'swatch', style: 'background:' + s.color + ';opacity:' + (s.opacity || 1)});
    item.appendChild(swatch); item.appendChild(document.createTextNode(s.label + (s.style ? ' (' + s.style + ')' : '')));
    legend.appendChild(item);
  });

  // The phases.
  const keys = ['applied', 'duplicates', 'stale', 'refused', 'unreachable', 'replicated', 'conflicts', 'repaired'];
  const pt = document.getElementById('phases');
  const head = el('tr');
  ['phase', 'from', 'to'].concat(keys).concat(['state at the end']).forEach(h => head.appendChild(el('th', {}, h)));
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
