// Brokers, topics, one topic (partitions with ISR, configs against their defaults).
import { call, v3, enc, cluster, pool } from './api.js';
import { h, w, table, section, field, form, select, toast, fail, fmt_ms, fmt_bytes, tabs, state } from './ui.js';

const id_of = (related) => (related ? Number(String(related.related).split('/').pop()) : null);

export async function brokers(main) {
  const [list, health, ready] = await Promise.all([
    call('GET', v3('/brokers')),
    fetch('/health', { cache: 'no-store' }).then((r) => r.text().then((t) => [r.status, t])).catch((e) => [0, String(e)]),
    fetch('/ready', { cache: 'no-store' }).then((r) => r.text().then((t) => [r.status, t])).catch((e) => [0, String(e)]),
  ]);
  const c = await call('GET', v3(''));
  const controller = id_of(c.controller);
  main.append(
    h('h1', null, 'Brokers'),
    h('p', { class: 'muted' }, 'Cluster ', h('code', null, cluster.id), ' · ', list.data.length, ' brokers'),
    section('Brokers', table([
      { label: 'ID', get: (b) => h('span', null, String(b.broker_id), b.broker_id === controller ? h('span', { class: 'badge' }, 'controller') : null) },
      { label: 'Host', get: (b) => b.host },
      { label: 'Port', get: (b) => String(b.port) },
      { label: 'Rack', get: (b) => b.rack || '–' },
      { label: 'Status', get: () => h('span', { class: 'ok' }, 'registered') },
    ], list.data)),
    section('This broker', h('div', { class: 'kv' },
      h('span', null, 'Health'), h('span', { class: health[0] === 200 ? 'ok' : 'bad', id: 'health' }, health[0] === 200 ? 'healthy' : 'unhealthy (' + health[0] + ')'),
      h('span', null, 'Ready'), h('span', { class: ready[0] === 200 ? 'ok' : 'bad' }, ready[0] === 200 ? 'ready' : 'not ready (' + ready[0] + ')'),
    ), h('pre', { class: 'small' }, health[1].slice(0, 2000))),
  );
}

export async function topics(main) {
  const list = await call('GET', v3('/topics'));
  const rows = list.data.sort((a, b) => a.topic_name.localeCompare(b.topic_name));
  const filter = h('input', { type: 'search', placeholder: 'Filter topics', 'aria-label': 'Filter topics', class: 'filter' });
  const holder = h('div');
  const draw = () => {
    const q = filter.value.toLowerCase();
    holder.replaceChildren(table([
      { label: 'Topic', get: (t) => h('a', { href: '#/topics/' + enc(t.topic_name) }, t.topic_name) },
      { label: 'Partitions', get: (t) => String(t.partitions_count), class: 'num' },
      { label: 'Replication', get: (t) => String(t.replication_factor), class: 'num' },
      { label: 'Internal', get: (t) => (t.is_internal ? 'yes' : '') },
    ], rows.filter((t) => !q || t.topic_name.toLowerCase().includes(q)), { empty: 'No topics' }));
  };
  filter.addEventListener('input', draw);
  draw();
  const create = w(section('Create a topic', form(async (d) => {
    const configs = [];
    if (d.get('retention')) configs.push({ name: 'retention.ms', value: String(Number(d.get('retention')) * 3600000) });
    if (d.get('cleanup') !== 'delete') configs.push({ name: 'cleanup.policy', value: d.get('cleanup') });
    const body = { topic_name: d.get('name'), partitions_count: Number(d.get('partitions')), configs };
    if (d.get('rf')) body.replication_factor = Number(d.get('rf'));
    await call('POST', v3('/topics'), body);
    toast('Created topic ' + d.get('name'), 'ok');
    location.hash = '#/topics/' + enc(d.get('name'));
  },
  field('Name', h('input', { name: 'name', required: true, pattern: '[a-zA-Z0-9._-]+', id: 'new-topic-name' })),
  field('Partitions', h('input', { name: 'partitions', type: 'number', min: 1, value: 1, required: true })),
  field('Replication factor', h('input', { name: 'rf', type: 'number', min: 1, placeholder: 'broker default' })),
  field('Retention (hours)', h('input', { name: 'retention', type: 'number', min: 1, placeholder: 'broker default' })),
  field('Cleanup policy', select('cleanup', ['delete', 'compact', 'compact,delete'])),
  h('button', { type: 'submit', id: 'create-topic' }, 'Create'))));
  main.append(h('h1', null, 'Topics'), create, section(`Topics (${rows.length})`, filter, holder));
}

export async function topic(main, name, tab) {
  tab = tab || 'partitions';
  const t = await call('GET', v3('/topics/' + enc(name)));
  main.append(
    h('h1', null, name),
    h('p', { class: 'muted' }, `${t.partitions_count} partitions · replication factor ${t.replication_factor}`, t.is_internal ? ' · internal' : ''),
    tabs([
      ['partitions', 'Partitions', `#/topics/${enc(name)}`],
      ['configs', 'Configuration', `#/topics/${enc(name)}/configs`],
      ['messages', 'Messages', `#/messages/${enc(name)}`],
      ['replication', 'Replication factor', `#/reassign/${enc(name)}`],
    ], tab),
  );
  if (tab === 'configs') return configs(main, name);
  return partitions(main, name);
}

