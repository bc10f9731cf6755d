// ACLs (list, create, delete), SCRAM users (create, change password,
// delete) and client quotas (set, remove): each through the REST API, so the
// broker's own ACLs decide what this principal may do.
import { call, v3, k1, enc } from './api.js';
import { h, w, table, section, field, form, select, toast, fail } from './ui.js';

const reload = () => window.dispatchEvent(new Event('hashchange'));

const RESOURCES = ['TOPIC', 'GROUP', 'CLUSTER', 'TRANSACTIONAL_ID', 'DELEGATION_TOKEN', 'USER'];
const OPERATIONS = ['ALL', 'READ', 'WRITE', 'CREATE', 'DELETE', 'ALTER', 'DESCRIBE', 'CLUSTER_ACTION',
  'DESCRIBE_CONFIGS', 'ALTER_CONFIGS', 'IDEMPOTENT_WRITE'];

export async function acls(main) {
  const list = await call('GET', v3('/acls'));
  const remove = (a) => w(h('button', { class: 'small danger', onclick: async () => {
    const q = new URLSearchParams({ resource_type: a.resource_type, resource_name: a.resource_name,
      pattern_type: a.pattern_type, principal: a.principal, host: a.host, operation: a.operation, permission: a.permission });
    try {
      await call('DELETE', v3('/acls?' + q));
      toast('ACL deleted', 'ok');
      reload();
    } catch (e) { fail(e); }
  } }, 'Delete'));
  main.append(h('h1', null, 'ACLs'),
    w(section('Add an ACL', form(async (d) => {
      const body = Object.fromEntries(['resource_type', 'resource_name', 'pattern_type', 'principal', 'host', 'operation', 'permission'].map((k) => [k, d.get(k)]));
      await call('POST', v3('/acls'), body);
      toast('ACL created', 'ok');
      reload();
    },
    field('Principal', h('input', { name: 'principal', required: true, placeholder: 'User:alice' })),
    field('Resource', select('resource_type', RESOURCES, 'TOPIC')),
    field('Name', h('input', { name: 'resource_name', required: true, placeholder: 'orders or * ' })),
    field('Pattern', select('pattern_type', ['LITERAL', 'PREFIXED'], 'LITERAL')),
    field('Operation', select('operation', OPERATIONS, 'READ')),
    field('Permission', select('permission', ['ALLOW', 'DENY'], 'ALLOW')),
    field('Host', h('input', { name: 'host', value: '*' })),
    h('button', { type: 'submit' }, 'Add')))),
    section(`ACLs (${list.data.length})`, table([
      { label: 'Principal', get: (a) => a.principal },
      { label: 'Resource', get: (a) => `${a.resource_type.toLowerCase()} ${a.resource_name}${a.pattern_type === 'PREFIXED' ? '*' : ''}` },
      { label: 'Operation', get: (a) => a.operation },
      { label: 'Permission', get: (a) => h('span', { class: a.permission === 'DENY' ? 'bad' : 'ok' }, a.permission) },
      { label: 'Host', get: (a) => a.host },
      { label: '', get: remove },
    ], list.data, { empty: 'No ACLs' })));
}

export async function users(main) {
  const list = await call('GET', k1('/scram-users'));
  const upsert = (name) => form(async (d) => {
    const user = name || d.get('user');
    await call('PUT', k1('/scram-users/' + enc(user)), { mechanism: d.get('mechanism'), password: d.get('password'), iterations: Number(d.get('iterations') || 4096) });
    toast(`Credential of ${user} stored`, 'ok');
    reload();
  },
  name ? null : field('User', h('input', { name: 'user', required: true })),
  field('Mechanism', select('mechanism', ['SCRAM-SHA-256', 'SCRAM-SHA-512'], 'SCRAM-SHA-512')),
  field('Password', h('input', { name: 'password', type: 'password', required: true, autocomplete: 'new-password' })),
  field('Iterations', h('input', { name: 'iterations', type: 'number', min: 4096, max: 16384, value: 4096 })),
  h('button', { type: 'submit' }, name ? 'Change password' : 'Create'));
  main.append(h('h1', null, 'SCRAM users'),
    w(section('Create a user', upsert(null))),
    section(`Users (${list.data.length})`, table([
      { label: 'User', get: (u) => u.user_name },
      { label: 'Credentials', get: (u) => u.credentials.map((c) => `${c.mechanism} (${c.iterations})`).join(', ') },
      { label: '', get: (u) => w(h('span', { class: 'row' },
        h('details', null, h('summary', null, 'Password'), upsert(u.user_name)),
        h('button', { class: 'small danger', onclick: async () => {
          try {
            await call('DELETE', k1('/scram-users/' + enc(u.user_name)));
            toast(`${u.user_name} deleted`, 'ok');
            reload();
          } catch (e) { fail(e); }
        } }, 'Delete'))) },
    ], list.data, { empty: 'No SCRAM users' })));
}

const QUOTA_KEYS = ['producer_byte_rate', 'consumer_byte_rate', 'request_percentage', 'controller_mutation_rate', 'connection_creation_rate'];

function entity_text(e) {
  return Object.entries(e).map(([k, v]) => `${k}=${v === null ? '<default>' : v}`).join(', ');
}

export async function quotas(main) {
  const list = await call('GET', k1('/quotas'));
  main.append(h('h1', null, 'Client quotas'),
    w(section('Set a quota', form(async (d) => {
      const entity = { [d.get('type')]: d.get('name') === '' || d.get('name') === '<default>' ? null : d.get('name') };
      await call('POST', k1('/quotas:alter'), { entity, set: { [d.get('key')]: Number(d.get('value')) } });
      toast('Quota set', 'ok');
      reload();
    },
    field('Entity', select('type', ['user', 'client-id', 'ip'], 'user')),
    field('Name', h('input', { name: 'name', placeholder: 'empty = the default' })),
    field('Quota', select('key', QUOTA_KEYS, 'producer_byte_rate')),
    field('Value', h('input', { name: 'value', type: 'number', min: 0, step: 'any', required: true })),
    h('button', { type: 'submit' }, 'Set')))),
    section(`Quotas (${list.data.length})`, table([
      { label: 'Entity', get: (q) => entity_text(q.entity) },
      { label: 'Values', get: (q) => Object.entries(q.values).map(([k, v]) => `${k} = ${v}`).join(', ') },
      { label: '', get: (q) => w(h('button', { class: 'small danger', onclick: async () => {
        try {
          await call('POST', k1('/quotas:alter'), { entity: q.entity, remove: Object.keys(q.values) });
          toast('Quota removed', 'ok');
          reload();
        } catch (e) { fail(e); }
      } }, 'Remove')) },
    ], list.data, { empty: 'No quotas' })));
}
