// Consumer groups: the list with their lag, one group with its members, lag
// per partition in offsets and seconds, the lag trend, and offset reset with
// a preview (the /keel/v1 offsets:reset route, dry_run first).
import { call, v3, k1, enc, pool } from './api.js';
import { h, w, table, section, field, form, select, toast, fail, chart, fmt_seconds, fmt_time } from './ui.js';

export async function groups(main) {
  const list = await call('GET', v3('/consumer-groups'));
  const rows = list.data.sort((a, b) => a.consumer_group_id.localeCompare(b.consumer_group_id));
  const lags = await pool(rows, 6, (g) => call('GET', v3(`/consumer-groups/${enc(g.consumer_group_id)}/lag-summary`)));
  main.append(h('h1', null, 'Consumer groups'), section(`Groups (${rows.length})`, table([
    { label: 'Group', get: (g) => h('a', { href: '#/groups/' + enc(g.consumer_group_id) }, g.consumer_group_id) },
    { label: 'State', get: (g) => h('span', { class: 'state ' + g.state.toLowerCase() }, g.state.toLowerCase().replace(/_/g, ' ')) },
    { label: 'Total lag', class: 'num', get: (g, i) => {
      const l = lags[rows.indexOf(g)];
      return l && l.total_lag !== undefined ? String(l.total_lag) : '–';
    } },
    { label: 'Max lag', class: 'num', get: (g) => {
      const l = lags[rows.indexOf(g)];
      return l && l.max_lag !== undefined ? `${l.max_lag} (${l.max_lag_topic_name}-${l.max_lag_partition_id})` : '–';
    } },
  ], rows, { empty: 'No consumer groups' })));
}

// Seconds behind for a partition: now minus the timestamp of the record at
// the committed offset (read through the message browser route).
async function seconds_behind(l) {
  if (l.lag <= 0) return 0;
  const r = await call('GET', k1(`/topics/${enc(l.topic_name)}/records?partition=${l.partition_id}&offset=${l.current_offset}&limit=1`));
  return r.data.length ? Math.max(0, (Date.now() - r.data[0].timestamp) / 1000) : null;
}

export async function group(main, id) {
  const base = v3('/consumer-groups/' + enc(id));
  const [g, consumers, lags, history] = await Promise.all([
    call('GET', base),
    call('GET', base + '/consumers'),
    call('GET', base + '/lags').catch((e) => ({ data: [], error: e })),
    call('GET', k1(`/consumer-groups/${enc(id)}/lag-history`)).catch(() => ({ data: [] })),
  ]);
  const lagrows = lags.data.sort((a, b) => a.topic_name.localeCompare(b.topic_name) || a.partition_id - b.partition_id);
  const secs = await pool(lagrows.slice(0, 50), 6, seconds_behind);
  const total = lagrows.reduce((s, l) => s + Math.max(0, l.lag), 0);
  const points = history.data.map((s) => ({ x: s.time, y: s.lag }));
  main.append(
    h('h1', null, id),
    h('p', { class: 'muted' }, `state ${g.state.toLowerCase()} · ${consumers.data.length} member(s) · assignor ${g.partition_assignor || '–'}`),
    section('Members', table([
      { label: 'Consumer', get: (c) => c.consumer_id },
      { label: 'Client', get: (c) => c.client_id },
      { label: 'Instance', get: (c) => c.instance_id || '–' },
    ], consumers.data, { empty: 'No members (the group is empty)' })),
    section('Lag', h('p', null, h('strong', { id: 'total-lag' }, String(total)), ' offsets behind in total'),
      lags.error ? h('p', { class: 'bad' }, lags.error.message) : null,
      table([
        { label: 'Topic', get: (l) => h('a', { href: '#/topics/' + enc(l.topic_name) }, l.topic_name) },
        { label: 'Partition', class: 'num', get: (l) => String(l.partition_id) },
        { label: 'Committed', class: 'num', get: (l) => String(l.current_offset) },
        { label: 'End', class: 'num', get: (l) => String(l.log_end_offset) },
        { label: 'Lag', class: 'num', get: (l) => String(l.lag) },
        { label: 'Behind', class: 'num', get: (l) => {
          const s = secs[lagrows.indexOf(l)];
          return typeof s === 'number' ? fmt_seconds(s) : '–';
        } },
      ], lagrows, { rowClass: (l) => (l.lag > 0 ? 'lagging' : null), empty: 'No committed offsets' })),
    section('Lag trend', chart(points, 'Total lag of ' + id),
      h('p', { class: 'muted small' }, points.length ? `${points.length} samples since ${fmt_time(points[0].x)} (sampled by the group's coordinator)` : 'Sampled by the group\'s coordinator; the first sample comes within console.lag.history.interval.ms')),
    reset_form(id, lagrows),
  );
}

function reset_form(id, lagrows) {
  const topics = [...new Set(lagrows.map((l) => l.topic_name))];
  const preview = h('div', { id: 'reset-preview' });
  let planned = null;
  const apply = h('button', { type: 'button', id: 'reset-apply', disabled: true, onclick: async () => {
    try {
      const r = await call('POST', k1(`/consumer-groups/${enc(id)}/offsets:reset`), { ...planned, dry_run: false });
      toast(`Offsets of ${id} reset (${r.data.length} partitions)`, 'ok');
      location.hash = '#/groups/' + enc(id) + '?t=' + Date.now();
    } catch (e) { fail(e); }
  } }, 'Apply');
  const value = h('input', { name: 'value', placeholder: 'offset, shift or time', 'aria-label': 'Value' });
  const f = form(async (d) => {
    const to = d.get('to');
    const body = { to };
    if (d.get('topic')) body.topics = [{ topic_name: d.get('topic') }];
    if (to === 'timestamp') {
      const t = Date.parse(d.get('value'));
      if (Number.isNaN(t)) throw new Error('Give a date and time, e.g. 2026-12-06T10:00');
      body.value = t;
    } else if (to === 'offset' || to === 'shift-by') {
      body.value = Number(d.get('value'));
    }
    const r = await call('POST', k1(`/consumer-groups/${enc(id)}/offsets:reset`), { ...body, dry_run: true });
    planned = body;
    apply.disabled = false;
    preview.replaceChildren(h('h3', null, 'Preview (nothing changed yet)'), table([
      { label: 'Topic', get: (p) => p.topic_name },
      { label: 'Partition', class: 'num', get: (p) => String(p.partition_id) },
      { label: 'Current', class: 'num', get: (p) => String(p.current_offset) },
      { label: 'New', class: 'num', get: (p) => h('strong', null, String(p.new_offset)) },
      { label: 'Log start', class: 'num', get: (p) => String(p.log_start_offset) },
      { label: 'Log end', class: 'num', get: (p) => String(p.log_end_offset) },
    ], r.data), apply);
  },
  field('Reset to', select('to', [['earliest', 'earliest'], ['latest', 'latest'], ['timestamp', 'a time'], ['offset', 'an offset'], ['shift-by', 'shift by']], 'earliest')),
  field('Value', value),
  field('Topic', select('topic', [['', 'all committed topics'], ...topics])),
  h('button', { type: 'submit', id: 'reset-preview-button' }, 'Preview'));
  return w(section('Reset offsets', h('p', { class: 'muted small' }, 'Refused while the group has members, as kafka-consumer-groups refuses.'), f, preview));
}