async function partitions(main, name) {
  const list = await call('GET', v3('/topics/' + enc(name) + '/partitions'));
  const shown = list.data.slice(0, 500);
  const replicas = await pool(shown, 8, (p) => call('GET', v3(`/topics/${enc(name)}/partitions/${p.partition_id}/replicas`)));
  const rows = shown.map((p, i) => {
    const r = replicas[i] && replicas[i].data ? replicas[i].data : [];
    const isr = r.filter((x) => x.is_in_sync).map((x) => x.broker_id);
    const leader = r.find((x) => x.is_leader);
    return { id: p.partition_id, leader: leader ? leader.broker_id : null, replicas: r.map((x) => x.broker_id), isr };
  });
  const under = rows.filter((r) => r.isr.length < r.replicas.length);
  main.append(section('Partitions',
    under.length ? h('p', { class: 'bad', id: 'under-replicated' }, `${under.length} under-replicated partition(s)`) : h('p', { class: 'ok' }, 'All partitions fully replicated'),
    table([
      { label: 'Partition', get: (r) => String(r.id), class: 'num' },
      { label: 'Leader', get: (r) => (r.leader === null ? h('span', { class: 'bad' }, 'none') : String(r.leader)) },
      { label: 'Replicas', get: (r) => r.replicas.join(', ') },
      { label: 'In-sync replicas', get: (r) => r.isr.join(', ') },
      { label: 'Status', get: (r) => (r.isr.length < r.replicas.length ? h('span', { class: 'badge bad' }, 'under-replicated') : h('span', { class: 'ok' }, 'ok')) },
    ], rows, { rowClass: (r) => (r.isr.length < r.replicas.length ? 'under' : null) }),
    list.data.length > shown.length ? h('p', { class: 'muted' }, `First ${shown.length} of ${list.data.length} shown`) : null));
}

// A config's default: the first synonym below the topic's own value.
function default_of(c) {
  const s = (c.synonyms || []).filter((x) => x.source !== 'DYNAMIC_TOPIC_CONFIG');
  return s.length ? s[0].value : null;
}

function show(name, value) {
  if (value === null || value === undefined) return '–';
  if (/\.ms$/.test(name) && /^-?\d+$/.test(value) && Number(value) > 0) return `${value} (${fmt_ms(value)})`;
  if (/bytes$/.test(name) && /^\d+$/.test(value) && Number(value) >= 1024) return `${value} (${fmt_bytes(value)})`;
  return value;
}

async function configs(main, name) {
  const list = await call('GET', v3('/topics/' + enc(name) + '/configs'));
  const rows = list.data.sort((a, b) => a.name.localeCompare(b.name));
  const only = h('input', { type: 'checkbox', id: 'only-changed' });
  const holder = h('div');
  const edit = (c) => {
    if (c.is_read_only || !state.writable) return null;
    const input = h('input', { value: c.value === null ? '' : c.value, 'aria-label': c.name, name: c.name, class: 'inline' });
    const save = h('button', { class: 'small', 'data-config': c.name, onclick: async () => {
      try {
        await call('PUT', v3(`/topics/${enc(name)}/configs/${enc(c.name)}`), { value: input.value });
        toast(`${c.name} set to ${input.value}`, 'ok');
        reload();
      } catch (e) { fail(e); }
    } }, 'Save');
    const reset = c.is_default ? null : h('button', { class: 'small secondary', onclick: async () => {
      try {
        await call('DELETE', v3(`/topics/${enc(name)}/configs/${enc(c.name)}`));
        toast(`${c.name} reset to the default`, 'ok');
        reload();
      } catch (e) { fail(e); }
    } }, 'Reset');
    return w(h('span', { class: 'edit' }, input, save, reset));
  };
  const draw = () => {
    holder.replaceChildren(table([
      { label: 'Name', get: (c) => h('code', null, c.name) },
      { label: 'Value', get: (c) => show(c.name, c.value) },
      { label: 'Default', get: (c) => show(c.name, default_of(c)) },
      { label: 'Source', get: (c) => (c.source || '').replace(/_/g, ' ').toLowerCase() },
      { label: 'Change', get: edit },
    ], rows.filter((c) => !only.checked || !c.is_default), { rowClass: (c) => (c.is_default ? null : 'changed') }));
  };
  const reload = () => { main.replaceChildren(); topic(main, name, 'configs').catch(fail); };
  only.addEventListener('change', draw);
  draw();
  const changed = rows.filter((c) => !c.is_default).length;
  main.append(section('Configuration',
    h('p', { class: 'muted' }, `${changed} set for this topic (highlighted); the others come from the broker's defaults.`),
    h('label', { class: 'check' }, only, ' only the changed ones'), holder));
}
