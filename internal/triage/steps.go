package triage

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/attack"
	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

// Bounds on next steps.
const (
	// MaxSteps bounds the steps Steps returns.
	MaxSteps = 60
	// MaxListed bounds the entities a plural placeholder ({users}) lists.
	MaxListed = 5
)

// Step is one next investigation step for an incident, its placeholders filled.
type Step struct {
	Title    string `json:"title"`
	LookAt   string `json:"look_at"`
	BenignIf string `json:"benign_if"`
	// For is the technique id or tactic short name whose playbook gave the step,
	// ForName its ATT&CK name.
	For     string `json:"for"`
	ForName string `json:"for_name"`
	// Fallback is set when the step comes from a tactic's playbook because the
	// incident's techniques of that tactic have none.
	Fallback bool `json:"fallback,omitempty"`
	// Unfilled lists the placeholders the incident had no entity for; the text
	// reads "the user", "the host", ... in their place.
	Unfilled []string `json:"unfilled,omitempty"`
	Source   string   `json:"source"` // playbook file:line
}

// Steps returns the next investigation steps for inc: the playbook of each of its
// techniques in the order the attack progressed (first signal time of each
// technique among the dossier's incident signals; techniques seen in no loaded
// signal follow in kill-chain order), a sub-technique without a playbook taking
// its parent's; then the fallback playbook of every incident tactic that none of
// those covered, in kill-chain order. Placeholders take the entities and the
// time span of the incident signals that carry the technique (or tactic) first,
// then the incident's entities and span. Steps are deduplicated on their filled
// text, keep the first occurrence, and are capped at MaxSteps. d may be the zero
// Dossier (then order is kill-chain order).
func Steps(inc correlate.Incident, d Dossier, ps *Playbooks) []Step {
	if ps == nil {
		return nil
	}
	var out []Step
	seen := map[[3]string]bool{}
	add := func(p *Playbook, name string, fallback bool, f *filler) {
		for _, t := range p.Steps {
			if len(out) == MaxSteps {
				return
			}
			st := Step{For: p.Key(), ForName: name, Fallback: fallback, Source: p.Source}
			var miss []string
			st.Title, miss = f.fill(t.Title, miss)
			st.LookAt, miss = f.fill(t.LookAt, miss)
			st.BenignIf, miss = f.fill(t.BenignIf, miss)
			key := [3]string{st.Title, st.LookAt, st.BenignIf}
			if seen[key] {
				continue
			}
			seen[key] = true
			st.Unfilled = dedupSorted(miss)
			out = append(out, st)
		}
	}
	covered := map[string]bool{} // tactic short names with a technique playbook
	used := map[*Playbook]bool{}
	for _, id := range techniqueOrder(inc, d) {
		p, ok := ps.ForTechnique(id)
		if !ok {
			continue
		}
		for _, ta := range attack.TacticsOf(id) {
			covered[ta.ShortName] = true
		}
		if used[p] {
			continue
		}
		used[p] = true
		name := p.Technique
		if te, ok := attack.LookupTechnique(p.Technique); ok {
			name = te.Name
		}
		add(p, name, false, newFiller(inc, signalsWith(d.IncidentSignals, func(s *detect.Signal) bool {
			return slices.ContainsFunc(s.Techniques, func(t string) bool { return strings.EqualFold(strings.TrimSpace(t), id) })
		})))
	}
	for _, ta := range tacticOrder(inc) {
		if covered[ta.ShortName] {
			continue
		}
		if p, ok := ps.ForTactic(ta.ShortName); ok {
			add(p, ta.Name, true, newFiller(inc, signalsWith(d.IncidentSignals, func(s *detect.Signal) bool {
				return slices.ContainsFunc(s.Tactics, func(x string) bool {
					t, ok := attack.LookupTactic(x)
					return ok && t.ShortName == ta.ShortName
				})
			})))
		}
	}
	return out
}

