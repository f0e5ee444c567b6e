// API client: JSON over fetch with the session cookie; the CSRF token is kept in
// memory only and sent on unsafe methods. A 401 anywhere sends the console back to
// the login form.

let csrf = '';
let onUnauthorized = () => {};
export const session = { user: '', role: '' };

export class APIError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

function remember(body) {
  csrf = body?.csrf_token || '';
  session.user = body?.user || '';
  session.role = body?.role || '';
}

export function forget() { remember(null); }

export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  const unsafe = method !== 'GET' && method !== 'HEAD';
  if (unsafe && csrf) headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new APIError(0, 'network', `network error: ${err.message}`);
  }
  if (res.status === 204) return null;
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const code = data?.error?.code || '';
    const msg = data?.error?.message || `${res.status} ${res.statusText}`;
    if (res.status === 401 && !path.endsWith('/login')) {
      forget();
      onUnauthorized();
    }
    throw new APIError(res.status, code, msg);
  }
  return data;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body);
export const patch = (path, body) => request('PATCH', path, body);

export async function login(username, password) {
  const body = await post('/api/v1/login', { username, password });
  remember(body);
  return body;
}

export async function resume() {
  const body = await request('GET', '/api/v1/session');
  remember(body);
  return body;
}

export async function logout() {
  try { await post('/api/v1/logout'); } finally { forget(); }
}

// qs builds a query string from the non-empty values of obj.
export function qs(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const enc = encodeURIComponent;
