// The incident queue: riskiest first, filters in the URL, cursor paging. Only the
// loaded pages are rendered and "load more" appends rows, so a queue of 10,000
// incidents costs one page at a time.
import * as api from './api.js';
import { h, clear, riskBar, sevTag, statusTag, entityChip, fmtShort, fmtTime, pct, VERDICT_NAMES } from './dom.js';
import { openVerdict } from './verdict.js';
import { setStatus } from './incident.js';

const PAGE = 50;
const FILTERS = ['status', 'min_severity', 'min_risk', 'entity', 'q'];
let lastSelectedId = '';

export function queueView(query) {
  const filters = {};
  for (const f of FILTERS) filters[f] = (query.get(f) || '').slice(0, 200);
  const items = [];
  const rows = [];
  let next = '';
  let selected = -1;
  let loadingMore = false;
  let destroyed = false;
  let ctx;
  const tbody = h('tbody');
  const moreBtn = h('button.btn', { type: 'button', id: 'load-more', hidden: true }, 'Load more');
  const count = h('span.muted.small', { 'aria-live': 'polite' });
  const status = h('p.muted');

  function urlQuery(f) {
    return api.qs(Object.fromEntries(FILTERS.map((k) => [k, f[k]])));
  }

  function filterForm() {
    const sel = (name, label, options) => {
      const el = h('select', { id: `f-${name}`, name }, options.map(([v, t]) => h('option', { value: v, selected: filters[name] === v }, t)));
      return h('div', null, h('label', { for: `f-${name}` }, label), el);
    };
    const inp = (name, label, attrs) => h('div', null, h('label', { for: `f-${name}` }, label),
      h('input', { id: `f-${name}`, name, value: filters[name], ...attrs }));
    const form = h('form.filters', { role: 'search', 'aria-label': 'Filter incidents' },
      sel('status', 'Status', [['', 'Any'], ['open', 'Open'], ['acknowledged', 'Acknowledged'], ['closed', 'Closed'], ['false_positive', 'False positive'], ['merged', 'Merged']]),
      sel('min_severity', 'Min severity', [['', 'Any'], ['low', 'Low'], ['medium', 'Medium'], ['high', 'High'], ['critical', 'Critical']]),
      inp('min_risk', 'Min risk', { type: 'number', min: 0, max: 100, step: 1, class: 'num' }),
      inp('entity', 'Entity (kind:value)', { placeholder: 'user:alice', pattern: '[a-z_]+:.+' }),
      inp('q', 'Text', { type: 'search', placeholder: 'title, summary, entity' }),
      h('button.btn', { type: 'submit' }, 'Apply'),
      h('button.btn.ghost', { type: 'button', onclick: () => { location.hash = '#/incidents'; } }, 'Reset'));
    form.addEventListener('change', (ev) => { if (ev.target.tagName === 'SELECT') form.requestSubmit(); });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const f = {};
      for (const k of FILTERS) f[k] = form.elements[k].value.trim();
      location.hash = `#/incidents${urlQuery(f)}`;
    });
    return form;
  }

  function row(inc, i) {
    const ents = inc.entities || [];
    const shown = ents.slice(0, 4).map(entityChip);
    if (ents.length > 4 || (inc.entity_count || 0) > shown.length) {
      shown.push(h('span.chip.muted', null, `+${Math.max(ents.length, inc.entity_count || 0) - shown.length}`));
    }
    const sv = inc.suggested_verdict;
    const svp = sv ? (sv.probability ?? sv.confidence) : undefined;
    const href = `#/incidents/${encodeURIComponent(inc.id)}`;
    const tr = h('tr', { dataset: { id: inc.id, index: String(i) }, 'aria-current': 'false' },
      h('td.nowrap', null, riskBar(inc.risk)),
      h('td', null, sevTag(inc.severity)),
      h('td.title', null, h('a', { href }, inc.title || inc.id),
        inc.summary ? h('div.muted.small', null, inc.summary.slice(0, 160)) : null),
      h('td', null, statusTag(inc.status), inc.assignee ? h('div.small.muted', null, `@${inc.assignee}`) : null),
      h('td', null, h('div.chips', null, shown)),
      h('td', null, (inc.tactics || []).slice(0, 3).map((t) => h('div.tactic-tag', null, t)),
        (inc.tactics || []).length > 3 ? h('div.tactic-tag', null, `+${inc.tactics.length - 3}`) : null),
      h('td.nowrap.small', { title: fmtTime(inc.last_seen) }, fmtShort(inc.last_seen)),
      h('td', null, sv ? h(`span.verdict-tag.verdict-${sv.verdict}`, null, `${VERDICT_NAMES[sv.verdict] || sv.verdict} ${pct(svp)}`) : ''));
    tr.addEventListener('click', (ev) => {
      if (ev.target.closest('a')) return;
      select(i);
      location.hash = href;
    });
    return tr;
  }

  function select(i, scroll = true) {
    if (i < 0 || i >= rows.length) return;
    if (selected >= 0 && rows[selected]) {
      rows[selected].classList.remove('selected');
      rows[selected].setAttribute('aria-current', 'false');
    }
    selected = i;
    rows[i].classList.add('selected');
    rows[i].setAttribute('aria-current', 'true');
    lastSelectedId = items[i].id;
    if (scroll) rows[i].scrollIntoView({ block: 'nearest' });
  }

  async function load(cursor) {
    loadingMore = true;
    moreBtn.disabled = true;
    try {
      const page = await api.get(`/api/v1/incidents${api.qs({ ...filters, sort: 'risk', limit: PAGE, cursor })}`);
      if (destroyed) return;
      const t0 = performance.now();
      const frag = document.createDocumentFragment();
      for (const inc of page.items || []) {
        const i = items.length;
        items.push(inc);
        const tr = row(inc, i);
        rows.push(tr);
        frag.append(tr);
      }
      tbody.append(frag);
      // User Timing entry (devtools, the browser test's scale run): building and appending one page.
      performance.measure('vigil:queue-page', { start: t0, end: performance.now() });
      next = page.next || '';
      moreBtn.hidden = !next;
      count.textContent = `${items.length} shown${next ? ', more available' : ''}`;
      status.textContent = items.length ? '' : 'No incidents match these filters.';
      if (selected < 0 && items.length) {
        const keep = items.findIndex((x) => x.id === lastSelectedId);
        select(keep >= 0 ? keep : 0, keep >= 0);
      }
    } catch (e) {
      if (e.status !== 401) status.textContent = `Could not load incidents: ${e.message}`;
    } finally {
      loadingMore = false;
      moreBtn.disabled = false;
    }
  }

  moreBtn.addEventListener('click', () => { if (next && !loadingMore) load(next); });

  function replaceRow(inc) {
    const i = items.findIndex((x) => x.id === inc.id);
    if (i < 0) return;
    items[i] = { ...items[i], ...inc };
    const tr = row(items[i], i);
    rows[i].replaceWith(tr);
    rows[i] = tr;
    if (selected === i) { selected = -1; select(i, false); }
  }

  async function quickStatus(st) {
    const inc = items[selected];
    if (!inc) return;
    try {
      replaceRow(await setStatus(inc, st));
      ctx.toast(`${st === 'closed' ? 'Closed' : 'Acknowledged'}: ${inc.title}`);
    } catch (e) { ctx.toast(e.message, true); }
  }

  return {
    mount(main, c) {
      ctx = c;
      sessionStorage.setItem('vigil.queue.query', urlQuery(filters));
      clear(main).append(
        h('h1', null, 'Incidents'),
        filterForm(),
        h('table.grid', { id: 'queue', 'aria-label': 'Incidents by risk' },
          h('colgroup', null, ['risk', 'sev', 'title', 'status', 'ent', 'tac', 'seen', 'sugg'].map((c) => h(`col.c-${c}`))),
          h('thead', null, h('tr', null,
            ['Risk', 'Severity', 'Title', 'Status', 'Entities', 'Tactics', 'Last seen', 'Suggested'].map((t) => h('th', { scope: 'col' }, t)))),
          tbody),
        status,
        h('div.more', null, moreBtn, count));
      load('');
    },
    key(ev) {
      const k = ev.key;
      if (k === 'j') {
        if (selected + 1 < rows.length) select(selected + 1);
        else if (next && !loadingMore) load(next).then(() => select(selected + 1));
        return true;
      }
      if (k === 'k') { select(Math.max(0, selected - 1)); return true; }
      if ((k === 'Enter' || k === 'o') && items[selected]) {
        location.hash = `#/incidents/${encodeURIComponent(items[selected].id)}`;
        return true;
      }
      if (k === 'a') { quickStatus('acknowledged'); return true; }
      if (k === 'c') { quickStatus('closed'); return true; }
      const preset = { t: 'true_positive', b: 'benign_true_positive', f: 'false_positive', d: 'duplicate' }[k];
      if (preset && items[selected]) {
        openVerdict(items[selected], preset, (res) => { if (res.incident) replaceRow(res.incident); ctx.toast('Verdict recorded'); });
        return true;
      }
      return false;
    },
    destroy() { destroyed = true; },
  };
}
