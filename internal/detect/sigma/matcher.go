package sigma

import (
	"github.com/vigilsec/vigil/internal/event"
)

// Matcher evaluates a Ruleset on events. It keeps per-event scratch space, so use
// one per goroutine.
type Matcher struct {
	rs  *Ruleset
	v   view
	bs  []*bucket
	key []byte
}

// NewMatcher returns a Matcher over rs.
func (rs *Ruleset) NewMatcher() *Matcher {
	return &Matcher{rs: rs, v: view{rs: rs}}
}

// Hit is a rule that matched an event, with why.
type Hit struct {
	Rule *Rule
	// Searches are the search identifiers that held, with the fields and values
	// that made them hold.
	Searches []SearchHit
}

// SearchHit is one search that held.
type SearchHit struct {
	Name   string
	Fields []FieldHit
}

// FieldHit is a field condition that held, with the value seen ("" for exists and
// negated conditions).
type FieldHit struct {
	Field string
	Value string
}

// Match calls fn for every rule e matches. The Hit is valid until fn returns; its
// strings are the event's.
func (m *Matcher) Match(e *event.Event, fn func(*Hit)) {
	m.v.reset(e)
	bs := m.buckets()
	for _, b := range bs {
		for _, a := range b.autos {
			m.v.scan(a)
		}
	}
	m.v.markRules()
	for _, b := range bs {
		for _, idx := range b.rules {
			cr := m.rs.rules[idx]
			if cr.guarded && m.v.ruleGen[idx] != m.v.gen {
				continue
			}
			if !m.routed(cr) || !cr.cond.eval(&m.v) {
				continue
			}
			fn(m.explain(cr))
		}
	}
}

// buckets lists the dispatch buckets of e's rules: by Channel and EventID, by
// Channel, by event.dataset and event.module, and the generic one (a compiled
// rule is in one bucket only).
func (m *Matcher) buckets() []*bucket {
	rs := m.rs
	out := m.bs[:0]
	ch := m.v.values(rs.chanSlot, true)
	if len(ch) > 0 {
		if eid := m.v.values(rs.eidSlot, false); len(eid) > 0 {
			m.key = append(append(append(m.key[:0], ch[0]...), 0), eid[0]...)
			if b := rs.byChanEID[string(m.key)]; b != nil {
				out = append(out, b)
			}
		}
		if b := rs.byChan[ch[0]]; b != nil {
			out = append(out, b)
		}
	}
	for _, fi := range rs.byField {
		if vals := m.v.values(fi.slot, true); len(vals) > 0 {
			if b := fi.m[vals[0]]; b != nil {
				out = append(out, b)
			}
		}
	}
	out = append(out, &rs.generic)
	m.bs = out
	return out
}

// routed checks the routing conditions dispatch left.
func (m *Matcher) routed(cr *compiledRule) bool {
	for _, w := range cr.where {
		ok := false
		for _, x := range m.v.values(w.slot, true) {
			for _, want := range w.values {
				if x == want {
					ok = true
					break
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// explain collects the searches of a matched rule that hold and the values that made
// them hold. It runs only on hits.
func (m *Matcher) explain(cr *compiledRule) *Hit {
	h := &Hit{Rule: cr.rule}
	for _, s := range cr.searches {
		if !s.eval(&m.v) {
			continue
		}
		sh := SearchHit{Name: s.name}
		for _, g := range s.groups {
			if !evalGroup(g, &m.v) {
				continue
			}
			for _, c := range g {
				val, _ := c.match(&m.v)
				if c.neg {
					val = ""
				}
				name := c.field
				if name == "" {
					name = "keywords"
				}
				sh.Fields = append(sh.Fields, FieldHit{Field: name, Value: val})
			}
			break
		}
		h.Searches = append(h.Searches, sh)
	}
	return h
}
