// SPDX-License-Identifier: Apache-2.0
// The alarm chart, drawn as SVG by hand (no library, no CDN): the alarm's
// statistic per period as a line through its points, the threshold as a dashed red
// line with the breaching side shaded, and the alarm's states over time as a
// band along the top (and a faint tint behind ALARM spans), as the CloudWatch
// console draws an alarm. Stable data-testid attributes let the browser test
// find the threshold line, the bands and the points.
'use strict';

const KsChart = (() => {
  const NS = 'http://www.w3.org/2000/svg';
  const M = { left: 54, right: 20, top: 22, bottom: 30 };
  const BAND = 8; // height of the state strip above the plot

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (parent) parent.appendChild(e);
    return e;
  }

  // Round tick steps (1, 2, 5 x 10^k) so the y axis reads like CloudWatch's.
  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  }

  function fmtValue(v) {
    if (v === 0) return '0';
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
    if (Number.isInteger(v)) return String(v);
    return Number(v.toPrecision(3)).toString();
  }

  function pad(n) { return String(n).padStart(2, '0'); }
  function fmtClock(ms, withSeconds) {
    const d = new Date(ms);
    const hm = pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
    return withSeconds ? hm + ':' + pad(d.getUTCSeconds()) : hm;
  }

  // Time ticks on round boundaries of a step chosen from the range.
  function timeTicks(t0, t1) {
    const steps = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600].map((s) => s * 1000);
    const span = t1 - t0;
    const step = steps.find((s) => span / s <= 8) || 43200000;
    const out = [];
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
    return { ticks: out, seconds: step < 60000 };
  }

  function breachesAbove(op) {
    return op === 'GreaterThanThreshold' || op === 'GreaterThanOrEqualToThreshold';
  }
  function breachesBelow(op) {
    return op === 'LessThanThreshold' || op === 'LessThanOrEqualToThreshold';
  }

  // series: the /api/alarms/NAME/series answer; now: the page's clock.
  function draw(svg, series, now) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const box = svg.getBoundingClientRect();
    const W = Math.max(320, Math.round(box.width || 800));
    const H = Math.max(180, Math.round(box.height || 280));
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const t0 = Date.parse(series.start);
    const t1 = Date.parse(series.end);
    const period = series.period * 1000;
    const pts = series.datapoints.map((d) => ({
      t: Date.parse(d.timestamp), v: d.value, n: d.sampleCount,
    }));
    const thr = series.threshold;

    let lo = Math.min(0, thr, ...pts.map((p) => p.v));
    let hi = Math.max(thr, ...pts.map((p) => p.v));
    if (hi === lo) hi = lo + 1;
    const step = niceStep((hi - lo) * 1.15, 5);
    hi = Math.ceil((hi + (hi - lo) * 0.1) / step) * step;
    lo = Math.floor(lo / step) * step;

    const x0 = M.left, x1 = W - M.right;
    const y0 = M.top + BAND + 6, y1 = H - M.bottom;
    const X = (t) => x0 + ((t - t0) / (t1 - t0)) * (x1 - x0);
    const Y = (v) => y1 - ((v - lo) / (hi - lo)) * (y1 - y0);
    const clampX = (t) => Math.min(x1, Math.max(x0, X(t)));

    // state tints behind the plot, then the strip on top
    const bands = el('g', { 'data-testid': 'state-bands' }, svg);
    for (const s of series.states) {
      let a = clampX(Date.parse(s.start));
      const b = clampX(Date.parse(s.end));
      // a state entered seconds ago is still worth seeing: at least 3 px
      if (b - a < 3) a = Math.max(x0, b - 3);
      if (b - a < 1) continue;
      el('rect', { x: a, y: y0, width: b - a, height: y1 - y0, class: 'shade-' + s.state }, bands);
      const strip = el('rect', {
        x: a, y: M.top, width: b - a, height: BAND, class: 'band-' + s.state,
        'data-testid': 'state-band', 'data-state': s.state,
      }, bands);
      el('title', {}, strip).textContent =
        `${s.state}  ${fmtClock(Date.parse(s.start), true)} – ${fmtClock(Date.parse(s.end), true)} UTC`;
    }

    // grid and y axis
    const grid = el('g', {}, svg);
    for (let v = lo; v <= hi + step / 2; v += step) {
      const y = Y(v);
      el('line', { x1: x0, x2: x1, y1: y, y2: y, class: 'grid' }, grid);
      el('text', { x: x0 - 8, y: y + 4, 'text-anchor': 'end' }, grid).textContent = fmtValue(v);
    }
    const tt = timeTicks(t0, t1);
    for (const t of tt.ticks) {
      const x = X(t);
      el('line', { x1: x, x2: x, y1: y1, y2: y1 + 4, class: 'axis' }, grid);
      el('text', { x, y: y1 + 18, 'text-anchor': 'middle' }, grid).textContent = fmtClock(t, tt.seconds);
    }
    el('line', { x1: x0, x2: x1, y1: y1, y2: y1, class: 'axis' }, grid);

    // the breaching side of the threshold, then the threshold itself
    const ty = Y(thr);
    if (breachesAbove(series.comparisonOperator)) {
      el('rect', { x: x0, y: y0, width: x1 - x0, height: Math.max(0, ty - y0), class: 'breach' }, svg);
    } else if (breachesBelow(series.comparisonOperator)) {
      el('rect', { x: x0, y: ty, width: x1 - x0, height: Math.max(0, y1 - ty), class: 'breach' }, svg);
    }
    const tl = el('line', {
      x1: x0, x2: x1, y1: ty, y2: ty, class: 'threshold',
      'data-testid': 'threshold-line', 'data-threshold': thr,
    }, svg);
    el('title', {}, tl).textContent = `threshold ${fmtValue(thr)} (${series.comparisonOperator})`;
    el('text', { x: x1 - 4, y: ty - 5, 'text-anchor': 'end', class: 'threshold-label' }, svg)
      .textContent = 'threshold ' + fmtValue(thr);

    // now marker, when the range reaches it
    if (now >= t0 && now <= t1) {
      el('line', { x1: X(now), x2: X(now), y1: y0, y2: y1, class: 'now' }, svg);
    }

    // the metric: points joined in time order, as the console draws a line
    // chart; a period without samples has no point (it is not a zero)
    const metric = el('g', { 'data-testid': 'metric' }, svg);
    if (pts.length > 1) {
      el('polyline', { points: pts.map((p) => `${X(p.t + period / 2)},${Y(p.v)}`).join(' '), class: 'metric' }, metric);
    }
    for (const p of pts) {
      const c = el('circle', {
        cx: X(p.t + period / 2), cy: Y(p.v), r: pts.length > 120 ? 2 : 3.5, class: 'point',
        'data-testid': 'datapoint', 'data-value': p.v,
      }, metric);
      el('title', {}, c).textContent =
        `${fmtClock(p.t, true)} UTC  ${series.statistic} ${fmtValue(p.v)}  (${p.n} samples)`;
    }
    if (!pts.length) {
      el('text', { x: (x0 + x1) / 2, y: (y0 + y1) / 2, 'text-anchor': 'middle', class: 'nodata' }, svg)
        .textContent = 'No datapoints in this range';
    }
  }

  return { draw, fmtValue };
})();
