// The status page: asks every region's public summary (GET <apiBase>/regions/<region>/status) every few seconds, shows
// what each answers, what a user can do in the state the newest answer shows, and sends events through the form.
(function () {
  'use strict';

  const view = {config: null, answers: {}, state: null, serving: null, first: null, refreshes: 0, lastEvent: null};
  // The state first seen since this tab opened the page (kept across reloads until the Reload button forgets it).
  const FIRST_KEY = 'status-page-first-state';

  function $(id) { return document.getElementById(id); }
  function cell(row, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  // A JSON request that gives up after the configured timeout: {status, body, retryAfter}; throws when nothing answers.
  async function request(url, options) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), view.config.timeoutSeconds * 1000);
    try {
      const response = await fetch(url, Object.assign({cache: 'no-store', signal: controller.signal}, options || {}));
      let body = null;
      try { body = await response.json(); } catch (e) { body = null; }
      return {status: response.status, body: body, retryAfter: response.headers.get('Retry-After')};
    } finally {
      clearTimeout(timer);
    }
  }

  function regionUrl(region, path) { return view.config.apiBase + '/regions/' + encodeURIComponent(region) + path; }

  async function ask(region) {
    try {
      const answer = await request(regionUrl(region, '/status'));
      if (answer.status !== 200 || !answer.body) return {answered: false, why: 'answered HTTP ' + answer.status};
      return {answered: true, summary: answer.body};
    } catch (error) {
      return {answered: false, why: error.name === 'AbortError' ? 'no answer in ' + view.config.timeoutSeconds + ' s' : 'no answer'};
    }
  }

  // The application's state is the newest (highest epoch) that an answering region reads.
  function decide() {
    const readable = Object.values(view.answers).filter(a => a.answered && a.summary.status);
    readable.sort((a, b) => b.summary.epoch - a.summary.epoch);
    view.state = readable.length ? readable[0].summary : null;
    const active = view.state && view.state.status === 'active' ? view.answers[view.state.activeRegion] : null;
    view.serving = active && active.answered && active.summary.healthy ? view.state.activeRegion : null;
    if (view.state && !view.first) {
      view.first = {activeRegion: view.state.activeRegion, epoch: view.state.epoch};
      sessionStorage.setItem(FIRST_KEY, JSON.stringify(view.first));
    }
  }

  function lagText(summary) {
    const lags = summary.replication || [];
    if (!lags.length) return 'no other region';
    return lags.map(l => '→ ' + l.to + ': ' + (l.lagMs === null ? 'no data' : Math.round(l.lagMs) + ' ms')).join(', ');
  }

  // Write health: a region that fails only the state check serves reads (standby, or every region while fenced).
  function healthText(region, s) {
    if (s.healthy) return 'healthy: serves reads and writes';
    if (s.failed.length === 1 && s.failed[0] === 'state') {
      return (s.status === 'active' ? 'standby' : s.status) + ': serves reads, not writes';
    }
    return 'unhealthy: ' + s.failed.join(', ') + ' failing';
  }

  function renderRegions() {
    const body = $('regions').tBodies[0];
    body.textContent = '';
    view.config.regions.forEach(region => {
      const answer = view.answers[region] || {answered: false, why: 'not asked yet'};
      const row = document.createElement('tr');
      row.dataset.region = region;
      row.className = answer.answered ? 'answered' : 'no-answer';
      cell(row, region);
      if (!answer.answered) {
        cell(row, answer.why);
        ['unknown', '', 'unknown', 'unknown', ''].forEach(text => cell(row, text));
        body.appendChild(row);
        return;
      }
      const s = answer.summary;
      cell(row, 'yes');
      const behind = view.state && s.epoch < view.state.epoch;
      cell(row, s.status ? s.status + ' in ' + s.activeRegion + (behind ? ' (behind: epoch ' + view.state.epoch + ' elsewhere)' : '')
        : 'unreadable', behind ? 'behind' : '');
      cell(row, s.epoch === null ? '' : String(s.epoch));
      cell(row, healthText(region, s), s.healthy ? '' : 'unhealthy');
      cell(row, lagText(s));
      cell(row, view.serving === region ? 'serves traffic' : '', view.serving === region ? 'serving' : '');
      body.appendChild(row);
    });
  }

  function renderOverall() {
    const overall = $('overall');
    const silent = view.config.regions.filter(r => !(view.answers[r] || {}).answered);
    overall.dataset.degraded = String(silent.length > 0 && silent.length < view.config.regions.length);
    if (!view.state) {
      overall.dataset.state = 'unknown';
      overall.textContent = 'No region answers: the application\'s state is unknown.';
      return;
    }
    const s = view.state;
    overall.dataset.state = s.status;
    const texts = {
      active: 'Active in ' + s.activeRegion + ' (epoch ' + s.epoch + ').',
      fenced: 'Fenced (epoch ' + s.epoch + '): writes are refused while the application moves; reads are served.',
      failover: 'Failover to ' + s.activeRegion + ' under way (epoch ' + s.epoch + '): writes wait until it is active.',
    };
    overall.textContent = texts[s.status] || ('State ' + s.status + ' (epoch ' + s.epoch + ').');
    if (silent.length) overall.textContent += ' No answer from ' + silent.join(', ') + '.';
    const moved = view.first && (view.first.activeRegion !== s.activeRegion || view.first.epoch !== s.epoch);
    $('moved').hidden = !moved;
    if (moved) {
      $('moved-text').textContent = view.first.activeRegion !== s.activeRegion
        ? 'The application moved from ' + view.first.activeRegion + ' to ' + s.activeRegion + ' (epoch ' + s.epoch +
          ') since you opened this page: reload, and retry what you sent before.'
        : 'The application changed epoch (' + view.first.epoch + ' → ' + s.epoch + ') since you opened this page: ' +
          'a failover ran; reload, and retry what you sent before.';
    }
  }

  function actions() {
    const readers = view.config.regions.filter(r => (view.answers[r] || {}).answered && view.answers[r].summary.checks &&
      String(view.answers[r].summary.checks.table).startsWith('ok'));
    const s = view.state;
    let write;
    if (!s) write = {allowed: false, text: 'Send events: no region answers; nothing can be sent.'};
    else if (s.status === 'active' && view.serving) write = {allowed: true, text: 'Send events: accepted by ' + view.serving + '.'};
    else if (s.status === 'active' && !(view.answers[s.activeRegion] || {}).answered) write = {allowed: false,
      text: 'Send events: the active region ' + s.activeRegion + ' does not answer; writes wait for a failover.'};
    else if (s.status === 'active') write = {allowed: false,
      text: 'Send events: the active region ' + s.activeRegion + ' does not report itself healthy for writes yet.'};
    else if (s.status === 'fenced') write = {allowed: false,
      text: 'Send events: refused while fenced (503, retry after a few seconds); retry after the failover.'};
    else write = {allowed: false, text: 'Send events: refused until the failover to ' + s.activeRegion + ' completes; then retry.'};
    const read = readers.length
      ? {allowed: true, text: 'Read items: served by ' + readers.join(', ') + ' (every state serves reads).'}
      : {allowed: false, text: 'Read items: no region answers.'};
    return {read: read, write: write};
  }

  function renderActions() {
    const list = $('actions');
    list.textContent = '';
    Object.entries(actions()).forEach(([name, action]) => {
      const item = document.createElement('li');
      item.dataset.action = name;
      item.dataset.allowed = String(action.allowed);
      item.textContent = action.text;
      list.appendChild(item);
    });
  }

  async function refresh() {
    const regions = view.config.regions;
    const answers = await Promise.all(regions.map(ask));
    regions.forEach((region, i) => { view.answers[region] = answers[i]; });
    decide();
    renderRegions();
    renderOverall();
    renderActions();
    view.refreshes += 1;
    document.body.dataset.refreshes = String(view.refreshes);
    $('updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + '; refreshes every ' +
      view.config.refreshSeconds + ' s.';
  }

  // ---- the form ----

  function outcome(kind, text) {
    const node = $('outcome');
    node.dataset.outcome = kind;
    node.textContent = text;
  }

  async function version(region, id) {
    try {
      const answer = await request(regionUrl(region, '/items/' + encodeURIComponent(id)));
      return answer.status === 200 && answer.body ? answer.body.Version : 0;
    } catch (error) {
      return null;
    }
  }

  async function send(again) {
    if (!again || !view.lastEvent) {
      const key = 'page-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 8);
      view.lastEvent = {id: $('item-id').value, data: {text: $('item-data').value}, timestamp: Date.now(), idempotencyKey: key};
    }
    const event = view.lastEvent;
    const region = view.serving || (view.state && view.state.activeRegion) || view.config.regions[0];
    outcome('sending', 'Sending ' + event.idempotencyKey + ' to ' + region + '…');
    const before = await version(region, event.id);
    let answer;
    try {
      answer = await request(regionUrl(region, '/events'), {method: 'POST', headers: {'content-type': 'application/json'},
        body: JSON.stringify(event)});
    } catch (error) {
      outcome('unreachable', 'No answer from ' + region + ': retry after the failover moves traffic to a region that answers.');
      return;
    }
    $('resend').disabled = false;
    if (answer.status === 202) {
      for (let attempt = 0; attempt < 6; attempt += 1) {
        const now = await version(region, event.id);
        if (now !== null && now > before) {
          outcome('applied', 'Applied in ' + region + ': item ' + event.id + ' is at version ' + now + ' (key ' + event.idempotencyKey + ').');
          return;
        }
        if (again && now !== null) {
          outcome('duplicate', 'Duplicate: ' + region + ' had already applied key ' + event.idempotencyKey +
            '; item ' + event.id + ' stays at version ' + now + '.');
          return;
        }
        await new Promise(done => setTimeout(done, 300));
      }
      outcome('accepted', 'Accepted by ' + region + ' (queued); not applied yet.');
    } else if (answer.status === 503) {
      const message = answer.body && answer.body.message ? answer.body.message : 'unavailable';
      const moving = view.state && view.state.status === 'failover' ? 'while the failover runs' : 'while fenced';
      outcome('refused', 'Refused ' + moving + ' by ' + region + ' (503): ' + message + '. Retry after ' +
        (answer.retryAfter || 'a few') + ' s; after the failover the write is accepted.');
    } else {
      const body = answer.body || {};
      outcome('invalid', 'Refused (' + answer.status + ')' + (body.field ? ', field ' + body.field : '') + ': ' + (body.message || ''));
    }
  }

  function setUpForm() {
    const events = view.config.events;
    if (events.mode !== 'direct') {
      $('send').disabled = true;
      const note = $('signed-note');
      note.hidden = false;
      note.textContent = 'POST /events is signed (AWS SigV4, service execute-api): this page holds no AWS credentials, so ' +
        'send events from a signed client, e.g. awscurl --service execute-api --region <region> -X POST ' +
        (events.endpoint || 'the API\'s /events endpoint') + ' -d \'{"id": …, "data": …, "timestamp": …, "idempotencyKey": …}\'.' +
        ' This page then shows the state the write meets.';
      return;
    }
    $('event-form').addEventListener('submit', e => { e.preventDefault(); send(false); });
    $('resend').addEventListener('click', () => send(true));
  }

  async function start() {
    try { view.first = JSON.parse(sessionStorage.getItem(FIRST_KEY) || 'null'); } catch (error) { view.first = null; }
    $('reload').addEventListener('click', () => { sessionStorage.removeItem(FIRST_KEY); location.reload(); });
    try {
      const response = await fetch('config.json', {cache: 'no-store'});
      view.config = await response.json();
    } catch (error) {
      $('overall').dataset.state = 'unknown';
      $('overall').textContent = 'This page could not read its config.json.';
      return;
    }
    setUpForm();
    const loop = async () => {
      await refresh();
      setTimeout(loop, view.config.refreshSeconds * 1000);
    };
    loop();
  }

  window.statusPage = view;  // for the drill's browser test: what the page decided
  start();
})();
