// DOM helpers. Text always goes through textContent (never innerHTML), so data
// from the API cannot inject markup; no style attributes (CSP).

const SVG_NS = 'http://www.w3.org/2000/svg';

// h builds an element: h('a.chip', {href: '#/x'}, 'text', child, [more]).
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

// s builds an SVG element.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null && v !== false) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'selected') el[k] = v;
    else if (k === 'style') throw new Error('no style attributes (CSP): use a class');
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) { el.replaceChildren(); return el; }

// width sets a bar's width through the CSSOM (allowed by the CSP, unlike a style attribute).
export function width(el, fraction) {
  el.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  return el;
}

const pad = (n) => String(n).padStart(2, '0');

// fmtTime prints an RFC 3339 time as "2026-03-04 01:19:07 UTC" (times are event times, shown in UTC).
export function fmtTime(t) {
  if (!t || t.startsWith('0001-')) return '';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

export function fmtShort(t) {
  const f = fmtTime(t);
  return f ? f.slice(5, 16) : '';
}

export function fmtNum(x, digits = 0) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '';
  return x.toFixed(digits);
}

export function pct(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '';
  return `${Math.round(x * 100)}%`;
}

export const VERDICT_NAMES = {
  true_positive: 'True positive',
  benign_true_positive: 'Benign',
  false_positive: 'False positive',
  duplicate: 'Duplicate',
  tp: 'True positive', btp: 'Benign', fp: 'False positive', dup: 'Duplicate',
};

export const STATUS_NAMES = {
  open: 'Open', acknowledged: 'Acknowledged', closed: 'Closed', false_positive: 'False positive', merged: 'Merged',
};

export function sevTag(sev) {
  return h(`span.sev.sev-${String(sev || 'informational').replace(/[^a-z]/g, '')}`, null, sev || '');
}

export function statusTag(st) {
  return h(`span.status.status-${String(st || '').replace(/[^a-z_]/g, '')}`, null, STATUS_NAMES[st] || st || '');
}

export function entityHref(e) {
  return `#/entities/${encodeURIComponent(e.kind)}/${encodeURIComponent(e.value)}`;
}

export function entityChip(e) {
  return h('a.chip', { href: entityHref(e), title: `${e.kind}:${e.value}` }, h('span.k', null, `${e.kind}:`), e.value);
}

export function riskBar(risk) {
  const r = typeof risk === 'number' ? risk : 0;
  const cls = r >= 60 ? '.r-crit' : r >= 30 ? '.r-high' : '';
  const bar = h(`span.riskbar${cls}`, { role: 'img', 'aria-label': `risk ${fmtNum(r)} of 100` }, width(h('span'), r / 100));
  return h('span.nowrap', null, bar, h('span.riskval', null, fmtNum(r)));
}

export function jsonPre(raw) {
  let text = raw;
  try { text = JSON.stringify(typeof raw === 'string' ? JSON.parse(raw) : raw, null, 2); } catch { text = String(raw); }
  return h('pre.json', null, text);
}

export function loading(label = 'Loading…') { return h('p.muted', { 'aria-busy': 'true' }, label); }
