// The verdict dialog: POST /api/v1/feedback on an incident, then (optionally) the
// status that follows from the verdict through PATCH.
import * as api from './api.js';
import { VERDICT_NAMES, STATUS_NAMES } from './dom.js';

// statusAfter is the status a verdict moves an incident to (none when it is already there).
export const STATUS_AFTER = {
  true_positive: 'acknowledged',
  benign_true_positive: 'closed',
  false_positive: 'false_positive',
  duplicate: 'closed',
};

let state = null; // {incident, onDone}

function els() {
  return {
    dialog: document.getElementById('verdict-dialog'),
    form: document.getElementById('verdict-form'),
    scope: document.getElementById('v-scope'),
    value: document.getElementById('v-value'),
    error: document.getElementById('verdict-error'),
    submit: document.getElementById('verdict-submit'),
    setstatus: document.getElementById('v-setstatus'),
    setstatusLabel: document.getElementById('v-setstatus-label'),
    title: document.getElementById('verdict-title'),
  };
}

function syncStatusLabel() {
  const e = els();
  const v = e.form.elements.verdict.value;
  const to = STATUS_AFTER[v];
  e.setstatusLabel.textContent = to ? `Also set the status to ${STATUS_NAMES[to]}` : 'Also update the status';
}

let wired = false;
function wire() {
  if (wired) return;
  wired = true;
  const e = els();
  e.scope.addEventListener('change', () => {
    e.value.disabled = e.scope.value !== 'value';
    if (!e.value.disabled) e.value.focus();
  });
  e.form.addEventListener('change', syncStatusLabel);
  document.getElementById('verdict-cancel').addEventListener('click', () => e.dialog.close('cancel'));
  e.form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!state) return;
    const f = e.form.elements;
    const verdict = f.verdict.value;
    if (!verdict) { e.error.textContent = 'Choose a verdict.'; return; }
    let scope = f.scope.value;
    if (scope === 'value') {
      const v = f.value.value.trim();
      if (!/^[a-z_]+:.+$/.test(v)) { e.error.textContent = 'Value scope needs kind:value, e.g. host:ws-1.'; f.value.focus(); return; }
      scope = `value:${v}`;
    }
    const body = { target_kind: 'incident', target_id: state.incident.id, verdict, reason: f.reason.value.trim() };
    if (scope) body.scope = scope;
    if (f.expires.value) body.expires = f.expires.value;
    e.submit.disabled = true;
    e.error.textContent = '';
    const { incident, onDone } = state;
    try {
      const feedback = await api.post('/api/v1/feedback', body);
      let updated = null;
      const to = STATUS_AFTER[verdict];
      if (e.setstatus.checked && to && incident.status !== to && incident.status !== 'merged') {
        updated = await api.patch(`/api/v1/incidents/${api.enc(incident.id)}`, { status: to });
      }
      state = null;
      e.dialog.close('submit');
      onDone({ feedback, incident: updated });
    } catch (err) {
      e.error.textContent = err.status === 403 ? `Not allowed: ${err.message}` : err.message;
    } finally {
      e.submit.disabled = false;
    }
  });
  e.dialog.addEventListener('close', () => { state = null; });
}

// openVerdict shows the dialog for incident with preset chosen; onDone({feedback, incident?}) runs after it is recorded.
export function openVerdict(incident, preset, onDone) {
  wire();
  const e = els();
  state = { incident, onDone };
  e.form.reset();
  e.value.disabled = true;
  e.error.textContent = '';
  e.title.textContent = `Verdict on: ${incident.title || incident.id}`;
  for (const r of e.form.elements.verdict) r.checked = r.value === preset;
  syncStatusLabel();
  e.dialog.showModal();
  const checked = [...e.form.elements.verdict].find((r) => r.checked);
  document.getElementById('v-reason').focus();
  if (!checked) e.form.elements.verdict[0].focus();
}

export function verdictName(v) { return VERDICT_NAMES[v] || v; }
