// The incident page: what happened, why, what to do, and the verdict.
import * as api from './api.js';
import { h, clear, sevTag, statusTag, entityChip, fmtTime, fmtNum, pct, width, jsonPre, loading, VERDICT_NAMES, STATUS_NAMES } from './dom.js';
import { entityGraph, graphLegend, featureBars } from './charts.js';
import { openVerdict } from './verdict.js';

// The 14 ATT&CK enterprise tactics in kill-chain order.
export const TACTICS = [
  ['reconnaissance', 'Recon\u00adnaissance'], ['resource-development', 'Resource Development'], ['initial-access', 'Initial Access'],
  ['execution', 'Execution'], ['persistence', 'Persistence'], ['privilege-escalation', 'Privilege Escalation'],
  ['defense-evasion', 'Defense Evasion'], ['credential-access', 'Credential Access'], ['discovery', 'Discovery'],
  ['lateral-movement', 'Lateral Movement'], ['collection', 'Collection'], ['command-and-control', 'Command and Control'],
  ['exfiltration', 'Exfiltration'], ['impact', 'Impact'],
];

// setStatus PATCHes an incident's status and returns the updated incident.
export async function setStatus(inc, status) {
  return api.patch(`/api/v1/incidents/${api.enc(inc.id)}`, { status });
}

function tacticStrip(tactics) {
  const on = new Set((tactics || []).map((t) => String(t).toLowerCase().replace(/[ _]/g, '-')));
  return h('div.tactics', { role: 'list', 'aria-label': 'ATT&CK tactics (highlighted: seen in this incident)' },
    TACTICS.map(([id, name]) => h(on.has(id) ? 'div.on' : 'div', { role: 'listitem', title: id, 'aria-label': `${name.replace('\u00ad', '')}${on.has(id) ? ': seen' : ''}` }, name)));
}

function kpi(label, value, extra) {
  return h('div.kpi', null, h('div.v', null, value, extra || ''), h('div.l', null, label));
}

function isBehavioral(sig) {
  const ex = sig.explanation || {};
  return Boolean(sig.baseline || (ex.features && ex.features.length) || (String(sig.detector_id || '').startsWith('behavior') && ex.expected && ex.observed));
}

// baselineText says whose baseline of what a behavioral signal departs from.
function baselineText(b) {
  const e = b.entity;
  const who = typeof e === 'string' ? e : e && e.kind && e.value ? `${e.kind}:${e.value}` : '';
  return [who, b.attribute].filter(Boolean).join(' · ') + (b.learned_from ? `, learned from ${fmtTime(b.learned_from)}` : '');
}

