// The message browser: one partition from an offset, a time, the start or the
// end; a search over keys, values and headers done by the broker; live tail
// (polling from the next offset); download as JSON lines (the broker caps it).
import { call, v3, k1, enc, session } from './api.js';
import { h, table, section, field, form, select, toast, fail, fmt_time } from './ui.js';

let tail_timer = null;
export function stop_tail() {
  if (tail_timer) clearInterval(tail_timer);
  tail_timer = null;
}

function cell(v, encoding) {
  if (v === null || v === undefined) return h('span', { class: 'muted' }, 'null');
  const text = encoding === 'base64' ? 'base64:' + v : v;
  return h('span', { class: 'val', title: text.length > 200 ? text.slice(0, 2000) : null }, text.length > 200 ? text.slice(0, 200) + '…' : text);
}

export async function messages(main, topic) {
  const list = await call('GET', v3('/topics'));
  const names = list.data.map((t) => t.topic_name).sort();
  if (!topic) topic = names[0];
  main.append(h('h1', null, 'Messages'));
  if (!topic) {
    main.append(h('p', { class: 'muted' }, 'No topics to browse.'));
    return;
  }
  const t = list.data.find((x) => x.topic_name === topic);
  const partitions = Array.from({ length: t ? t.partitions_count : 1 }, (_, i) => i);
  const results = h('div', { id: 'records' });
  const status = h('p', { class: 'muted small', id: 'records-status' });
  let rows = [];
  let next = null;
  let query = null;

  const draw = () => {
    results.replaceChildren(table([
      { label: 'Offset', class: 'num', get: (r) => String(r.offset) },
      { label: 'Time', get: (r) => fmt_time(r.timestamp) },
      { label: 'Key', get: (r) => cell(r.key, r.key_encoding) },
      { label: 'Value', get: (r) => cell(r.value, r.value_encoding) },
      { label: 'Headers', get: (r) => r.headers.map((x) => `${x.key}=${x.value_encoding === 'base64' ? 'base64:' : ''}${x.value === null ? 'null' : x.value}`).join(', ') },
    ], rows, { empty: 'No records', cls: 'records' }));
  };

  const url = (q, from) => {
    const p = new URLSearchParams({ partition: q.partition, limit: q.limit });
    if (from !== undefined) p.set('offset', from);
    else if (q.timestamp !== undefined) p.set('timestamp', q.timestamp);
    if (q.search) { p.set('search', q.search); p.set('in', q.in); }
    return k1(`/topics/${enc(topic)}/records?${p}`);
  };

  const load = async (q, append) => {
    const r = await call('GET', url(q, q.offset));
    rows = append ? rows.concat(r.data) : r.data;
    next = r.next_offset;
    q.offset = next;
    status.textContent = `${rows.length} record(s) shown · next offset ${next} · high watermark ${r.high_watermark}` +
      (r.scan_capped ? ' · the search stopped at its byte cap: press More to go on' : '');
    draw();
    return r;
  };

  const f = form(async (d) => {
    stop_tail();
    const q = { partition: d.get('partition'), limit: d.get('limit') || 50, search: d.get('search'),
      in: ['key', 'value', 'headers'].filter((x) => d.get('in_' + x)).join(',') || 'key,value,headers' };
    const from = d.get('from');
    if (from === 'offset') q.offset = Number(d.get('value') || 0);
    else if (from === 'time') {
      const ts = Date.parse(d.get('value'));
      if (Number.isNaN(ts)) throw new Error('Give a date and time, e.g. 2026-12-06T10:00');
      q.timestamp = ts;
    } else if (from === 'end') {
      // The high watermark first, then the last `limit` records before it.
      const probe = await call('GET', url({ ...q, search: '', limit: 1 }, undefined));
      q.offset = Math.max(probe.log_start_offset, probe.high_watermark - Number(q.limit));
    }
    query = q;
    await load(q, false);
  },
  field('Topic', select('topic', names, topic)),
  field('Partition', select('partition', partitions, 0)),
  field('From', select('from', [['start', 'the start'], ['offset', 'an offset'], ['time', 'a time'], ['end', 'the end (latest)']], 'start')),
  field('Offset or time', h('input', { name: 'value', placeholder: '42 or 2026-12-06T10:00' })),
  field('Search', h('input', { name: 'search', type: 'search', placeholder: 'text in key, value or headers', id: 'search' })),
  h('fieldset', { class: 'checks' }, h('legend', null, 'Search in'),
    ['key', 'value', 'headers'].map((x) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'in_' + x, checked: true }), ' ' + x))),
  field('Limit', h('input', { name: 'limit', type: 'number', min: 1, max: 1000, value: 50 })),
  h('button', { type: 'submit', id: 'browse' }, 'Show'));
  f.querySelector('select[name=topic]').addEventListener('change', (e) => { location.hash = '#/messages/' + enc(e.target.value); });

  const more = h('button', { type: 'button', class: 'secondary', onclick: () => query && load(query, true).catch(fail) }, 'More');
  const tail = h('button', { type: 'button', class: 'secondary', id: 'tail', onclick: () => {
    if (tail_timer) { stop_tail(); tail.textContent = 'Live tail'; return; }
    if (!query) { toast('Show some records first'); return; }
    tail.textContent = 'Stop tail';
    tail_timer = setInterval(() => {
      if (!document.body.contains(tail)) return stop_tail();
      load(query, true).catch((e) => { stop_tail(); fail(e); });
    }, 2000);
  } }, 'Live tail');
  const download = h('button', { type: 'button', class: 'secondary', id: 'download', onclick: async () => {
    if (!query) { toast('Show some records first'); return; }
    try {
      const p = new URLSearchParams({ partition: query.partition, format: 'download', offset: rows.length ? rows[0].offset : (query.offset || 0) });
      if (query.search) { p.set('search', query.search); p.set('in', query.in); }
      const r = await call('GET', k1(`/topics/${enc(topic)}/records?${p}`), undefined, true);
      const blob = await r.blob();
      const a = h('a', { href: URL.createObjectURL(blob), download: `${topic}-${query.partition}.jsonl` });
      document.body.append(a); a.click(); a.remove();
      if (r.headers.get('X-Keel-Truncated') === 'true') toast('The download stopped at the broker\'s size cap (console.records.download.max.bytes)');
    } catch (e) { fail(e); }
  } }, 'Download');
  main.append(section(topic, f), section('Records', h('div', { class: 'row' }, more, tail, download), status, results));
}
