package behavior

import (
	"slices"
	"strings"
	"time"
)

// maxNormal bounds the "this is normal" verdicts one model keeps.
const maxNormal = 100_000

// normalSet holds analysts' "this is normal" verdicts for (entity, attribute)
// pairs, each until an event time (0: for good). An empty attribute covers every
// attribute of the entity. Models that have no value table of their own to teach
// (c2, edge stream, multivariate) consult it before reporting.
type normalSet struct {
	until map[[2]string]int64
}

// NormalEntry is one verdict, as snapshots store it.
type NormalEntry struct {
	Entity, Attribute string
	Until             int64 // Unix ns of event time; 0 for good
}

// mark records a verdict; it reports false when the set is full.
func (n *normalSet) mark(entity, attribute string, until time.Time) bool {
	if n.until == nil {
		n.until = map[[2]string]int64{}
	}
	k := [2]string{strings.Clone(entity), strings.Clone(attribute)}
	if _, ok := n.until[k]; !ok && len(n.until) >= maxNormal {
		return false
	}
	var u int64
	if !until.IsZero() {
		u = until.UnixNano()
	}
	n.until[k] = u
	return true
}

// is reports whether (entity, attribute) is declared normal at event time now.
func (n *normalSet) is(entity, attribute string, now int64) bool {
	if len(n.until) == 0 {
		return false
	}
	for _, k := range [][2]string{{entity, attribute}, {entity, ""}} {
		if u, ok := n.until[k]; ok && (u == 0 || now < u) {
			return true
		}
	}
	return false
}

// entries returns the verdicts in a stable order, for snapshots.
func (n *normalSet) entries() []NormalEntry {
	out := make([]NormalEntry, 0, len(n.until))
	for k, u := range n.until {
		out = append(out, NormalEntry{Entity: k[0], Attribute: k[1], Until: u})
	}
	slices.SortFunc(out, func(a, b NormalEntry) int {
		if c := strings.Compare(a.Entity, b.Entity); c != 0 {
			return c
		}
		return strings.Compare(a.Attribute, b.Attribute)
	})
	return out
}

// load replaces the verdicts; it reports false when there are too many.
func (n *normalSet) load(es []NormalEntry) bool {
	if len(es) > maxNormal {
		return false
	}
	n.until = make(map[[2]string]int64, len(es))
	for _, e := range es {
		n.until[[2]string{e.Entity, e.Attribute}] = e.Until
	}
	return true
}