export function incidentView(id) {
  let data = null;
  let ctx;
  let destroyed = false;
  const root = h('div', { id: 'incident' });
  let graphEl = null; // fetched once per page, kept across re-renders
  let evidenceEl = null;

  function stepsKey() { return `vigil.steps.${id}`; }

  async function load() {
    try {
      const res = await api.get(`/api/v1/incidents/${api.enc(id)}`);
      if (destroyed) return;
      data = res && res.incident ? res : { incident: res };
      render();
    } catch (e) {
      if (e.status === 401) return;
      clear(root).append(h('h1', null, 'Incident'), h('p.error', { role: 'alert' }, e.status === 404 ? `No incident ${id}.` : e.message),
        h('a', { href: '#/incidents' }, 'Back to the queue'));
    }
  }

  async function changeStatus(st) {
    try {
      const inc = await setStatus(data.incident, st);
      data.incident = { ...data.incident, ...(inc || { status: st }) };
      render();
      ctx.toast(`Status: ${STATUS_NAMES[st] || st}`);
    } catch (e) { ctx.toast(e.message, true); }
  }

  function verdict(preset) {
    openVerdict(data.incident, preset, async () => {
      ctx.toast('Verdict recorded');
      await load();
      document.getElementById('verdicts')?.scrollIntoView({ block: 'nearest' });
    });
  }

  function header(inc) {
    const stSel = h('select', { id: 'status-select', 'aria-label': 'Status' },
      ['open', 'acknowledged', 'closed', 'false_positive'].map((st) => h('option', { value: st, selected: inc.status === st }, STATUS_NAMES[st])),
      inc.status === 'merged' ? h('option', { value: 'merged', selected: true, disabled: true }, 'Merged') : null);
    stSel.addEventListener('change', () => changeStatus(stSel.value));
    const assignee = h('input', { id: 'assignee', value: inc.assignee || '', placeholder: api.session.user, maxlength: 200, size: 12 });
    const assign = h('form.controls', { 'aria-label': 'Assignee' },
      h('div', null, h('label', { for: 'assignee' }, 'Assignee'), assignee),
      h('button.btn', { type: 'submit' }, 'Assign'),
      h('button.btn.ghost', { type: 'button', onclick: () => { assignee.value = api.session.user; assign.requestSubmit(); } }, 'Take'));
    assign.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const upd = await api.patch(`/api/v1/incidents/${api.enc(inc.id)}`, { assignee: assignee.value.trim() });
        data.incident = { ...data.incident, ...(upd || { assignee: assignee.value.trim() }) };
        render();
        ctx.toast('Assignee saved');
      } catch (e) { ctx.toast(e.message, true); }
    });
    const vb = (cls, v, label, key) => h(`button.btn.${cls}`, { type: 'button', 'aria-keyshortcuts': key, dataset: { verdict: v }, onclick: () => verdict(v) }, label, ' ', h('kbd', null, key));
    return h('section.panel', { 'aria-labelledby': 'inc-title' },
      h('div.incident-head', null,
        h('div', null,
          h('div.small.muted', null, h('a', { href: '#/incidents' + (sessionStorage.getItem('vigil.queue.query') || '') }, '← Queue'), ` · ${inc.id}`),
          h('h1', { id: 'inc-title' }, inc.title || inc.id),
          h('div.kpis', null,
            kpi('Risk', fmtNum(inc.risk), h('span.small.muted', null, ' /100')),
            kpi('Severity', sevTag(inc.severity)),
            kpi('Confidence', pct(inc.confidence)),
            kpi('Status', h('span', { id: 'status-value' }, statusTag(inc.status))),
            kpi('Signals', String(inc.signal_count ?? (inc.signal_ids || []).length)),
            kpi('First seen', h('span.small', null, fmtTime(inc.first_seen))),
            kpi('Last seen', h('span.small', null, fmtTime(inc.last_seen)))),
          inc.merged_into ? h('p', null, 'Merged into ', h('a', { href: `#/incidents/${api.enc(inc.merged_into)}` }, inc.merged_into)) : null,
          h('div.chips', null, (inc.entities || []).map(entityChip))),
        h('div.actionbar', null,
          h('div.controls', null,
            h('div', null, h('label', { for: 'status-select' }, 'Status'), stSel),
            h('button.btn', { type: 'button', 'aria-keyshortcuts': 'a', onclick: () => changeStatus('acknowledged') }, 'Acknowledge ', h('kbd', null, 'a')),
            h('button.btn', { type: 'button', 'aria-keyshortcuts': 'c', onclick: () => changeStatus('closed') }, 'Close ', h('kbd', null, 'c'))),
          assign,
          h('div.verdict-buttons', { role: 'group', 'aria-label': 'Give a verdict' },
            vb('tp', 'true_positive', 'True positive', 't'), vb('btp', 'benign_true_positive', 'Benign', 'b'),
            vb('fp', 'false_positive', 'False positive', 'f'), vb('dup', 'duplicate', 'Duplicate', 'd')))),
      tacticStrip(inc.tactics));
  }

  function explanation(ex, inc) {
    const sec = h('section.panel', { 'aria-labelledby': 'h-expl' }, h('h2', { id: 'h-expl' }, 'What happened'));
    const text = ex?.text || inc.summary || '';
    sec.append(h('p.narrative', { id: 'narrative' }, text || 'No explanation.'));
    if (ex?.reasons?.length) {
      sec.append(h('h3', null, 'Why'), h('ul.reasons', null, ex.reasons.map((r) => h('li', null,
        sevTag(r.severity), ' ', h('strong', null, r.title), r.repeats ? h('span.muted', null, ` ×${r.repeats + 1}`) : '',
        h('div.small', null, r.why || ''),
        r.expected || r.observed ? h('div.small.muted', null, `expected ${r.expected || '–'}; observed ${r.observed || '–'}`) : null,
        r.matched?.length ? h('div.mono.muted', null, r.matched.slice(0, 6).join('  ')) : null))));
    }
    if (ex?.benign_if?.length) {
      sec.append(h('h3', null, 'It would be benign if'), h('ul', null, ex.benign_if.map((b) => h('li.small', null, b))));
    }
    if (ex?.confidence) sec.append(h('p.small.muted', null, `Confidence: ${ex.confidence}`));
    return sec;
  }

  function timeline(signals) {
    const sec = h('section.panel', { 'aria-labelledby': 'h-tl' }, h('h2', { id: 'h-tl' }, `Timeline (${signals.length} signals)`));
    if (!signals.length) { sec.append(h('p.muted', null, 'No signals.')); return sec; }
    const ul = h('ol.timeline', { id: 'timeline' });
    const shown = signals.slice(0, 200);
    for (const sig of shown) {
      ul.append(h('li', null,
        h('div.t', null, fmtTime(sig.time), ' · ', sig.detector_id || '', sig.rule_id ? ` · ${sig.rule_id}` : ''),
        h('div', null, sevTag(sig.severity), ' ', sig.title || sig.id),
        (sig.tactics || []).length ? h('div.tactic-tag', null, sig.tactics.join(', ')) : null,
        sig.explanation?.summary ? h('div.small.muted', null, sig.explanation.summary) : null));
    }
    sec.append(ul);
    if (signals.length > shown.length) sec.append(h('p.muted.small', null, `${signals.length - shown.length} more signals not shown.`));
    return sec;
  }

  function baselines(signals) {
    const seen = new Set();
    const beh = [];
    for (const sig of signals) {
      if (!isBehavioral(sig)) continue;
      const key = `${sig.detector_id}|${sig.rule_id}|${(sig.entities || []).map((e) => e.value).join(',')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      beh.push(sig);
      if (beh.length >= 6) break;
    }
    if (!beh.length) return null;
    const sec = h('section.panel', { 'aria-labelledby': 'h-bl' }, h('h2', { id: 'h-bl' }, 'Baseline against observed'));
    for (const sig of beh) {
      const ex = sig.explanation || {};
      const chart = featureBars(ex.features);
      sec.append(h('div.baseline', null,
        h('strong', null, sig.title || sig.rule_id),
        h('dl', null,
          sig.baseline ? [h('dt', null, 'Baseline of'), h('dd', null, baselineText(sig.baseline))] : null,
          h('dt', null, 'Expected'), h('dd', null, ex.expected || '–'),
          h('dt', null, 'Observed'), h('dd', null, ex.observed || '–')),
        chart));
    }
    return sec;
  }

  function suggested(sv) {
    if (!sv || !sv.verdict) return null;
    const p = sv.probability ?? sv.confidence ?? sv.p_true;
    return h('section.panel', { 'aria-labelledby': 'h-sv', id: 'suggested' }, h('h2', { id: 'h-sv' }, 'Suggested verdict'),
      h('div.sugg', null, h(`strong.verdict-${sv.verdict}`, null, VERDICT_NAMES[sv.verdict] || sv.verdict),
        h('span.prob', { role: 'img', 'aria-label': `probability ${pct(p)}` }, width(h('span'), p || 0)), h('span', null, pct(p))),
      sv.because?.length ? h('div.small.muted', null, `Because: ${sv.because.join('; ')}`) : null,
      sv.model ? h('div.small.muted', null, sv.model) : null,
      h('p.small.muted', null, 'A suggestion only: nothing acts on it.'));
  }

  function verdicts(list) {
    const sec = h('section.panel', { 'aria-labelledby': 'h-vd', id: 'verdicts' }, h('h2', { id: 'h-vd' }, 'Verdicts'));
    if (!list?.length) { sec.append(h('p.muted', null, 'No verdict yet.')); return sec; }
    sec.append(h('ul.verdict-list', null, list.map((f) => h('li', { dataset: { verdict: f.verdict } },
      h(`strong.verdict-${f.verdict}`, null, VERDICT_NAMES[f.verdict] || f.verdict),
      h('span.muted.small', null, ` by ${f.author || '?'} at ${fmtTime(f.created)}`),
      f.scope ? h('span.small', null, ` · scope ${f.scope}`) : null,
      f.expires ? h('span.small.muted', null, ` · until ${fmtTime(f.expires)}`) : null,
      f.reason ? h('div.small', null, f.reason) : null))));
    return sec;
  }

  function nextSteps(steps) {
    if (!steps?.length) return null;
    let done = {};
    try { done = JSON.parse(localStorage.getItem(stepsKey()) || '{}'); } catch { done = {}; }
    const sec = h('section.panel', { 'aria-labelledby': 'h-ns' }, h('h2', { id: 'h-ns' }, 'Next steps'),
      h('p.small.muted', null, 'Ticks are kept in this browser only.'));
    const ul = h('ul.steps');
    steps.forEach((st, i) => {
      const cid = `step-${i}`;
      const cb = h('input', { type: 'checkbox', id: cid, checked: Boolean(done[i]) });
      const li = h(done[i] ? 'li.done' : 'li', null, cb, h('div', null,
        h('label.st', { for: cid }, st.title || `Step ${i + 1}`, st.for ? h('span.muted', null, ` (${st.for}${st.for_name ? ` ${st.for_name}` : ''})`) : ''),
        st.look_at ? h('div.look', null, st.look_at) : null,
        st.benign_if ? h('div.benign', null, `Benign if: ${st.benign_if}`) : null));
      cb.addEventListener('change', () => {
        done[i] = cb.checked;
        li.classList.toggle('done', cb.checked);
        try { localStorage.setItem(stepsKey(), JSON.stringify(done)); } catch { /* storage full or disabled */ }
      });
      ul.append(li);
    });
    sec.append(ul);
    return sec;
  }

  function graphPanel() {
    const body = h('div', null, loading());
    api.get(`/api/v1/incidents/${api.enc(id)}/graph`).then((g) => {
      if (!destroyed) clear(body).append(entityGraph(g), graphLegend());
    }, (e) => { if (e.status !== 401) clear(body).append(h('p.muted', null, `Graph unavailable: ${e.message}`)); });
    return h('section.panel', { 'aria-labelledby': 'h-gr' }, h('h2', { id: 'h-gr' }, 'Entity graph'), body);
  }

  function evidencePanel() {
    const body = h('div', { id: 'evidence' }, loading());
    api.get(`/api/v1/incidents/${api.enc(id)}/evidence`).then((res) => {
      if (destroyed) return;
      const items = res?.items || [];
      clear(body);
      if (!items.length) { body.append(h('p.muted', null, 'No stored evidence events.')); return; }
      const shown = items.slice(0, 100);
      body.append(h('p.small.muted', null, `${items.length} events${items.length > shown.length ? `, first ${shown.length} shown` : ''}.`));
      for (const ev of shown) {
        const d = h('details.ev', null, h('summary', null, h('span.mono', null, fmtTime(ev.time)), ` ${ev.format || ''} · ${ev.source || ''} · `, h('span.mono.muted', null, ev.event_id || '')));
        d.addEventListener('toggle', () => { if (d.open && d.childElementCount === 1) d.append(jsonPre(ev.json)); }, { once: false });
        body.append(d);
      }
    }, (e) => { if (e.status !== 401) clear(body).append(h('p.muted', null, `Evidence unavailable: ${e.message}`)); });
    return h('section.panel', { 'aria-labelledby': 'h-ev' }, h('h2', { id: 'h-ev' }, 'Evidence events'), body);
  }

  function render() {
    const inc = data.incident || {};
    const signals = [...(data.signals || [])].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    document.title = `${inc.title || id} · Vigil`;
    clear(root).append(
      header(inc),
      h('div.grid2', null,
        h('div', null, explanation(data.explanation, inc), timeline(signals), baselines(signals), (evidenceEl ||= evidencePanel())),
        h('div', null, suggested(data.suggested_verdict), verdicts(data.verdicts), (graphEl ||= graphPanel()), nextSteps(data.next_steps))));
  }

  return {
    mount(main, c) {
      ctx = c;
      clear(main).append(root);
      root.append(loading());
      load();
    },
    key(ev) {
      if (!data) return false;
      const k = ev.key;
      if (k === 'a') { changeStatus('acknowledged'); return true; }
      if (k === 'c') { changeStatus('closed'); return true; }
      const preset = { t: 'true_positive', b: 'benign_true_positive', f: 'false_positive', d: 'duplicate' }[k];
      if (preset) { verdict(preset); return true; }
      return false;
    },
    destroy() { destroyed = true; document.title = 'Vigil console'; },
  };
}
