// The reassignment / replication-factor wizard: 1. choose topics, target
// brokers and a replication factor; 2. preview the moves the broker plans
// (nothing changes); 3. apply them; 4. watch the reassignment progress
// (adding replicas catching up) until it ends, or cancel it.
import { call, v3, enc } from './api.js';
import { h, w, table, section, field, form, toast, fail, why, fmt_bytes } from './ui.js';

let poll_timer = null;
export function stop_poll() {
  if (poll_timer) clearInterval(poll_timer);
  poll_timer = null;
}

// The host of each broker, to name the controller (its HTTP port is not published).
let broker_hosts = {};
// What this page submitted ({topics, count}), to say when it has finished.
let submitted = null;

function where(e) {
  // 421: reassignments are the controller's requests; its HTTP listener must be asked.
  if (!e || e.status !== 421) return null;
  const id = e.controller_id;
  if (id === null || id === undefined || Number.isNaN(id)) return 'No controller is elected yet: try again in a moment (' + e.message + ')';
  const at = broker_hosts[id] ? ` on host ${broker_hosts[id]}` : '';
  return `This broker is not the controller. Reassignments are submitted by the controller, broker ${id}${at}: open the console on broker ${id}'s HTTP listener to apply moves and follow them. Previews work here.`;
}

function moves_table(moves) {
  const diff = (m) => {
    const cur = new Set(m.current_replicas);
    return h('span', null, m.target_replicas.map((b, i) => h('span', { class: cur.has(b) ? null : 'added' }, (i ? ', ' : '') + b)));
  };
  return table([
    { label: 'Topic', get: (m) => m.topic },
    { label: 'Partition', class: 'num', get: (m) => String(m.partition) },
    { label: 'Current replicas', get: (m) => m.current_replicas.join(', ') },
    { label: 'Target replicas', get: diff },
    { label: 'Result', get: (m) => (m.error_code ? h('span', { class: 'bad' }, m.error || String(m.error_code)) : '') },
  ], moves, { empty: 'Nothing to move: the partitions already have these replicas', cls: 'moves' });
}

async function progress(holder, banner) {
  let r;
  try { r = await call('GET', '/keel/v1/reassignments'); } catch (e) {
    const msg = where(e);
    if (msg) {
      banner.textContent = msg;
      banner.hidden = false;
    }
    holder.replaceChildren(h('p', { class: 'bad' }, msg || e.message));
    return null;
  }
  banner.hidden = true;
  const status = r.data.length ? `${r.data.length} partition(s) moving`
    : submitted ? `Reassignment finished: the ${submitted.count} submitted partition(s) have their target replicas. ` : 'No reassignment in progress';
  const links = !r.data.length && submitted
    ? submitted.topics.flatMap((t, i) => [i ? ', ' : 'See ', h('a', { href: '#/topics/' + enc(t) }, t)]) : [];
  const cancel = w(h('button', { class: 'danger small', type: 'button', onclick: async () => {
    try {
      await call('DELETE', '/keel/v1/reassignments');
      toast('Reassignments cancelled', 'ok');
    } catch (e) { fail(e); }
  } }, 'Cancel all'));
  holder.replaceChildren(
    h('p', { id: 'reassign-status', class: r.data.length ? 'warn' : 'ok' }, status, links),
    ...(r.data.length ? [cancel] : []),
    table([
      { label: 'Topic', get: (p) => p.topic },
      { label: 'Partition', class: 'num', get: (p) => String(p.partition) },
      { label: 'Replicas', get: (p) => p.replicas.join(', ') },
      { label: 'Adding', get: (p) => (p.adding || []).map((a) => `${a.broker_id}${a.in_sync ? ' (in sync)' : ''}: ${a.size_bytes === null ? '?' : fmt_bytes(a.size_bytes)} of ${a.leader_size_bytes === null ? '?' : fmt_bytes(a.leader_size_bytes)}`).join('; ') },
      { label: 'Removing', get: (p) => (p.removing_replicas || []).join(', ') },
      { label: 'ISR', get: (p) => (p.isr || []).join(', ') },
    ], r.data, { empty: 'Nothing moving' }));
  return r.data.length;
}

