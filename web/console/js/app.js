// The console's entry: sign-in, the hash router (#/topics/orders), the
// navigation. Every page is drawn from the REST API as the signed-in user.
import { session, connect, probe_writes, ApiError, cluster } from './api.js';
import { h, state, fail, toast } from './ui.js';
import { brokers, topics, topic } from './topics.js';
import { groups, group } from './groups.js';
import { messages, stop_tail } from './messages.js';
import { acls, users, quotas } from './security.js';
import { reassign, stop_poll } from './reassign.js';

const main = document.getElementById('main');
const dec = decodeURIComponent;

// [path pattern, draw(match, element), nav entry]
const routes = [
  [/^\/brokers$/, (m, el) => brokers(el), 'brokers'],
  [/^\/topics$/, (m, el) => topics(el), 'topics'],
  [/^\/topics\/([^/]+)$/, (m, el) => topic(el, dec(m[1])), 'topics'],
  [/^\/topics\/([^/]+)\/configs$/, (m, el) => topic(el, dec(m[1]), 'configs'), 'topics'],
  [/^\/groups$/, (m, el) => groups(el), 'groups'],
  [/^\/groups\/([^/]+)$/, (m, el) => group(el, dec(m[1])), 'groups'],
  [/^\/messages$/, (m, el) => messages(el), 'messages'],
  [/^\/messages\/([^/]+)$/, (m, el) => messages(el, dec(m[1])), 'messages'],
  [/^\/reassign$/, (m, el) => reassign(el), 'reassign'],
  [/^\/reassign\/([^/]+)$/, (m, el) => reassign(el, dec(m[1])), 'reassign'],
  [/^\/acls$/, (m, el) => acls(el), 'acls'],
  [/^\/users$/, (m, el) => users(el), 'users'],
  [/^\/quotas$/, (m, el) => quotas(el), 'quotas'],
];

let connected = false;

function chrome(show) {
  document.getElementById('nav').hidden = !show;
  document.getElementById('who').hidden = !show;
  document.getElementById('menu').hidden = !show;
}

async function route() {
  stop_tail();
  stop_poll();
  if (!session.get()) return login();
  if (!connected) {
    try {
      await connect();
      state.writable = await probe_writes();
      connected = true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return login('Sign-in failed: ' + e.message);
      return login('Cannot reach the broker: ' + e.message);
    }
  }
  chrome(true);
  const s = session.get();
  // The broker names the principal on each answer (Keel-Principal); a password names it too.
  const principal = cluster.principal || (s.mode === 'basic' ? 'User:' + s.user : null);
  document.getElementById('principal').textContent =
    principal || (s.mode === 'negotiate' ? 'Kerberos' : 'anonymous / certificate');
  document.getElementById('principal').title =
    s.mode === 'negotiate' ? 'Signed in with Kerberos (SPNEGO)' : s.mode === 'basic' ? 'Signed in with a password' : '';
  document.getElementById('readonly').hidden = state.writable;
  document.body.classList.toggle('readonly', !state.writable);
  const path = (location.hash.replace(/^#/, '') || '/brokers').split('?')[0];
  const found = routes.find(([re]) => re.test(path));
  if (!found) { location.hash = '#/brokers'; return; }
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === found[2]);
  document.getElementById('nav').classList.remove('open');
  main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  main.setAttribute('aria-busy', 'true');
  const page = h('div', { class: 'page' });
  try {
    await found[1](path.match(found[0]), page);
    main.replaceChildren(page);
  } catch (e) {
    main.replaceChildren(page, h('div', { class: 'card error', role: 'alert' },
      h('h2', null, e.status === 403 ? 'Not authorized' : 'Could not load this page'),
      h('p', null, e.status === 403 ? 'The broker\'s ACLs refuse this to your principal: ' + e.message : e.message)));
  } finally {
    main.removeAttribute('aria-busy');
    main.dataset.route = path;  // the page drawn last (tests wait for it)
  }
}

// Whether the broker offers Kerberos: a call without credentials is answered
// `WWW-Authenticate: Negotiate`, or is let in as someone (the browser already
// negotiated) rather than as User:ANONYMOUS.
async function offers_kerberos() {
  try {
    const r = await fetch('/v3/clusters', { credentials: 'same-origin', cache: 'no-store' });
    if (r.ok) return (r.headers.get('Keel-Principal') || 'User:ANONYMOUS') !== 'User:ANONYMOUS';
    return /negotiate/i.test(r.headers.get('WWW-Authenticate') || '');
  } catch (e) {
    return true;  // unknown: keep the choice
  }
}

function login(message) {
  connected = false;
  chrome(false);
  const tls = location.protocol === 'https:';
  const user = h('input', { name: 'user', id: 'login-user', autocomplete: 'username', required: true });
  const password = h('input', { name: 'password', id: 'login-password', type: 'password', autocomplete: 'current-password', required: true });
  const kerberos = h('button', { type: 'button', class: 'secondary', id: 'login-kerberos', onclick: () => { session.set({ mode: 'negotiate' }); route(); } }, 'Sign in with Kerberos');
  offers_kerberos().then((yes) => { if (!yes) kerberos.hidden = true; });
  const f = h('form', { class: 'form login', onsubmit: (ev) => {
    ev.preventDefault();
    const token = btoa(unescape(encodeURIComponent(user.value + ':' + password.value)));
    session.set({ mode: 'basic', user: user.value, token });
    route();
  } },
  h('label', { class: 'field' }, h('span', null, 'User'), user),
  h('label', { class: 'field' }, h('span', null, 'Password'), password),
  h('button', { type: 'submit', id: 'login' }, 'Sign in'));
  main.replaceChildren(h('section', { class: 'card narrow' },
    h('h1', null, 'Sign in to Keel'),
    message ? h('p', { class: 'bad', role: 'alert', id: 'login-error' }, message) : null,
    tls ? f : h('p', { class: 'warn' }, 'This page came over plain http: the broker accepts passwords over https only.'),
    h('div', { class: 'alt' },
      kerberos,
      h('button', { type: 'button', class: 'link', id: 'login-anonymous', onclick: () => { session.set({ mode: 'anonymous' }); route(); } }, 'Continue without a password')),
    h('p', { class: 'muted small' }, 'Your password stays in this tab (sessionStorage) and goes to the broker only. Kerberos uses your browser\'s ticket (SPNEGO). Every action runs as you: the broker\'s ACLs decide.')));
}

window.addEventListener('keel-unauthenticated', () => {
  if (connected) toast('The broker no longer accepts your credentials', 'error');
});
window.addEventListener('hashchange', () => route().catch(fail));
document.getElementById('logout').addEventListener('click', () => {
  session.clear();
  connected = false;
  location.hash = '#/brokers';
  login();
});
document.getElementById('menu').addEventListener('click', () => {
  const nav = document.getElementById('nav');
  nav.classList.toggle('open');
  document.getElementById('menu').setAttribute('aria-expanded', String(nav.classList.contains('open')));
});
route().catch(fail);
