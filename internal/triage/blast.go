package triage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/correlate/risk"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

// BlastOptions bounds BlastRadius. Zero values take the defaults in brackets.
type BlastOptions struct {
	// Lookback is how far before the incident's last signal the store is read [14 days].
	Lookback time.Duration
	// Context says how critical an entity is and whether it is privileged (the
	// asset inventory and identity directory); nil knows nothing.
	Context func(detect.Entity) (risk.Criticality, bool)
	// MaxEntities is how many of the incident's users and hosts are looked up [8].
	MaxEntities int
	// MaxScan is how many signals are read per entity [5,000].
	MaxScan int
	// MaxListed bounds the reached entities listed per user or host [50].
	MaxListed int
}

func (o BlastOptions) withDefaults() BlastOptions {
	if o.Lookback <= 0 {
		o.Lookback = 14 * 24 * time.Hour
	}
	if o.MaxEntities <= 0 {
		o.MaxEntities = 8
	}
	if o.MaxScan <= 0 {
		o.MaxScan = 5_000
	}
	if o.MaxListed <= 0 {
		o.MaxListed = 50
	}
	return o
}

// Blast is what an incident's users and hosts can reach, as far as the store's
// signals show: the hosts each user was seen on, the users seen on each host.
// It shows only what produced signals (a logon no detector reported is not in
// the store), so it is a lower bound.
type Blast struct {
	Incident string    `json:"incident"`
	Since    time.Time `json:"since"` // Since <= t <= Until (the incident's last signal), event time
	Until    time.Time `json:"until"`
	Users    []Reach   `json:"users,omitempty"` // per incident user: the hosts it was seen on
	Hosts    []Reach   `json:"hosts,omitempty"` // per incident host: the users seen on it
	// Totals over every list, each reached entity counted once.
	Reached    int `json:"reached"`
	Critical   int `json:"critical"`   // reached entities of high or extreme criticality
	Privileged int `json:"privileged"` // reached privileged entities
}

// Reach is one incident entity and what it reached.
type Reach struct {
	Entity      detect.Entity `json:"entity"`
	Criticality string        `json:"criticality"`
	Privileged  bool          `json:"privileged,omitempty"`
	// Count is every distinct entity reached; Reached lists at most MaxListed of
	// them, critical and privileged first, then the most signals.
	Count           int       `json:"count"`
	CriticalCount   int       `json:"critical_count"`
	PrivilegedCount int       `json:"privileged_count"`
	Reached         []Reached `json:"reached,omitempty"`
	Truncated       bool      `json:"truncated,omitempty"` // MaxScan reached: a lower bound
}

// Reached is one entity reached, with how the store saw it.
type Reached struct {
	Entity      detect.Entity `json:"entity"`
	Criticality string        `json:"criticality"`
	Privileged  bool          `json:"privileged,omitempty"`
	Signals     int           `json:"signals"` // signals naming both entities
	FirstSeen   time.Time     `json:"first_seen"`
	LastSeen    time.Time     `json:"last_seen"`
}

// critical reports whether c counts as critical in the blast radius.
func critical(c risk.Criticality) bool { return c >= risk.CriticalityHigh }

// BlastRadius reads the store for what the incident's leading users and hosts
// reached in the Lookback before its last signal: for a user, the hosts named
// with it in the same signal; for a host, the users.
func BlastRadius(ctx context.Context, st store.Store, inc correlate.Incident, opts BlastOptions) (Blast, error) {
	o := opts.withDefaults()
	b := Blast{Incident: inc.ID, Since: inc.LastSeen.Add(-o.Lookback), Until: inc.LastSeen}
	if inc.LastSeen.IsZero() {
		return b, fmt.Errorf("blast radius of incident %s: no last seen time: %w", inc.ID, store.ErrInvalid)
	}
	window := store.TimeRange{Since: b.Since, Until: b.Until.Add(time.Nanosecond)} // Until inclusive
	classify := func(e detect.Entity) (risk.Criticality, bool) {
		if o.Context == nil {
			return risk.CriticalityUnknown, false
		}
		return o.Context(e)
	}
	var subjects []detect.Entity
	for _, e := range inc.Entities {
		if len(subjects) == o.MaxEntities {
			break
		}
		if (e.Kind == detect.EntityUser || e.Kind == detect.EntityHost) && e.Value != "" && !slices.Contains(subjects, e) {
			subjects = append(subjects, e)
		}
	}
	total := map[detect.Entity]bool{}
	for _, subj := range subjects {
		other := detect.EntityHost
		if subj.Kind == detect.EntityHost {
			other = detect.EntityUser
		}
		sigs, trunc, err := scan(ctx, st, store.SignalQuery{TimeRange: window, Entity: subj}, o.MaxScan)
		if err != nil {
			return b, fmt.Errorf("blast radius of %s %s: %w", subj.Kind, subj.Value, err)
		}
		crit, priv := classify(subj)
		r := Reach{Entity: subj, Criticality: crit.String(), Privileged: priv, Truncated: trunc}
		seen := map[string]*Reached{}
		critOf := map[string]risk.Criticality{}
		for i := range sigs {
			s := &sigs[i]
			for _, e := range s.Entities {
				if e.Kind != other || e.Value == "" {
					continue
				}
				x := seen[e.Value]
				if x == nil {
					c, p := classify(e)
					x = &Reached{Entity: e, Criticality: c.String(), Privileged: p, FirstSeen: s.Time, LastSeen: s.Time}
					seen[e.Value] = x
					critOf[e.Value] = c
				}
				x.Signals++
				if s.Time.Before(x.FirstSeen) {
					x.FirstSeen = s.Time
				}
				if s.Time.After(x.LastSeen) {
					x.LastSeen = s.Time
				}
			}
		}
		for v, x := range seen {
			r.Reached = append(r.Reached, *x)
			if critical(critOf[v]) {
				r.CriticalCount++
			}
			if x.Privileged {
				r.PrivilegedCount++
			}
			total[x.Entity] = true
		}
		r.Count = len(r.Reached)
		slices.SortFunc(r.Reached, func(a, b Reached) int {
			return cmp.Or(
				-cmp.Compare(rank(critOf[a.Entity.Value], a.Privileged), rank(critOf[b.Entity.Value], b.Privileged)),
				-cmp.Compare(a.Signals, b.Signals),
				strings.Compare(a.Entity.Value, b.Entity.Value))
		})
		if len(r.Reached) > o.MaxListed {
			r.Reached = r.Reached[:o.MaxListed]
		}
		if subj.Kind == detect.EntityUser {
			b.Users = append(b.Users, r)
		} else {
			b.Hosts = append(b.Hosts, r)
		}
	}
	b.Reached = len(total)
	for e := range total {
		c, p := classify(e)
		if critical(c) {
			b.Critical++
		}
		if p {
			b.Privileged++
		}
	}
	return b, nil
}

// rank orders reached entities: critical and privileged above critical above
// privileged above the rest, then by criticality level.
func rank(c risk.Criticality, privileged bool) int {
	r := int(c)
	if critical(c) {
		r += 10
	}
	if privileged {
		r += 5
	}
	return r
}
