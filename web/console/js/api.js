// The REST API as the logged-in user. The credential stays in sessionStorage
// (gone when the tab closes): "basic" sends it as HTTP Basic on every call;
// "negotiate" sends nothing and lets the browser answer the broker's
// `WWW-Authenticate: Negotiate` with its Kerberos ticket (SPNEGO);
// "anonymous" sends nothing (a TLS client certificate, or ACLs for ANONYMOUS).

const KEY = 'keel.console.auth';

export const session = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(KEY)); } catch (e) { return null; }
  },
  set(s) { sessionStorage.setItem(KEY, JSON.stringify(s)); },
  clear() { sessionStorage.removeItem(KEY); },
};

export class ApiError extends Error {
  constructor(status, body, text) {
    super((body && body.message) || text || ('HTTP ' + status));
    this.status = status;
    this.body = body;
  }
  get refused() { return this.status === 403; }
}

export async function call(method, path, body, raw) {
  const headers = { Accept: 'application/json' };
  const s = session.get();
  if (s && s.mode === 'basic') headers.Authorization = 'Basic ' + s.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // Whom the broker took the caller for: the only way a Kerberos sign-in learns its name.
  const who = r.headers.get('Keel-Principal');
  if (who) cluster.principal = who;
  if (raw && r.ok) return r;
  if (r.status === 204) return null;
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!r.ok) {
    const err = new ApiError(r.status, data, text);
    // A 421 from a reassignment route names the controller (a broker id).
    const ctrl = r.headers.get('Keel-Controller-Id');
    err.controller_id = ctrl === null ? null : Number(ctrl);
    if (r.status === 401) window.dispatchEvent(new CustomEvent('keel-unauthenticated', { detail: err }));
    throw err;
  }
  return data;
}

export const enc = encodeURIComponent;
export const cluster = { id: null, controller: null, principal: null };
export const v3 = (p) => `/v3/clusters/${enc(cluster.id)}${p}`;
export const k1 = (p) => `/keel/v1/clusters/${enc(cluster.id)}${p}`;

// Learns the cluster id (and checks the credential).
export async function connect() {
  cluster.principal = null;
  let d;
  try {
    d = await call('GET', '/v3/clusters');
  } catch (e) {
    // Chromium (seen with 156 on Linux) declines the first Negotiate challenge
    // it meets after starting (its net log: ERR_UNSUPPORTED_AUTH_SCHEME, before
    // loading GSS-API) and answers every later one: ask once more.
    const s = session.get();
    if (!(e instanceof ApiError && e.status === 401 && s && s.mode === 'negotiate')) throw e;
    d = await call('GET', '/v3/clusters');
  }
  const c = d.data[0];
  cluster.id = c.cluster_id;
  cluster.controller = c.controller ? Number(String(c.controller.related).split('/').pop()) : null;
  return c;
}

// Whether the principal may change the cluster: a validate-only topic
// creation is answered 403 when it may not (CLUSTER/TOPIC CREATE).
export async function probe_writes() {
  try {
    await call('POST', v3('/topics'), { topic_name: 'keel-console-write-probe', partitions_count: 1, validate_only: true });
    return true;
  } catch (e) {
    return !(e instanceof ApiError && e.refused);
  }
}

// Runs `fn` over `items` with at most `n` calls at once.
export async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      try { out[i] = await fn(items[i], i); } catch (e) { out[i] = e; }
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}
