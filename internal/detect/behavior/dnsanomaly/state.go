package dnsanomaly

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Eviction: when a map reaches its cap, the coldest eighth of its keys by event
// time (ties by key) is dropped in one sweep, so the amortised cost per insert is
// O(log n) and the result does not depend on map order.

func (m *Model) client(name string, t int64) *cliState {
	if c := m.clients[name]; c != nil {
		return c
	}
	if len(m.clients) >= m.cfg.MaxCli {
		before := len(m.clients)
		evict(m.clients, func(c *cliState) int64 { return c.last }, func(string, *cliState) {})
		m.stats.Evicted += uint64(before - len(m.clients))
	}
	c := &cliState{win: math.MinInt64, last: t}
	m.clients[strings.Clone(name)] = c
	return c
}

func (m *Model) domain(n Name, t int64) *domState {
	if d := m.doms[n.Registered]; d != nil {
		return d
	}
	if len(m.doms) >= m.cfg.MaxDoms {
		before := len(m.doms)
		evict(m.doms, func(d *domState) int64 { return d.last }, func(string, *domState) {})
		m.stats.Evicted += uint64(before - len(m.doms))
	}
	_, normal := m.normal[n.Registered]
	d := &domState{first: t, last: t, lastHour: math.MinInt64, kind: n.Kind, normal: normal}
	m.doms[strings.Clone(n.Registered)] = d
	return d
}

func (m *Model) pair(client, domain string, t int64) *pairState {
	k := pairKey{client, domain}
	if p := m.pairs[k]; p != nil {
		return p
	}
	if len(m.pairs) >= m.cfg.MaxPair {
		before := len(m.pairs)
		evict(m.pairs, func(p *pairState) int64 { return p.last }, func(k pairKey, p *pairState) {
			if d := m.doms[k.domain]; d != nil {
				m.closeWindow(p, d, k.client == "")
			}
		})
		m.stats.Evicted += uint64(before - len(m.pairs))
	}
	p := &pairState{win: math.MinInt64, last: t}
	m.pairs[pairKey{strings.Clone(client), strings.Clone(domain)}] = p
	return p
}

type keyed interface{ ~string | pairKey }

func cmpKey[K keyed](a, b K) int {
	switch x := any(a).(type) {
	case string:
		return strings.Compare(x, any(b).(string))
	case pairKey:
		y := any(b).(pairKey)
		return cmp.Or(strings.Compare(x.client, y.client), strings.Compare(x.domain, y.domain))
	}
	return 0
}

func evict[K keyed, V any](mp map[K]V, last func(V) int64, drop func(K, V)) {
	type kv struct {
		k K
		t int64
	}
	all := make([]kv, 0, len(mp))
	for k, v := range mp {
		all = append(all, kv{k, last(v)})
	}
	slices.SortFunc(all, func(a, b kv) int { return cmp.Or(cmp.Compare(a.t, b.t), cmpKey(a.k, b.k)) })
	n := max(1, len(all)/8)
	for _, x := range all[:n] {
		drop(x.k, mp[x.k])
		delete(mp, x.k)
	}
}
