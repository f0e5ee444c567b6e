// SVG drawings: the entity graph (deterministic force layout from a circle) and
// baseline-versus-observed bars.
import { s, h, entityHref } from './dom.js';

const KINDS = new Set(['user', 'host', 'ip', 'domain', 'signal']);
const MAX_NODES = 150;

// layout places nodes with a fixed number of Fruchterman-Reingold steps starting
// from a circle ordered by id: the same graph is drawn the same way every time.
export function layout(nodes, edges, w, hgt) {
  const n = nodes.length;
  const idx = new Map(nodes.map((nd, i) => [nd.id, i]));
  const order = nodes.map((_, i) => i).sort((a, b) => (nodes[a].id < nodes[b].id ? -1 : 1));
  const pos = new Array(n);
  const r0 = Math.min(w, hgt) * 0.38;
  order.forEach((i, k) => {
    const a = (2 * Math.PI * k) / Math.max(1, n);
    pos[i] = { x: w / 2 + r0 * Math.cos(a), y: hgt / 2 + r0 * Math.sin(a) };
  });
  const links = edges.map((e) => [idx.get(e.from), idx.get(e.to)]).filter(([a, b]) => a !== undefined && b !== undefined && a !== b);
  const kOpt = Math.sqrt((w * hgt) / Math.max(1, n)) * 0.6;
  let temp = Math.min(w, hgt) / 8;
  for (let iter = 0; iter < 220 && n > 1; iter++) {
    const disp = pos.map(() => ({ x: 0, y: 0 }));
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        let dx = pos[i].x - pos[j].x;
        let dy = pos[i].y - pos[j].y;
        let d = Math.hypot(dx, dy);
        if (d < 0.01) { dx = 0.01 * (i - j); dy = 0.01; d = Math.hypot(dx, dy); }
        const f = (kOpt * kOpt) / d;
        disp[i].x += (dx / d) * f; disp[i].y += (dy / d) * f;
        disp[j].x -= (dx / d) * f; disp[j].y -= (dy / d) * f;
      }
    }
    for (const [a, b] of links) {
      const dx = pos[a].x - pos[b].x;
      const dy = pos[a].y - pos[b].y;
      const d = Math.max(0.01, Math.hypot(dx, dy));
      const f = (d * d) / kOpt;
      disp[a].x -= (dx / d) * f; disp[a].y -= (dy / d) * f;
      disp[b].x += (dx / d) * f; disp[b].y += (dy / d) * f;
    }
    for (let i = 0; i < n; i++) {
      // gravity keeps unconnected parts on screen
      disp[i].x += (w / 2 - pos[i].x) * 0.3;
      disp[i].y += (hgt / 2 - pos[i].y) * 0.3;
      const d = Math.max(0.01, Math.hypot(disp[i].x, disp[i].y));
      const step = Math.min(d, temp);
      pos[i].x = Math.min(w - 30, Math.max(30, pos[i].x + (disp[i].x / d) * step));
      pos[i].y = Math.min(hgt - 20, Math.max(20, pos[i].y + (disp[i].y / d) * step));
    }
    temp *= 0.97;
  }
  // Fit the drawing to the box: disconnected parts drift apart, dense ones shrink.
  if (n > 1) {
    const xs = pos.map((p) => p.x);
    const ys = pos.map((p) => p.y);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const mx = 40;
    const my = 24;
    for (const p of pos) {
      p.x = x1 - x0 < 1 ? w / 2 : mx + ((p.x - x0) / (x1 - x0)) * (w - 2 * mx - 120);
      p.y = y1 - y0 < 1 ? hgt / 2 : my + ((p.y - y0) / (y1 - y0)) * (hgt - 2 * my);
    }
  }
  return { pos, links };
}

