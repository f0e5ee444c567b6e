// Search, verdicts, outbox and audit: paged tables over the list endpoints.
import * as api from './api.js';
import { h, clear, riskBar, sevTag, statusTag, entityChip, fmtTime, jsonPre, VERDICT_NAMES } from './dom.js';

const ENTITY_RE = /^(user|host|ip|domain|process|file|hash|url|workload|principal|email|[a-z_]{2,20}):(.+)$/;

// pagedTable renders a list endpoint page by page: columns [[header, item => cell]].
function pagedTable(path, params, columns, empty) {
  const tbody = h('tbody');
  const more = h('button.btn', { type: 'button', hidden: true }, 'Load more');
  const msg = h('p.muted');
  let next = '';
  let alive = true;
  async function page(cursor) {
    more.disabled = true;
    try {
      const res = await api.get(`${path}${api.qs({ ...params, limit: 100, cursor })}`);
      if (!alive) return;
      const frag = document.createDocumentFragment();
      for (const it of res?.items || []) frag.append(h('tr', null, columns.map(([, f]) => h('td', null, f(it)))));
      tbody.append(frag);
      next = res?.next || '';
      more.hidden = !next;
      msg.textContent = tbody.childElementCount ? '' : empty;
    } catch (e) {
      if (e.status !== 401) msg.textContent = e.status === 403 ? 'Your role may not read this.' : `Could not load: ${e.message}`;
    } finally { more.disabled = false; }
  }
  more.addEventListener('click', () => { if (next) page(next); });
  page('');
  return {
    el: h('div', null, h('table.grid', null, h('thead', null, h('tr', null, columns.map(([t]) => h('th', { scope: 'col' }, t)))), tbody), msg, h('div.more', null, more)),
    stop() { alive = false; },
  };
}

function filterBar(route, fields, query) {
  const form = h('form.filters', { role: 'search' },
    fields.map(([name, label, options]) => h('div', null, h('label', { for: `lf-${name}` }, label),
      options
        ? h('select', { id: `lf-${name}`, name }, options.map(([v, t]) => h('option', { value: v, selected: (query.get(name) || '') === v }, t)))
        : h('input', { id: `lf-${name}`, name, value: query.get(name) || '' }))),
    h('button.btn', { type: 'submit' }, 'Apply'));
  form.addEventListener('change', (ev) => { if (ev.target.tagName === 'SELECT') form.requestSubmit(); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const o = {};
    for (const [name] of fields) o[name] = form.elements[name].value.trim();
    location.hash = `#/${route}${api.qs(o)}`;
  });
  return form;
}

function view(title, build) {
  let table = null;
  return {
    mount(main) {
      document.title = `${title} · Vigil`;
      const parts = build();
      table = parts.table;
      clear(main).append(h('h1', null, title), ...parts.head, table ? table.el : '');
    },
    destroy() { table?.stop(); document.title = 'Vigil console'; },
  };
}

const incidentCols = [
  ['Risk', (i) => riskBar(i.risk)],
  ['Severity', (i) => sevTag(i.severity)],
  ['Title', (i) => h('a', { href: `#/incidents/${api.enc(i.id)}` }, i.title || i.id)],
  ['Status', (i) => statusTag(i.status)],
  ['Entities', (i) => h('div.chips', null, (i.entities || []).slice(0, 4).map(entityChip))],
  ['Last seen', (i) => fmtTime(i.last_seen)],
];

