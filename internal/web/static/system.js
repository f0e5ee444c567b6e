// System: what this node runs (GET /api/v1/status) and, on a member of a
// cluster, the cluster as its bus shows it (GET /api/v1/cluster).
import * as api from './api.js';
import { h, clear, jsonPre, loading } from './dom.js';

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n) || 0;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

function clusterSection(ov) {
  const owned = (ov.partitions || []).length - (ov.unowned || 0);
  const summary = h('p', { id: 'cluster-summary' },
    `${(ov.members || []).length} member(s): ${(ov.members || []).join(', ') || 'none'}. `,
    `Correlator: ${ov.correlator || 'none'}. `,
    `${owned} of ${(ov.partitions || []).length} partitions running`,
    ov.unowned ? h('strong', null, ` (${ov.unowned} waiting for a worker)`) : '', '.');
  const rows = (ov.partitions || []).map((p) => h('tr', null,
    h('td', null, String(p.partition)), h('td', null, p.owner || h('strong', null, 'none')),
    h('td', null, String(p.last)), h('td', null, bytes(p.held_bytes))));
  return [h('h2', null, 'Cluster'), summary,
    h('table.grid', { id: 'cluster-partitions' },
      h('thead', null, h('tr', null, ['Partition', 'Owner', 'Last record', 'Not yet checkpointed'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows)),
    h('p.muted', null, `Signals topic: last ${ov.signals?.last ?? 0}, ${bytes(ov.signals?.held_bytes)} held.`)];
}

export function systemView() {
  let alive = true;
  return {
    async mount(main) {
      document.title = 'System · Vigil';
      const body = h('div', null, loading());
      clear(main).append(h('h1', null, 'System'), body);
      try {
        const st = await api.get('/api/v1/status');
        if (!alive) return;
        const parts = [h('p', { id: 'system-summary' }, `Version ${st.version}, store ${st.store}.`)];
        if (st.ingest) parts.push(h('details', null, h('summary', null, 'This node'), jsonPre(st.ingest)));
        if (!st.cluster) {
          parts.push(h('p.muted', { id: 'cluster-none' }, 'This node runs alone: it is not a member of a cluster.'));
        } else {
          try {
            parts.push(...clusterSection(await api.get('/api/v1/cluster')));
          } catch (e) {
            if (e.status !== 401) parts.push(h('p.muted', null, `Could not read the cluster: ${e.message}`));
          }
        }
        if (alive) clear(body).append(...parts);
      } catch (e) {
        if (alive && e.status !== 401) clear(body).append(h('p.muted', null, `Could not load: ${e.message}`));
      }
    },
    destroy() { alive = false; document.title = 'Vigil console'; },
  };
}
