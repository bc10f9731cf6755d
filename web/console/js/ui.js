// DOM helpers shared by the pages: element building, tables, messages, the
// read-only switch and a small SVG line chart.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const state = { writable: true };

// A write control: hidden for a read-only principal.
export function w(el) {
  if (!state.writable) el.hidden = true;
  el.classList.add('write');
  return el;
}

export function toast(message, kind = 'info') {
  const t = h('div', { class: 'toast ' + kind, role: kind === 'error' ? 'alert' : 'status' }, message);
  document.getElementById('toasts').append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

// The message for a failed call; a 403 says the broker's ACLs refused it.
export function why(e) {
  if (e && e.status === 403) return 'Refused by the broker\'s ACLs: ' + e.message;
  if (e && e.status === 401) return 'Not signed in: ' + e.message;
  return (e && e.message) || String(e);
}

export function fail(e) { toast(why(e), 'error'); }

// columns: [{label, get(row) -> node|text, class?}]
export function table(columns, rows, opts = {}) {
  const head = h('tr', null, columns.map((c) => h('th', { class: c.class }, c.label)));
  const body = rows.map((r) => {
    const tr = h('tr', { class: opts.rowClass ? opts.rowClass(r) : null },
      columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.get(r))));
    return tr;
  });
  const t = h('table', { class: 'grid' + (opts.cls ? ' ' + opts.cls : '') }, h('thead', null, head), h('tbody', null, body));
  if (!rows.length) t.append(h('tbody', null, h('tr', null, h('td', { colspan: columns.length, class: 'muted' }, opts.empty || 'None'))));
  return h('div', { class: 'scroll' }, t);
}

export function section(title, ...content) {
  return h('section', { class: 'card' }, h('h2', null, title), ...content);
}

export function field(label, input) {
  return h('label', { class: 'field' }, h('span', null, label), input);
}

export function form(onsubmit, ...children) {
  const f = h('form', { class: 'form', onsubmit: async (ev) => {
    ev.preventDefault();
    const button = f.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    try { await onsubmit(new FormData(f), f); } catch (e) { fail(e); } finally { if (button) button.disabled = false; }
  } }, ...children);
  return f;
}

export function select(name, options, value) {
  return h('select', { name }, options.map((o) => {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: String(v) === String(value) }, label);
  }));
}

export function fmt_ms(ms) {
  if (ms === null || ms === undefined || ms === '') return '';
  const n = Number(ms);
  if (!Number.isFinite(n) || n < 0) return String(ms);
  const units = [['d', 86400000], ['h', 3600000], ['min', 60000], ['s', 1000]];
  for (const [u, f] of units) if (n >= f && n % f === 0) return (n / f) + ' ' + u;
  return n + ' ms';
}

export function fmt_bytes(b) {
  const n = Number(b);
  if (!Number.isFinite(n) || n < 0) return String(b);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0; let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : v) + ' ' + units[i];
}

export function fmt_time(ms) {
  return ms >= 0 ? new Date(ms).toISOString().replace('T', ' ').replace('Z', '') : '';
}

export function fmt_seconds(s) {
  if (s === null || s === undefined || s < 0) return '–';
  if (s < 120) return s.toFixed(s < 10 ? 1 : 0) + ' s';
  if (s < 7200) return (s / 60).toFixed(0) + ' min';
  return (s / 3600).toFixed(1) + ' h';
}

// A line chart of points [{x, y}] (x: ms), drawn as SVG, scaled to fit.
export function chart(points, label) {
  const W = 600; const H = 140; const P = 28;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  if (points.length < 1) {
    add('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis' }, 'No samples yet');
    return svg;
  }
  const xs = points.map((p) => p.x); const ys = points.map((p) => p.y);
  const x0 = Math.min(...xs); const x1 = Math.max(...xs, x0 + 1);
  const y1 = Math.max(...ys, 1);
  const X = (x) => P + (W - 2 * P) * (x - x0) / (x1 - x0);
  const Y = (y) => H - P + -(H - 2 * P) * y / y1;
  add('line', { x1: P, y1: H - P, x2: W - P, y2: H - P, class: 'axis-line' });
  add('text', { x: 2, y: P, class: 'axis' }, String(y1));
  add('text', { x: 2, y: H - P, class: 'axis' }, '0');
  add('text', { x: P, y: H - 6, class: 'axis' }, new Date(x0).toLocaleTimeString());
  add('text', { x: W - P, y: H - 6, 'text-anchor': 'end', class: 'axis' }, new Date(x1).toLocaleTimeString());
  const d = points.map((p, i) => (i ? 'L' : 'M') + X(p.x).toFixed(1) + ' ' + Y(p.y).toFixed(1)).join(' ');
  add('path', { d, class: 'line' });
  for (const p of points.slice(-1)) add('circle', { cx: X(p.x), cy: Y(p.y), r: 3, class: 'dot' });
  return svg;
}

export function tabs(items, active) {
  return h('div', { class: 'tabs', role: 'tablist' }, items.map(([id, label, href]) =>
    h('a', { href, role: 'tab', class: id === active ? 'active' : null, 'aria-selected': String(id === active) }, label)));
}