export function searchView(query) {
  const q = (query.get('q') || '').trim().slice(0, 300);
  return view('Search', () => {
    const input = h('input', { id: 'search-q', type: 'search', value: q, placeholder: 'text, or kind:value (user:alice, host:ws-1)', size: 50 });
    const form = h('form.filters', { role: 'search' }, h('div', null, h('label', { for: 'search-q' }, 'Incidents by text or entity'), input), h('button.btn', { type: 'submit' }, 'Search'));
    form.addEventListener('submit', (ev) => { ev.preventDefault(); location.hash = `#/search?q=${api.enc(input.value.trim())}`; });
    const head = [form];
    if (!q) return { head: [...head, h('p.muted', null, 'Type a word of a title or summary, or an entity as kind:value to jump to it.')] };
    const m = ENTITY_RE.exec(q);
    if (m) {
      const e = { kind: m[1], value: m[2] };
      head.push(h('p', null, 'Entity: ', entityChip(e), ' ', h('a', { href: `#/entities/${api.enc(e.kind)}/${api.enc(e.value)}`, id: 'entity-jump' }, 'open its page →')));
      return { head, table: pagedTable('/api/v1/incidents', { entity: q, sort: 'risk' }, incidentCols, 'No incident on this entity.') };
    }
    return { head, table: pagedTable('/api/v1/incidents', { q, sort: 'risk' }, incidentCols, 'No incident matches.') };
  });
}

export function feedbackView(query) {
  const params = { verdict: query.get('verdict') || '', target_kind: query.get('target_kind') || '' };
  return view('Verdicts', () => ({
    head: [filterBar('feedback', [
      ['verdict', 'Verdict', [['', 'Any'], ...Object.entries(VERDICT_NAMES).slice(0, 4)]],
      ['target_kind', 'Target', [['', 'Any'], ['incident', 'Incident'], ['signal', 'Signal'], ['rule', 'Rule'], ['entity', 'Entity']]],
    ], query)],
    table: pagedTable('/api/v1/feedback', params, [
      ['Created', (f) => fmtTime(f.created)],
      ['Verdict', (f) => h(`span.verdict-tag.verdict-${f.verdict}`, null, VERDICT_NAMES[f.verdict] || f.verdict)],
      ['Target', (f) => (f.target_kind === 'incident' ? h('a', { href: `#/incidents/${api.enc(f.target_id)}` }, `incident ${f.target_id}`) : `${f.target_kind} ${f.target_id}`)],
      ['Scope', (f) => f.scope || ''],
      ['Expires', (f) => fmtTime(f.expires) || 'never'],
      ['Author', (f) => f.author || ''],
      ['Reason', (f) => f.reason || ''],
    ], 'No verdicts.'),
  }));
}

export function outboxView(query) {
  const params = { state: query.get('state') || '' };
  return view('Outbox', () => ({
    head: [filterBar('outbox', [['state', 'State', [['', 'Any'], ['pending', 'Pending'], ['delivered', 'Delivered'], ['failed', 'Failed']]]], query)],
    table: pagedTable('/api/v1/outbox', params, [
      ['Created', (o) => fmtTime(o.created)],
      ['Target', (o) => `${o.target || ''} (${o.kind || ''})`],
      ['Incident', (o) => h('a', { href: `#/incidents/${api.enc(o.incident_id)}` }, o.incident_id || '')],
      ['State', (o) => o.state || ''],
      ['Attempts', (o) => String(o.attempts ?? '')],
      ['Next attempt', (o) => fmtTime(o.next_attempt)],
      ['Last error', (o) => o.last_error || ''],
    ], 'The outbox is empty.'),
  }));
}

export function auditView(query) {
  const params = {};
  for (const k of ['actor', 'action', 'target']) params[k] = query.get(k) || '';
  return view('Audit log', () => ({
    head: [filterBar('audit', [['actor', 'Actor'], ['action', 'Action'], ['target', 'Target']], query)],
    table: pagedTable('/api/v1/audit', params, [
      ['Time', (a) => fmtTime(a.time)],
      ['Actor', (a) => a.actor || ''],
      ['Action', (a) => a.action || ''],
      ['Target', (a) => a.target || ''],
      ['Details', (a) => (a.details ? h('details', null, h('summary', null, 'details'), jsonPre(a.details)) : '')],
    ], 'No audit entries.'),
  }));
}
