// The entity page: profile, baselines, incidents, timeline.
import * as api from './api.js';
import { h, clear, riskBar, sevTag, statusTag, fmtTime, loading } from './dom.js';

export function entityView(kind, value) {
  let destroyed = false;
  const root = h('div', { id: 'entity' });
  const base = `/api/v1/entities/${api.enc(kind)}/${api.enc(value)}`;

  function profile(res) {
    const ctxEntries = Object.entries(res.context || {}).filter(([, v]) => v !== '' && v !== null && v !== undefined && v !== false);
    return h('section.panel', { 'aria-labelledby': 'ent-title' },
      h('div.small.muted', null, h('a', { href: '#/incidents' }, '← Queue')),
      h('h1', { id: 'ent-title' }, h('span.muted', null, `${kind}:`), value),
      h('dl.kv', null,
        h('dt', null, 'Risk'), h('dd', null, riskBar(res.risk)),
        h('dt', null, 'First seen'), h('dd', null, fmtTime(res.first_seen) || '–'),
        h('dt', null, 'Last seen'), h('dd', null, fmtTime(res.last_seen) || '–'),
        h('dt', null, 'Signals'), h('dd', null, String(res.signal_count ?? '–')),
        ctxEntries.map(([k, v]) => [h('dt', null, k.replace(/_/g, ' ')), h('dd', null, typeof v === 'object' ? JSON.stringify(v) : String(v))])),
      h('p', null, h('a', { href: `#/incidents?entity=${api.enc(`${kind}:${value}`)}` }, 'All incidents on this entity')));
  }

  function baselines(list) {
    const sec = h('section.panel', { 'aria-labelledby': 'h-ebl' }, h('h2', { id: 'h-ebl' }, 'Baselines'));
    if (!list?.length) { sec.append(h('p.muted', null, 'No behavioral baseline departed from.')); return sec; }
    sec.append(h('table.grid', null, h('thead', null, h('tr', null, ['Detector', 'Attribute', 'Learned from'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, list.map((b) => h('tr', null, h('td', null, b.detector || ''), h('td', null, b.attribute || ''), h('td', null, fmtTime(b.learned_from)))))));
    return sec;
  }

  function incidents(list) {
    const sec = h('section.panel', { 'aria-labelledby': 'h-einc' }, h('h2', { id: 'h-einc' }, 'Incidents'));
    if (!list?.length) { sec.append(h('p.muted', null, 'None.')); return sec; }
    sec.append(h('table.grid', null, h('thead', null, h('tr', null, ['Risk', 'Severity', 'Title', 'Status', 'Last seen'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, list.map((inc) => h('tr', null, h('td.nowrap', null, riskBar(inc.risk)), h('td', null, sevTag(inc.severity)),
        h('td.title', null, h('a', { href: `#/incidents/${api.enc(inc.id)}` }, inc.title || inc.id)), h('td', null, statusTag(inc.status)),
        h('td.small.nowrap', null, fmtTime(inc.last_seen)))))));
    return sec;
  }

  function timeline() {
    const ul = h('ol.timeline');
    const more = h('button.btn', { type: 'button', hidden: true }, 'Load more');
    const sec = h('section.panel', { 'aria-labelledby': 'h-etl' }, h('h2', { id: 'h-etl' }, 'Timeline'), ul, more);
    let next = '';
    async function page(cursor) {
      more.disabled = true;
      try {
        const res = await api.get(`${base}/timeline${api.qs({ limit: 100, cursor })}`);
        if (destroyed) return;
        for (const it of res?.items || []) {
          const title = it.type === 'incident'
            ? h('a', { href: `#/incidents/${api.enc(it.id)}` }, it.title || it.id) : (it.title || it.id);
          ul.append(h('li', null, h('div.t', null, fmtTime(it.time), ' · ', it.type, it.detector_id ? ` · ${it.detector_id}` : ''),
            h('div', null, it.severity ? sevTag(it.severity) : '', ' ', title)));
        }
        if (!ul.childElementCount) ul.replaceWith(h('p.muted', null, 'Nothing in the timeline.'));
        next = res?.next || '';
        more.hidden = !next;
      } catch (e) {
        if (e.status !== 401) sec.append(h('p.error', null, `Timeline unavailable: ${e.message}`));
      } finally { more.disabled = false; }
    }
    more.addEventListener('click', () => { if (next) page(next); });
    page('');
    return sec;
  }

  return {
    mount(main) {
      document.title = `${kind}:${value} · Vigil`;
      clear(main).append(root);
      root.append(loading());
      api.get(base).then((res) => {
        if (destroyed) return;
        clear(root).append(profile(res || {}), h('div.grid2', null,
          h('div', null, incidents(res?.incidents), timeline()), h('div', null, baselines(res?.baselines))));
      }, (e) => {
        if (e.status === 401) return;
        clear(root).append(h('h1', null, `${kind}:${value}`), h('p.error', { role: 'alert' }, e.status === 404 ? 'Vigil has seen nothing of this entity.' : e.message));
      });
    },
    destroy() { destroyed = true; document.title = 'Vigil console'; },
  };
}
