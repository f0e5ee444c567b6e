// Vigil console: router, login, keyboard shortcuts. Pages live in their own modules.
import * as api from './api.js';
import { h, clear } from './dom.js';
import { queueView } from './queue.js';
import { incidentView } from './incident.js';
import { entityView } from './entity.js';
import { searchView, feedbackView, outboxView, auditView } from './lists.js';
import { systemView } from './system.js';

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
let current = null; // the active view: {key(ev) -> bool, destroy()}
let loggedIn = false;
let gPending = 0;

export function toast(msg, isError = false) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.className = `toast show${isError ? ' err' : ''}`;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = 'toast'; }, isError ? 6000 : 2500);
}

// parseHash reads "#/a/b?x=1" into {parts: ['a','b'], query: URLSearchParams}.
export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?', 2);
  const parts = path.split('/').filter(Boolean).map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  return { parts, query: new URLSearchParams(query) };
}

const routes = {
  incidents: (r) => (r.parts[1] ? incidentView(r.parts[1]) : queueView(r.query)),
  entities: (r) => entityView(r.parts[1] || '', r.parts.slice(2).join('/')),
  search: (r) => searchView(r.query),
  feedback: (r) => feedbackView(r.query),
  outbox: (r) => outboxView(r.query),
  audit: (r) => auditView(r.query),
  system: () => systemView(),
};

const ctx = { toast, main };

function route() {
  if (!loggedIn) return;
  const r = parseHash();
  const name = r.parts[0] || 'incidents';
  const make = routes[name];
  if (current?.destroy) current.destroy();
  current = null;
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === name);
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  clear(main);
  if (!make) {
    main.append(h('h1', null, 'Not found'), h('p', null, h('a', { href: '#/incidents' }, 'Back to the incidents')));
    return;
  }
  current = make(r);
  current.mount(main, ctx);
}

function showLogin(message = '') {
  loggedIn = false;
  topbar.hidden = true;
  if (current?.destroy) current.destroy();
  current = null;
  const err = h('p.error', { id: 'login-error', role: 'alert' }, message);
  const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'login-pass', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const btn = h('button.btn.primary', { type: 'submit' }, 'Sign in');
  const form = h('form.panel.login', { 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Vigil: sign in'),
    h('label', { for: 'login-user' }, 'User name'), user,
    h('label', { for: 'login-pass' }, 'Password'), pass,
    btn, err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    btn.disabled = true;
    err.textContent = '';
    try {
      await api.login(user.value.trim(), pass.value);
      pass.value = '';
      enter();
    } catch (e) {
      err.textContent = e.status === 401 ? 'Wrong user name or password.'
        : e.status === 429 ? 'Too many attempts: wait a moment and try again.' : e.message;
      btn.disabled = false;
      pass.select();
    }
  });
  clear(main).append(form);
  user.focus();
}

function enter() {
  loggedIn = true;
  topbar.hidden = false;
  document.getElementById('whoami').textContent = `${api.session.user} (${api.session.role})`;
  document.getElementById('nav-audit').hidden = api.session.role !== 'admin';
  if (!location.hash || location.hash === '#' || location.hash === '#/') {
    history.replaceState(null, '', '#/incidents');
  }
  route();
}

function typing(el) {
  if (!el) return false;
  const tag = el.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable;
}

function onKey(ev) {
  if (!loggedIn || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (document.querySelector('dialog[open]')) return; // dialogs handle their own keys (Esc closes)
  if (typing(document.activeElement)) {
    if (ev.key === 'Escape') document.activeElement.blur();
    return;
  }
  const k = ev.key;
  if (gPending && Date.now() - gPending < 1500) {
    gPending = 0;
    if (k === 'i') { ev.preventDefault(); location.hash = '#/incidents'; return; }
  }
  if (k === 'g') { gPending = Date.now(); return; }
  if (k === '?') { ev.preventDefault(); openHelp(); return; }
  if (k === '/') {
    ev.preventDefault();
    const q = document.getElementById('qs-input');
    q.focus();
    q.select();
    return;
  }
  if (current?.key && current.key(ev)) { ev.preventDefault(); return; }
  if (k === 'u') { ev.preventDefault(); location.hash = '#/incidents' + (sessionStorage.getItem('vigil.queue.query') || ''); }
}

function openHelp() {
  const d = document.getElementById('help-dialog');
  if (!d.open) d.showModal();
}

function init() {
  api.setUnauthorizedHandler(() => showLogin('Your session ended: sign in again.'));
  window.addEventListener('hashchange', route);
  document.addEventListener('keydown', onKey);
  document.getElementById('help-btn').addEventListener('click', openHelp);
  document.getElementById('logout-btn').addEventListener('click', async () => {
    try { await api.logout(); } catch { /* the session is gone either way */ }
    showLogin('Signed out.');
  });
  document.getElementById('quicksearch').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = document.getElementById('qs-input');
    const q = input.value.trim();
    input.blur();
    location.hash = `#/search?q=${encodeURIComponent(q)}`;
  });
  api.resume().then(enter, () => showLogin());
}

init();