export async function reassign(main, topic) {
  stop_poll();
  submitted = null;
  const [topics, brokers] = await Promise.all([call('GET', v3('/topics')), call('GET', v3('/brokers'))]);
  const names = topics.data.map((t) => t.topic_name).sort();
  const current = topics.data.find((t) => t.topic_name === topic);
  broker_hosts = Object.fromEntries(brokers.data.map((b) => [b.broker_id, b.host]));
  const banner = h('p', { id: 'not-controller', class: 'card warn', role: 'alert', hidden: true });
  const plan_out = h('div', { id: 'plan' });
  const prog = h('div', { id: 'progress' });
  let planned = null;

  const apply = h('button', { type: 'button', id: 'apply-moves', disabled: true, onclick: async () => {
    apply.disabled = true;
    try {
      const r = planned.rf
        ? await call('POST', `/keel/v1/topics/${enc(planned.topic)}/replication-factor`, { replication_factor: planned.rf, dry_run: false })
        : await call('POST', '/keel/v1/reassignments', { partitions: planned.moves.map((m) => ({ topic: m.topic, partition: m.partition, replicas: m.target_replicas })) });
      plan_out.replaceChildren(h('h3', null, 'Submitted'), moves_table(r.moves || []));
      submitted = { topics: [...new Set((r.moves || []).map((m) => m.topic))], count: (r.moves || []).length };
      toast('Reassignment started', 'ok');
      watch();
    } catch (e) { toast(where(e) || why(e), 'error'); apply.disabled = false; }
  } }, 'Apply these moves');

  const watch = () => {
    stop_poll();
    progress(prog, banner);
    poll_timer = setInterval(async () => {
      if (!document.body.contains(prog)) return stop_poll();
      const n = await progress(prog, banner);
      if (n === 0 || n === null) stop_poll();
    }, 2000);
  };

  const rf_form = form(async (d) => {
    const t = d.get('topic'); const rf = Number(d.get('rf'));
    const r = await call('POST', `/keel/v1/topics/${enc(t)}/replication-factor`, { replication_factor: rf, dry_run: true });
    planned = { topic: t, rf, moves: r.moves };
    plan_out.replaceChildren(h('h3', null, `Preview: ${t} to replication factor ${rf} (nothing changed yet)`), moves_table(r.moves), apply);
    apply.disabled = !r.moves.length;
  },
  field('Topic', h('select', { name: 'topic', id: 'rf-topic' }, names.map((n) => h('option', { value: n, selected: n === topic }, n)))),
  field('New replication factor', h('input', { name: 'rf', type: 'number', min: 1, max: brokers.data.length, required: true, id: 'rf-value', value: current ? Math.min(current.replication_factor + 1, brokers.data.length) : 1 })),
  h('button', { type: 'submit', id: 'rf-preview' }, 'Preview'));

  const plan_form = form(async (d) => {
    const chosen = names.filter((n) => d.get('t_' + n));
    const ids = brokers.data.map((b) => b.broker_id).filter((b) => d.get('b_' + b));
    if (!chosen.length) throw new Error('Choose at least one topic');
    const body = { topics: chosen, brokers: ids };
    if (d.get('rf')) body.replication_factor = Number(d.get('rf'));
    const r = await call('POST', '/keel/v1/reassignments/plan', body);
    planned = { moves: r.moves };
    plan_out.replaceChildren(h('h3', null, `Preview: ${r.moves.length} partition(s) to move (nothing changed yet)`), moves_table(r.moves), apply);
    apply.disabled = !r.moves.length;
  },
  h('fieldset', { class: 'checks' }, h('legend', null, 'Topics'), names.map((n) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 't_' + n, checked: n === topic }), ' ' + n))),
  h('fieldset', { class: 'checks' }, h('legend', null, 'Onto brokers'), brokers.data.map((b) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'b_' + b.broker_id, checked: true }), ` ${b.broker_id} (${b.host})`))),
  field('Replication factor', h('input', { name: 'rf', type: 'number', min: 1, placeholder: 'keep' })),
  h('button', { type: 'submit' }, 'Plan'));

  main.append(h('h1', null, 'Reassign partitions'), banner,
    h('p', { class: 'muted' }, 'Change a topic\'s replication factor, or spread topics over chosen brokers (after adding one, before removing one). The broker plans the moves; you see them before anything changes.'),
    w(section('Replication factor', rf_form)),
    w(section('Move partitions', plan_form)),
    w(section('Preview', plan_out)),
    section('In progress', prog));
  watch();
}