// techniqueOrder orders the incident's techniques by the time of the first
// incident signal carrying them, then by kill-chain position and id.
func techniqueOrder(inc correlate.Incident, d Dossier) []string {
	first := map[string]time.Time{}
	for i := range d.IncidentSignals {
		s := &d.IncidentSignals[i]
		for _, t := range s.Techniques {
			t = strings.ToUpper(strings.TrimSpace(t))
			if old, ok := first[t]; !ok || s.Time.Before(old) {
				first[t] = s.Time
			}
		}
	}
	ids := make([]string, 0, len(inc.Techniques)+len(first))
	for _, t := range inc.Techniques {
		ids = append(ids, strings.ToUpper(strings.TrimSpace(t)))
	}
	for t := range first {
		ids = append(ids, t)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	slices.SortStableFunc(ids, func(a, b string) int {
		ta, oka := first[a]
		tb, okb := first[b]
		switch {
		case oka && okb:
			if c := ta.Compare(tb); c != 0 {
				return c
			}
		case oka:
			return -1
		case okb:
			return 1
		}
		if c := cmp.Compare(chainPos(a), chainPos(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return ids
}

// chainPos is the kill-chain order of a technique's first tactic (15 if unknown).
func chainPos(id string) int {
	if ts := attack.TacticsOf(id); len(ts) > 0 {
		return ts[0].Order
	}
	return attack.TacticCount + 1
}

// tacticOrder returns the incident's known tactics in kill-chain order.
func tacticOrder(inc correlate.Incident) []attack.Tactic {
	var out []attack.Tactic
	for _, s := range inc.Tactics {
		if ta, ok := attack.LookupTactic(s); ok && !slices.Contains(out, ta) {
			out = append(out, ta)
		}
	}
	slices.SortFunc(out, func(a, b attack.Tactic) int { return a.Order - b.Order })
	return out
}

// filler fills placeholders from an incident.
type filler struct {
	byKind map[detect.EntityKind][]string
	vals   map[string]string
}

var placeholderKind = map[string]detect.EntityKind{
	"user": detect.EntityUser, "host": detect.EntityHost, "ip": detect.EntityIP,
	"domain": detect.EntityDomain, "process": detect.EntityProcess, "file": detect.EntityFile,
	"hash": detect.EntityHash, "url": detect.EntityURL, "principal": detect.EntityPrincipal,
	"workload": detect.EntityWorkload,
}

var placeholderNoun = map[string]string{
	"user": "the user", "users": "the users", "host": "the host", "hosts": "the hosts",
	"ip": "the address", "ips": "the addresses", "domain": "the domain", "domains": "the domains",
	"process": "the process", "file": "the file", "hash": "the file hash", "url": "the URL",
	"principal": "the cloud principal", "workload": "the workload",
	"first_seen": "the incident start", "last_seen": "the incident end", "incident": "the incident",
}

// signalsWith returns the signals for which keep is true.
func signalsWith(sigs []detect.Signal, keep func(*detect.Signal) bool) []*detect.Signal {
	var out []*detect.Signal
	for i := range sigs {
		if keep(&sigs[i]) {
			out = append(out, &sigs[i])
		}
	}
	return out
}

// newFiller fills placeholders for the steps of one technique or tactic: the
// entities of the incident signals that carry it come first (most frequent
// first, then first named), then the incident's own. A kind those signals do
// not name takes the incident's entity only when the incident has just one of
// that kind (or no signal of the technique was loaded); {first_seen} and
// {last_seen} are the span of those signals, or of the incident when there are
// none.
func newFiller(inc correlate.Incident, sigs []*detect.Signal) *filler {
	f := &filler{byKind: map[detect.EntityKind][]string{}, vals: map[string]string{}}
	count := map[detect.Entity]int{}
	var order []detect.Entity
	first, last := inc.FirstSeen, inc.LastSeen
	for i, s := range sigs {
		if i == 0 || s.Time.Before(first) {
			first = s.Time
		}
		if i == 0 || s.Time.After(last) {
			last = s.Time
		}
		for _, e := range s.Entities {
			if count[e] == 0 {
				order = append(order, e)
			}
			count[e]++
		}
	}
	slices.SortStableFunc(order, func(a, b detect.Entity) int { return count[b] - count[a] })
	add := func(m map[detect.EntityKind][]string, es []detect.Entity) {
		for _, e := range es {
			if e.Value != "" && !slices.Contains(m[e.Kind], e.Value) {
				m[e.Kind] = append(m[e.Kind], e.Value)
			}
		}
	}
	add(f.byKind, order)
	incKinds := map[detect.EntityKind][]string{}
	add(incKinds, inc.Entities) // most frequent first
	for k, vs := range incKinds {
		switch {
		case len(f.byKind[k]) > 0:
			f.byKind[k] = append(f.byKind[k], slices.DeleteFunc(vs, func(v string) bool { return slices.Contains(f.byKind[k], v) })...)
		case len(sigs) == 0 || len(vs) == 1:
			// The technique's signals name no entity of this kind: the incident's
			// stands in only when it is the only one (or nothing narrower is known),
			// rather than putting, say, the spray source into a lateral-movement step.
			f.byKind[k] = vs
		}
	}
	for name, kind := range placeholderKind {
		vs := f.byKind[kind]
		if len(vs) == 0 {
			continue
		}
		f.vals[name] = vs[0]
		if name == "user" || name == "host" || name == "ip" || name == "domain" {
			list := vs[:min(len(vs), MaxListed)]
			s := strings.Join(list, ", ")
			if len(vs) > MaxListed {
				s += " and others"
			}
			f.vals[name+"s"] = s
		}
	}
	if !first.IsZero() {
		f.vals["first_seen"] = first.UTC().Format(time.RFC3339)
	}
	if !last.IsZero() {
		f.vals["last_seen"] = last.UTC().Format(time.RFC3339)
	}
	if inc.ID != "" {
		f.vals["incident"] = inc.ID
	}
	return f
}

// fill replaces the {name} placeholders of s (checked at load) and appends
// the names it had no value for to miss.
func (f *filler) fill(s string, miss []string) (string, []string) {
	if !strings.Contains(s, "{") {
		return s, miss
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		j := strings.IndexByte(s, '}')
		if i < 0 || j < i {
			b.WriteString(s)
			return b.String(), miss
		}
		b.WriteString(s[:i])
		name := s[i+1 : j]
		if v, ok := f.vals[name]; ok {
			b.WriteString(v)
		} else {
			b.WriteString(placeholderNoun[name])
			miss = append(miss, name)
		}
		s = s[j+1:]
	}
}

func dedupSorted(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}
