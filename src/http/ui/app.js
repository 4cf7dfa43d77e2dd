// SPDX-License-Identifier: Apache-2.0
// The dashboard: alarm list, alarm detail (chart, history, context of the
// last ALARM, deliveries and responses) and the event explorer, all from the
// daemon's JSON API (docs/dashboard.md).
//
// Token rule: the daemon serves this page without a token (a browser cannot
// send one while navigating) but guards every /api/ call. The page takes the
// token from ?token= once, keeps it in sessionStorage (this tab only, gone
// when it closes), removes it from the address bar, and sends it as
// "Authorization: Bearer"; on a 401 it asks for it.
//
// Every string shown comes from CloudTrail events or the template, i.e. from
// whoever made the API calls: it is always set with textContent, never as
// HTML.
'use strict';

(() => {
  const REFRESH_MS = 5000;
  const TOKEN_KEY = 'keysentry.token';
  const $ = (id) => document.getElementById(id);

  const state = {
    alarms: [],
    selected: null, // alarm name
    rangeSeconds: 0, // 0 = chosen from the alarm's period until the user picks one
    timer: null,
    lastOk: 0,
  };

  // ---- token ---------------------------------------------------------------

  (function takeTokenFromUrl() {
    const u = new URL(window.location.href);
    const t = u.searchParams.get('token');
    if (t) {
      sessionStorage.setItem(TOKEN_KEY, t);
      u.searchParams.delete('token');
      history.replaceState(null, '', u.pathname + (u.search || '') + u.hash);
    }
  })();

  class HttpError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path) {
    const headers = { Accept: 'application/json' };
    const t = sessionStorage.getItem(TOKEN_KEY);
    if (t) headers.Authorization = 'Bearer ' + t;
    const res = await fetch(path, { headers, cache: 'no-store' });
    if (res.status === 401) {
      showTokenGate(sessionStorage.getItem(TOKEN_KEY) ? 'That token was refused.' : '');
      throw new HttpError(401, 'the daemon wants a token');
    }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) throw new HttpError(res.status, (body && body.error) || res.statusText);
    return body;
  }

  function showTokenGate(msg) {
    $('token-gate').hidden = false;
    $('token-error').textContent = msg || '';
    $('token-input').focus();
  }

  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token-input').value);
    $('token-input').value = '';
    $('token-gate').hidden = true;
    refresh();
  });

  // ---- small DOM helpers ---------------------------------------------------

  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }

  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '').replace('Z', '') + ' UTC';
  }
  function ago(iso) {
    const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
    if (!Number.isFinite(s)) return '';
    if (s < 5) return 'just now';
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }
  function stateBadge(s, testid) {
    return h('span', { class: 'state-badge state-' + s, 'data-testid': testid }, s === 'INSUFFICIENT_DATA' ? 'Insufficient data' : s);
  }
  // ARNs are long; the last path element is what people recognise.
  function shortArn(a) {
    if (!a) return '';
    const i = a.lastIndexOf('/');
    return i >= 0 && i < a.length - 1 ? a.slice(i + 1) : a;
  }
  const OPS = {
    GreaterThanThreshold: '>', GreaterThanOrEqualToThreshold: '>=',
    LessThanThreshold: '<', LessThanOrEqualToThreshold: '<=',
  };
  function setStatus(ok, text) {
    const s = $('status');
    s.classList.toggle('down', !ok);
    s.textContent = text;
  }

  // ---- routing: #/alarm/NAME, #/events?field=value -------------------------

  function route() {
    const hash = window.location.hash || '#/';
    document.querySelectorAll('.topnav a').forEach((a) => a.classList.remove('active'));
    if (hash.startsWith('#/alarm/')) {
      state.selected = decodeURIComponent(hash.slice(8));
      $('nav-alarms').classList.add('active');
    } else if (hash.startsWith('#/events')) {
      $('nav-events').classList.add('active');
      const q = new URLSearchParams(hash.split('?')[1] || '');
      if ([...q.keys()].length) {
        fillForm(q);
        searchEvents();
      }
      $('events-view').scrollIntoView({ block: 'start' });
    } else {
      $('nav-alarms').classList.add('active');
    }
    renderAlarmList();
    refreshSelected().catch((e) => setStatus(false, e.message));
  }
  window.addEventListener('hashchange', route);

  // ---- alarm list ----------------------------------------------------------

  async function refreshAlarms() {
    const data = await api('/api/alarms');
    state.alarms = data.alarms || [];
    if (!state.selected && state.alarms.length && !window.location.hash.startsWith('#/events')) {
      // the alarm most worth seeing: one in ALARM, else the first
      const pick = state.alarms.find((a) => a.state === 'ALARM') || state.alarms[0];
      state.selected = pick.name;
    }
    renderAlarmList();
  }

  // The template's metric filters: events matched since start, and the
  // metrics they feed (lifetime sample counts, restored with --data).
  async function refreshFilters() {
    const data = await api('/api/metrics');
    const ul = clear($('filters'));
    const filters = Object.entries(data.filters || {});
    for (const [name, st] of filters) {
      ul.appendChild(h('li', { 'data-filter': name }, h('span', { class: 'name' }, name), h('span', { class: 'n' }, st.matched)));
    }
    for (const m of data.metrics || []) {
      ul.appendChild(h('li', {},
        h('span', { class: 'name' }, m.metricName, h('span', { class: 'sub' }, m.namespace)),
        h('span', { class: 'n', title: 'samples since the store began' }, KsChart.fmtValue(m.sampleCount))));
    }
    if (!filters.length && !(data.metrics || []).length) ul.appendChild(h('li', { class: 'muted' }, 'none'));
  }

  function renderAlarmList() {
    const body = clear($('alarm-rows'));
    const n = { ALARM: 0, OK: 0, INSUFFICIENT_DATA: 0 };
    const order = { ALARM: 0, INSUFFICIENT_DATA: 1, OK: 2 };
    const rows = [...state.alarms].sort((a, b) => (order[a.state] - order[b.state]) || a.name.localeCompare(b.name));
    for (const a of rows) {
      n[a.state] = (n[a.state] || 0) + 1;
      const tr = h('tr', {
        class: 'clickable' + (a.name === state.selected ? ' selected' : ''),
        'data-testid': 'alarm-row', 'data-alarm': a.name, 'data-state': a.state,
        title: a.reason,
        onclick: () => { window.location.hash = '#/alarm/' + encodeURIComponent(a.name); },
      },
      h('td', {}, stateBadge(a.state, 'alarm-state')),
      h('td', {}, h('a', { href: '#/alarm/' + encodeURIComponent(a.name) }, a.name),
        a.type === 'CompositeAlarm' ? h('span', { class: 'muted' }, ' (composite)') : null,
        a.earlyFire ? h('span', { class: 'muted', title: 'early fire enabled' }, ' ⚡') : null),
      h('td', { title: fmtTime(a.updated) }, ago(a.updated)));
      body.appendChild(tr);
    }
    $('alarm-empty').hidden = state.alarms.length > 0;
    $('alarm-counts').textContent =
      `${n.ALARM} in alarm · ${n.OK} OK · ${n.INSUFFICIENT_DATA} insufficient`;
  }

  // ---- alarm detail ----------------------------------------------------------

  function definitionText(d) {
    if (d.type === 'CompositeAlarm') return 'Rule: ' + d.alarmRule;
    const stat = d.statistic || d.extendedStatistic;
    const m = d.datapointsToAlarm, n = d.evaluationPeriods;
    const within = n * d.period;
    const span = within % 60 === 0 ? `${within / 60} minute${within === 60 ? '' : 's'}` : `${within} seconds`;
    return `${d.metricName} ${OPS[d.comparisonOperator] || d.comparisonOperator} ${KsChart.fmtValue(d.threshold)} ` +
      `for ${m} datapoint${m === 1 ? '' : 's'} within ${span} (${stat}, ${d.period} s periods)`;
  }

  function renderDetail(d) {
    $('alarm-placeholder').hidden = true;
    $('alarm-detail').hidden = false;
    const badge = $('detail-state');
    badge.className = 'state-badge state-' + d.state;
    badge.textContent = d.state === 'INSUFFICIENT_DATA' ? 'Insufficient data' : d.state;
    $('detail-name').textContent = d.name;
    $('detail-description').textContent = d.description || '';
    $('detail-definition').textContent = definitionText(d);
    $('detail-reason').textContent = d.reason;
    const facts = clear($('detail-facts'));
    const fact = (k, v, wide) => {
      if (v !== undefined && v !== null && v !== '') facts.appendChild(h('div', { class: wide ? 'wide' : null }, h('dt', {}, k), h('dd', {}, String(v))));
    };
    if (d.type === 'MetricAlarm') {
      fact('Namespace', d.namespace);
      const dims = Object.entries(d.dimensions || {}).map(([k, v]) => `${k}=${v}`).join(', ');
      fact('Dimensions', dims || 'none');
      fact('Missing data', d.treatMissingData);
      fact('Early fire', d.earlyFire ? 'on' : 'off');
    }
    fact('Last change', fmtTime(d.updated));
    fact('Actions on ALARM', (d.alarmActions || []).join(', ') || 'none', true);
    $('chart-panel').hidden = d.type !== 'MetricAlarm';
    if (d.type === 'MetricAlarm') $('chart-title').textContent = `${d.metricName} · ${d.statistic || d.extendedStatistic}`;
  }

  // About 90 periods on screen, as the nearest button: 15m for the lab's
  // 10 s periods, 1h for one-minute alarms.
  function defaultRange(period) {
    const want = period * 90;
    const choices = [...document.querySelectorAll('#range button')].map((b) => Number(b.dataset.range));
    return choices.reduce((best, r) => (Math.abs(Math.log(r / want)) < Math.abs(Math.log(best / want)) ? r : best));
  }

  function renderRangeButtons(period, range) {
    document.querySelectorAll('#range button').forEach((b) => {
      const r = Number(b.dataset.range);
      b.disabled = r / period >= 1440; // the API's cap on periods per answer
      b.classList.toggle('active', r === range);
    });
  }
  document.querySelectorAll('#range button').forEach((b) => b.addEventListener('click', () => {
    state.rangeSeconds = Number(b.dataset.range);
    refreshSelected();
  }));

  function renderChart(series) {
    const now = Date.now();
    KsChart.draw($('chart'), series, now);
    const legend = clear($('chart-legend'));
    legend.appendChild(h('span', {}, h('span', { class: 'swatch sw-metric' }), `${series.statistic} per ${series.period} s`));
    legend.appendChild(h('span', {}, h('span', { class: 'swatch sw-threshold' }),
      `threshold ${OPS[series.comparisonOperator] || ''} ${KsChart.fmtValue(series.threshold)}`));
    for (const s of ['ALARM', 'OK', 'INSUFFICIENT_DATA']) {
      legend.appendChild(h('span', {}, h('span', { class: 'swatch sw-' + s }), s === 'INSUFFICIENT_DATA' ? 'Insufficient data' : s));
    }
  }

  function historyReason(item) {
    const d = item.data;
    if (!d) return '';
    if (d.newState && d.newState.stateReason) return d.newState.stateReason;
    if (item.type === 'Action') {
      const res = d.actionState ? d.actionState + ': ' : '';
      return res + shortArn(d.notificationResource || '') + (d.error ? ' — ' + d.error : '');
    }
    return '';
  }

  function renderHistory(hist) {
    const list = clear($('history'));
    const items = [...(hist.history || [])].reverse();
    for (const it of items) {
      const to = it.data && it.data.newState ? it.data.newState.stateValue : '';
      list.appendChild(h('li', { class: to ? 'to-' + to : '', 'data-testid': 'history-item', 'data-type': it.type, 'data-to': to || null },
        h('div', {}, h('span', { class: 'when' }, fmtTime(it.timestamp)), h('span', { class: 'type' }, it.type)),
        h('div', { class: 'summary' }, it.summary),
        h('div', { class: 'detail' }, historyReason(it))));
    }
    if (!items.length) list.appendChild(h('li', {}, h('span', { class: 'muted' }, 'No history yet.')));
  }

  function explorerLink(field, value) {
    const q = new URLSearchParams({ [field]: value });
    return '#/events?' + q.toString();
  }

  function topList(title, field, items, total) {
    const box = h('div', {}, h('h3', {}, title));
    const ul = h('ul', { class: 'top-list', 'data-testid': 'top-' + field });
    for (const it of items || []) {
      const pct = total ? Math.max(2, Math.round((100 * it.count) / total)) : 0;
      const bar = h('span', {});
      bar.style.width = pct + '%';
      const value = field ? h('a', { href: explorerLink(field, it.value), title: 'Search these events' }, it.value) : it.value;
      ul.appendChild(h('li', {}, h('span', { class: 'value' }, value), h('span', { class: 'count' }, it.count),
        h('span', { class: 'bar' }, bar)));
    }
    if (!items || !items.length) ul.appendChild(h('li', { class: 'muted' }, 'none'));
    box.appendChild(ul);
    return box;
  }

  function renderContext(c) {
    const box = clear($('context'));
    if (!c.lastAlarm) {
      box.appendChild(h('p', { class: 'muted' }, 'This alarm has not been in ALARM since the daemon started.'));
      return;
    }
    if (!c.context) {
      box.appendChild(h('p', { class: 'muted' }, `Last ALARM at ${fmtTime(c.lastAlarm)}. A composite alarm has no events of its own: open its children.`));
      return;
    }
    const x = c.context;
    box.appendChild(h('p', { class: 'ctx-window' },
      `ALARM at ${fmtTime(c.lastAlarm)}${c.earlyFire ? ' (early fire)' : ''} · `,
      h('strong', {}, `${x.matchingEvents} matching event${x.matchingEvents === 1 ? '' : 's'}`),
      ` in ${fmtTime(x.windowStart)} – ${fmtTime(x.windowEnd)}`));
    const total = x.matchingEvents;
    box.appendChild(h('div', { class: 'tops' },
      topList('Principals', 'principal', x.topPrincipals, total),
      topList('Keys', 'key', x.topKeys, total),
      topList('Source IPs', 'sourceIp', x.topSourceIPs, total),
      topList('Error codes', 'errorCode', x.topErrorCodes, total)));
    const recent = x.recentEvents || [];
    if (recent.length) {
      const t = h('table', { class: 'table recent', 'data-testid': 'context-events' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Event time'), h('th', {}, 'Event'), h('th', {}, 'Principal'), h('th', {}, 'Origin'))));
      const tb = h('tbody', {});
      for (const e of recent) {
        const o = e.origin || {};
        tb.appendChild(h('tr', {},
          h('td', { title: fmtTime(e.eventTime) }, fmtClockIso(e.eventTime)),
          h('td', {}, e.eventName, ' ', e.errorCode ? h('span', { class: 'pill' }, e.errorCode) : null),
          h('td', { title: e.principal }, shortArn(e.principal)),
          h('td', { class: 'origin mono' }, o.file ? `${o.file}:${o.offset}` : '')));
      }
      t.appendChild(tb);
      box.appendChild(t);
    }
  }

  // /api/deliveries and /api/responses (newest first), for the open alarm.
  // Delivery rows: one per attempt (status delivered, retrying or failed);
  // response rows: one per run of a Keysentry::Response.
  const DELIVERY_COLS = [
    ['Time', (r) => fmtClockIso(r.time)],
    ['Target', (r) => [r.protocol ? r.protocol + ' → ' : '', actionName(r.action || r.target)]],
    ['Status', (r) => statusPill(r.status, r.attempt > 1 ? ` (attempt ${r.attempt})` : '', r.error)],
  ];
  const RESPONSE_COLS = [
    ['Time', (r) => fmtClockIso(r.time)],
    ['Response', (r) => [r.response || '', r.revert ? ' (revert)' : '', r.dryRun ? ' (dry run)' : '']],
    ['Status', (r) => statusPill(r.status, '', r.error)],
    ['Summary', (r) => r.summary || ''],
  ];

  // An SNS topic or subscription ARN reads best as its topic name.
  function actionName(arn) {
    const p = (arn || '').split(':');
    return p[0] === 'arn' && p[2] === 'sns' && p.length >= 6 ? p[5] : shortArn(arn);
  }

  function fmtClockIso(iso) {
    return iso ? new Date(iso).toISOString().slice(11, 19) : '';
  }
  function statusPill(status, extra, error) {
    const good = status === 'delivered' || status === 'ok';
    return h('span', { title: error || '' }, h('span', { class: 'pill ' + (good ? 'good' : status === 'retrying' ? 'warn' : '') }, status || '?'), extra);
  }

  function renderActionList(target, data, key, cols, alarm) {
    const box = clear(target);
    const rows = ((data && data[key]) || []).filter((r) => !r.alarm || r.alarm === alarm).slice(0, 8);
    if (!rows.length) {
      box.appendChild(h('p', { class: 'muted' }, 'none'));
      return;
    }
    const t = h('table', { class: 'table compact' }, h('thead', {}, h('tr', {}, cols.map(([name]) => h('th', {}, name)))));
    const tb = h('tbody', {});
    for (const r of rows) tb.appendChild(h('tr', {}, cols.map(([, f]) => h('td', {}, f(r)))));
    t.appendChild(tb);
    box.appendChild(t);
  }

  async function refreshActions(alarm) {
    const lists = [
      ['/api/deliveries', 'deliveries', DELIVERY_COLS],
      ['/api/responses', 'responses', RESPONSE_COLS],
    ];
    for (const [path, key, cols] of lists) {
      try {
        renderActionList($(key), await api(path), key, cols, alarm);
      } catch (e) {
        // a daemon without the notify hub has no such endpoint: nothing to show
        if (e.status === 404) renderActionList($(key), null, key, cols, alarm);
        else clear($(key)).appendChild(h('p', { class: 'error' }, e.message));
      }
    }
  }

  let detailSeq = 0;
  async function refreshSelected() {
    const name = state.selected;
    if (!name) return;
    const seq = ++detailSeq;
    const base = '/api/alarms/' + encodeURIComponent(name);
    let d;
    try {
      d = await api(base);
    } catch (e) {
      if (e.status === 404) {
        $('alarm-detail').hidden = true;
        $('alarm-placeholder').hidden = false;
        $('alarm-placeholder').textContent = `No alarm named "${name}".`;
        return;
      }
      throw e;
    }
    if (seq !== detailSeq) return; // a newer selection won
    renderDetail(d);
    const end = Date.now();
    const jobs = [api(base + '/history'), api(base + '/context')];
    if (d.type === 'MetricAlarm') {
      const range = state.rangeSeconds || defaultRange(d.period);
      renderRangeButtons(d.period, range);
      const start = end - range * 1000;
      jobs.push(api(`${base}/series?start=${new Date(start).toISOString()}&end=${new Date(end).toISOString()}`));
    }
    const [hist, ctx, series] = await Promise.all(jobs);
    if (seq !== detailSeq) return;
    renderHistory(hist);
    renderContext(ctx);
    if (series) renderChart(series);
    refreshActions(name).catch(() => {});
  }

  // ---- event explorer ------------------------------------------------------

  const FIELDS = ['principal', 'key', 'eventName', 'errorCode', 'sourceIp', 'from', 'to', 'limit'];

  function fillForm(q) {
    const f = $('event-form');
    for (const k of FIELDS) if (k !== 'limit') f.elements[k].value = q.get(k) || '';
    if (q.get('limit')) f.elements.limit.value = q.get('limit');
  }

  async function searchEvents() {
    const f = $('event-form');
    const q = new URLSearchParams();
    for (const k of FIELDS) {
      const v = f.elements[k].value.trim();
      if (v) q.set(k, v);
    }
    $('event-error').textContent = '';
    let data;
    try {
      data = await api('/api/events?' + q.toString());
    } catch (e) {
      $('event-error').textContent = e.message;
      return;
    }
    $('ring-info').textContent = `${data.ringSize} of ${data.ringCapacity} recent events kept`;
    const body = clear($('event-rows'));
    for (const ev of data.events) {
      const o = ev.origin || {};
      const where = o.file ? `${o.file}:${o.offset}` : `offset ${o.offset}`;
      const originText = [o.source, where, o.logStream ? `${o.logGroup}/${o.logStream}` : ''].filter(Boolean).join(' · ');
      const row = h('tr', { class: 'clickable', 'data-testid': 'event-row', 'data-event-id': ev.eventID },
        h('td', {}, fmtTime(ev.eventTime)),
        h('td', {}, ev.eventName),
        h('td', {}, ev.errorCode ? h('span', { class: 'pill' }, ev.errorCode) : ''),
        h('td', { title: ev.principal }, shortArn(ev.principal)),
        h('td', {}, ev.sourceIPAddress),
        h('td', { class: 'origin', 'data-testid': 'event-origin', title: 'received ' + fmtTime(o.received) }, originText));
      let open = null;
      row.addEventListener('click', () => {
        if (open) { open.remove(); open = null; return; }
        let pretty = ev.record;
        try { pretty = JSON.stringify(JSON.parse(ev.record), null, 2); } catch (e) { /* shown raw */ }
        open = h('tr', { class: 'record', 'data-testid': 'event-record' }, h('td', { colspan: 6 }, h('pre', {}, pretty)));
        row.after(open);
      });
      body.appendChild(row);
    }
    $('event-empty').hidden = data.events.length > 0;
    $('event-empty').textContent = data.events.length ? '' : 'No recent event matches.';
  }

  $('event-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    searchEvents();
  });
  $('event-reset').addEventListener('click', () => {
    clear($('event-rows'));
    $('event-empty').hidden = false;
    $('event-empty').textContent = 'Search the recent events by any field above.';
  });

  // ---- theme -----------------------------------------------------------------

  function applyTheme(t) {
    document.documentElement.dataset.theme = t;
  }
  const savedTheme = localStorage.getItem('keysentry.theme');
  applyTheme(savedTheme || (window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
  $('theme').addEventListener('click', () => {
    const t = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    localStorage.setItem('keysentry.theme', t);
    applyTheme(t);
    refreshSelected().catch(() => {});
  });

  // ---- refresh loop ----------------------------------------------------------

  async function refresh() {
    try {
      await refreshAlarms();
      await Promise.all([refreshSelected(), refreshFilters()]);
      state.lastOk = Date.now();
      setStatus(true, 'live · ' + new Date().toISOString().slice(11, 19) + ' UTC');
    } catch (e) {
      setStatus(false, e.status === 401 ? 'token needed' : 'cannot reach the daemon: ' + e.message);
    }
  }

  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => refreshSelected().catch(() => {}), 200);
  });

  route();
  refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
})();