// entityGraph draws {nodes, edges}; entity nodes link to their entity page.
export function entityGraph(graph) {
  let nodes = (graph?.nodes || []).filter((nd) => nd && nd.id);
  const dropped = Math.max(0, nodes.length - MAX_NODES);
  nodes = nodes.slice(0, MAX_NODES);
  const edges = (graph?.edges || []).filter((e) => e && e.from && e.to);
  const w = 640;
  const hgt = 340;
  const svg = s('svg', { class: 'graph', viewBox: `0 0 ${w} ${hgt}`, role: 'img', 'aria-label': `Entity graph: ${nodes.length} entities, ${edges.length} links` });
  if (!nodes.length) {
    svg.append(s('text', { x: 20, y: 30 }, 'No entities.'));
    return svg;
  }
  const { pos } = layout(nodes, edges, w, hgt);
  const idxOf = new Map(nodes.map((nd, i) => [nd.id, i]));
  const labels = nodes.length <= 40;
  const seen = new Set();
  edges.forEach((e) => {
    const a = idxOf.get(e.from);
    const b = idxOf.get(e.to);
    if (a === undefined || b === undefined || a === b) return;
    const key = a < b ? `${a}-${b}` : `${b}-${a}`;
    if (seen.has(key)) return;
    seen.add(key);
    svg.append(s('line', { x1: pos[a].x.toFixed(1), y1: pos[a].y.toFixed(1), x2: pos[b].x.toFixed(1), y2: pos[b].y.toFixed(1) },
      s('title', null, e.title || e.signal_id || `${e.from} – ${e.to}`)));
  });
  nodes.forEach((nd, i) => {
    const kind = KINDS.has(nd.kind) ? nd.kind : 'other';
    const r = 7 + Math.min(10, (typeof nd.risk === 'number' ? nd.risk : 0) / 10);
    const label = nd.value ? `${nd.kind}:${nd.value}` : nd.id;
    const g = s('g', null,
      s('circle', { cx: pos[i].x.toFixed(1), cy: pos[i].y.toFixed(1), r: r.toFixed(1), class: `n-${kind}` }, s('title', null, label + (typeof nd.risk === 'number' ? ` (risk ${nd.risk.toFixed(0)})` : ''))),
      labels ? s('text', { x: (pos[i].x + r + 3).toFixed(1), y: (pos[i].y + 4).toFixed(1) }, (nd.value || nd.id).slice(0, 28)) : null);
    if (nd.kind && nd.value && nd.kind !== 'signal') {
      const a = s('a', { href: entityHref(nd), 'aria-label': label }, g);
      svg.append(a);
    } else {
      svg.append(g);
    }
  });
  if (dropped) svg.append(s('text', { x: 10, y: hgt - 8 }, `${dropped} more not drawn`));
  return svg;
}

export function graphLegend() {
  return h('div.legend', null, ['user', 'host', 'ip', 'domain', 'other'].map((k) => h('span', null, h(`i.n-${k}`), k)));
}

function num(v) {
  const x = parseFloat(String(v ?? '').replace(/[^0-9eE+\-.]/g, ''));
  return Number.isFinite(x) ? x : null;
}

function shorten(t, n) { return t.length > n ? `${t.slice(0, n - 1)}…` : t; }

// featureBars draws expected (grey) against observed (orange) for each feature
// with numbers; each feature is scaled to its own maximum (units differ).
export function featureBars(features) {
  const rows = (features || []).map((f) => ({ name: f.name, e: num(f.expected), o: num(f.observed), es: f.expected, os: f.observed }))
    .filter((f) => f.e !== null || f.o !== null).slice(0, 10);
  if (!rows.length) return null;
  const rowH = 30;
  const w = 520;
  const labelW = 200;
  const barW = w - labelW - 140;
  const svg = s('svg', { class: 'bars', viewBox: `0 0 ${w} ${rows.length * rowH + 18}`, role: 'img', 'aria-label': 'Baseline (expected) against observed, per feature' });
  svg.append(s('text', { x: labelW, y: 11, class: 'exp' }, '■ expected'), s('text', { x: labelW + 80, y: 11, class: 'obs' }, '■ observed'));
  rows.forEach((f, i) => {
    const y = 18 + i * rowH;
    const max = Math.max(Math.abs(f.e || 0), Math.abs(f.o || 0)) || 1;
    const we = (Math.abs(f.e || 0) / max) * barW;
    const wo = (Math.abs(f.o || 0) / max) * barW;
    svg.append(
      s('text', { x: 0, y: y + 16 }, s('title', null, f.name), f.name.length > 30 ? `${f.name.slice(0, 29)}…` : f.name),
      s('rect', { x: labelW, y: y + 3, width: Math.max(1, we).toFixed(1), height: 10, class: 'exp' }),
      s('rect', { x: labelW, y: y + 15, width: Math.max(1, wo).toFixed(1), height: 10, class: 'obs' }),
      s('text', { x: labelW + Math.max(we, wo) + 6, y: y + 16 }, s('title', null, `expected ${f.es ?? ''}; observed ${f.os ?? ''}`), shorten(`${f.es ?? ''} → ${f.os ?? ''}`, 24)));
  });
  return svg;
}
