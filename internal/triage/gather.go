package triage

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

// FirstSeenDetector is the detector id of the behavioral first-seen model, whose
// signals Gather turns into first-seen facts.
const FirstSeenDetector = "behavior.first_seen"

// GatherOptions bounds Gather. Zero values take the defaults in brackets.
type GatherOptions struct {
	Before time.Duration // window before the incident's first signal [24h]
	After  time.Duration // window after its last signal [24h]
	// MaxEntities is how many of the incident's leading users, hosts and
	// addresses are looked up [8].
	MaxEntities int
	// MaxIncidentSignals is how many of the incident's own signals are loaded [500].
	MaxIncidentSignals int
	// MaxScan is how many signals are read per query (per entity, per rule) [2,000].
	MaxScan int
	// MaxAround bounds the signals around the incident in the dossier [100].
	MaxAround int
	// MaxRelated bounds the related incidents [20].
	MaxRelated int
	// MaxFirstSeen bounds the first-seen facts [50].
	MaxFirstSeen int
	// MaxRules bounds the rules whose prevalence is measured [20].
	MaxRules int
	// Widespread: a rule fired on at least this many distinct entities in the
	// window is marked widespread (weak evidence) [10].
	Widespread int
	// EvidenceSignals is how many of the strongest incident signals give their
	// evidence [5]; MaxEvidence bounds the events [20] and EvidencePerSignal
	// the events per signal [4].
	EvidenceSignals   int
	MaxEvidence       int
	EvidencePerSignal int
}

func (o GatherOptions) withDefaults() GatherOptions {
	dur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	n := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	dur(&o.Before, 24*time.Hour)
	dur(&o.After, 24*time.Hour)
	n(&o.MaxEntities, 8)
	n(&o.MaxIncidentSignals, 500)
	n(&o.MaxScan, 2_000)
	n(&o.MaxAround, 100)
	n(&o.MaxRelated, 20)
	n(&o.MaxFirstSeen, 50)
	n(&o.MaxRules, 20)
	n(&o.Widespread, 10)
	n(&o.EvidenceSignals, 5)
	n(&o.MaxEvidence, 20)
	n(&o.EvidencePerSignal, 4)
	return o
}

// Dossier is what the store says about an incident and its surroundings.
// Every list is bounded and in a deterministic order; Truncated says which caps
// cut something.
type Dossier struct {
	Incident string    `json:"incident"`
	Since    time.Time `json:"since"` // window, event time: Since <= t < Until
	Until    time.Time `json:"until"`
	// Entities are the leading users, hosts and addresses looked up, in the
	// incident's order (most frequent first).
	Entities []detect.Entity `json:"entities"`
	// IncidentSignals are the incident's own signals found in the store, by time.
	IncidentSignals []detect.Signal `json:"incident_signals"`
	// MissingSignals counts incident signal ids the store did not have.
	MissingSignals int `json:"missing_signals,omitempty"`
	// Around are the signals on the leading entities in the window that are not
	// the incident's, by time.
	Around []AroundSignal `json:"around,omitempty"`
	// Related are other incidents that share a leading entity, by first seen.
	Related []RelatedIncident `json:"related,omitempty"`
	// FirstSeen are the first-seen facts about the leading entities in the window.
	FirstSeen []FirstSeenFact `json:"first_seen,omitempty"`
	// Prevalence is, per rule of the incident, how widely it fired in the window.
	Prevalence []RulePrevalence `json:"prevalence,omitempty"`
	// Evidence are the events behind the incident's strongest signals.
	Evidence []EvidenceItem `json:"evidence,omitempty"`
	// Truncated names the caps that cut a list ("around", "scan:user:alice", ...).
	Truncated []string `json:"truncated,omitempty"`
}

// AroundSignal is a signal near the incident on one of its entities.
type AroundSignal struct {
	ID         string          `json:"id"`
	Time       time.Time       `json:"time"`
	DetectorID string          `json:"detector_id"`
	RuleID     string          `json:"rule_id,omitempty"`
	Title      string          `json:"title"`
	Severity   detect.Severity `json:"severity"`
	Techniques []string        `json:"techniques,omitempty"`
	// When is "before", "during" or "after" the incident's span.
	When string `json:"when"`
	// On are the leading entities the signal names.
	On []detect.Entity `json:"on"`
}

// RelatedIncident is another incident sharing entities with this one.
type RelatedIncident struct {
	ID        string           `json:"id"`
	Title     string           `json:"title"`
	Status    correlate.Status `json:"status"`
	Severity  detect.Severity  `json:"severity"`
	Risk      float64          `json:"risk"`
	FirstSeen time.Time        `json:"first_seen"`
	LastSeen  time.Time        `json:"last_seen"`
	Shared    []detect.Entity  `json:"shared"`
}

// FirstSeenFact is one novelty the first-seen model reported about an entity.
type FirstSeenFact struct {
	Time     time.Time `json:"time"`
	SignalID string    `json:"signal_id"`
	Rule     string    `json:"rule"` // "first_seen.user_host"
	// Entity is the entity that did something new, Value what was new for it.
	Entity     detect.Entity `json:"entity"`
	Value      detect.Entity `json:"value"`
	Summary    string        `json:"summary"`
	InIncident bool          `json:"in_incident,omitempty"`
}

// RulePrevalence is how widely one rule of the incident fired in the window.
type RulePrevalence struct {
	DetectorID string `json:"detector_id"`
	RuleID     string `json:"rule_id,omitempty"`
	Title      string `json:"title"`
	Signals    int    `json:"signals"`  // signals of the rule in the window (up to MaxScan)
	Entities   int    `json:"entities"` // distinct users, hosts, addresses, principals, workloads
	Users      int    `json:"users"`
	Hosts      int    `json:"hosts"`
	// Widespread marks a rule that fired on many entities: weak evidence alone.
	Widespread bool `json:"widespread,omitempty"`
	Truncated  bool `json:"truncated,omitempty"` // MaxScan reached: counts are lower bounds
}

// EvidenceItem is one stored event behind a strong incident signal.
type EvidenceItem struct {
	SignalID string          `json:"signal_id"`
	EventID  string          `json:"event_id"`
	Time     time.Time       `json:"time"`
	Source   string          `json:"source"`
	Format   string          `json:"format"`
	Event    json.RawMessage `json:"event"`
}

// leadingKinds are the entity kinds Gather and BlastRadius look up.
func leading(inc correlate.Incident, n int) []detect.Entity {
	var out []detect.Entity
	for _, e := range inc.Entities {
		if len(out) == n {
			break
		}
		if (e.Kind == detect.EntityUser || e.Kind == detect.EntityHost || e.Kind == detect.EntityIP) && e.Value != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// prevalenceKinds are the entity kinds a rule's prevalence counts.
var prevalenceKinds = []detect.EntityKind{detect.EntityUser, detect.EntityHost, detect.EntityIP, detect.EntityPrincipal, detect.EntityWorkload}

// Gather collects the dossier of inc from st. It reads only; every query is
// bounded by opts, and the result depends on the store's contents and inc only.
func Gather(ctx context.Context, st store.Store, inc correlate.Incident, opts GatherOptions) (Dossier, error) {
	o := opts.withDefaults()
	d := Dossier{Incident: inc.ID, Since: inc.FirstSeen.Add(-o.Before), Until: inc.LastSeen.Add(o.After)}
	if inc.FirstSeen.IsZero() || inc.LastSeen.Before(inc.FirstSeen) {
		return d, fmt.Errorf("gathering incident %s: bad span %s..%s: %w", inc.ID, inc.FirstSeen, inc.LastSeen, store.ErrInvalid)
	}
	d.Entities = leading(inc, o.MaxEntities)
	inIncident := make(map[string]bool, len(inc.SignalIDs))
	for _, id := range inc.SignalIDs {
		inIncident[id] = true
	}
	if err := d.loadIncidentSignals(ctx, st, inc, o); err != nil {
		return d, err
	}
	if err := d.gatherAround(ctx, st, inc, o, inIncident); err != nil {
		return d, err
	}
	if err := d.gatherRelated(ctx, st, inc, o); err != nil {
		return d, err
	}
	if err := d.gatherPrevalence(ctx, st, o); err != nil {
		return d, err
	}
	if err := d.gatherEvidence(ctx, st, o); err != nil {
		return d, err
	}
	slices.Sort(d.Truncated)
	d.Truncated = slices.Compact(d.Truncated)
	return d, nil
}

func (d *Dossier) truncate(what string) { d.Truncated = append(d.Truncated, what) }

func (d *Dossier) loadIncidentSignals(ctx context.Context, st store.Store, inc correlate.Incident, o GatherOptions) error {
	ids := inc.SignalIDs
	if len(ids) > o.MaxIncidentSignals {
		ids = ids[:o.MaxIncidentSignals]
		d.truncate("incident_signals")
	}
	for _, id := range ids {
		s, err := st.GetSignal(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			d.MissingSignals++
			continue
		}
		if err != nil {
			return fmt.Errorf("loading signal %s of incident %s: %w", id, inc.ID, err)
		}
		d.IncidentSignals = append(d.IncidentSignals, s)
	}
	slices.SortFunc(d.IncidentSignals, func(a, b detect.Signal) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID))
	})
	return nil
}

// scan lists up to max signals matching q in event-time order; truncated is set
// when more remained.
func scan(ctx context.Context, st store.Store, q store.SignalQuery, maxN int) (out []detect.Signal, truncated bool, err error) {
	q.Order = store.OrderAsc
	for {
		q.Limit = min(store.MaxLimit, maxN-len(out)+1)
		page, err := st.ListSignals(ctx, q)
		if err != nil {
			return out, false, fmt.Errorf("listing signals: %w", err)
		}
		out = append(out, page.Items...)
		if len(out) > maxN {
			return out[:maxN], true, nil
		}
		if page.Next == "" {
			return out, false, nil
		}
		q.Cursor = page.Next
	}
}

func (d *Dossier) gatherAround(ctx context.Context, st store.Store, inc correlate.Incident, o GatherOptions, inIncident map[string]bool) error {
	byID := map[string]*AroundSignal{}
	incSet := map[string]bool{}
	for _, s := range d.IncidentSignals {
		incSet[s.ID] = true
	}
	for _, e := range d.Entities {
		sigs, trunc, err := scan(ctx, st, store.SignalQuery{TimeRange: store.TimeRange{Since: d.Since, Until: d.Until}, Entity: e}, o.MaxScan)
		if err != nil {
			return fmt.Errorf("gathering signals on %s %s: %w", e.Kind, e.Value, err)
		}
		if trunc {
			d.truncate("scan:" + string(e.Kind) + ":" + e.Value)
		}
		for i := range sigs {
			s := &sigs[i]
			if s.DetectorID == FirstSeenDetector {
				d.addFirstSeen(s, e, inIncident[s.ID] || incSet[s.ID])
			}
			if inIncident[s.ID] || incSet[s.ID] {
				continue
			}
			a := byID[s.ID]
			if a == nil {
				a = &AroundSignal{ID: s.ID, Time: s.Time, DetectorID: s.DetectorID, RuleID: s.RuleID, Title: s.Title,
					Severity: s.Severity, Techniques: s.Techniques, When: when(s.Time, inc)}
				byID[s.ID] = a
			}
			if !slices.Contains(a.On, e) {
				a.On = append(a.On, e)
			}
		}
	}
	for _, a := range byID {
		d.Around = append(d.Around, *a)
	}
	slices.SortFunc(d.Around, func(a, b AroundSignal) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID))
	})
	if len(d.Around) > o.MaxAround {
		d.Around = d.Around[:o.MaxAround]
		d.truncate("around")
	}
	slices.SortFunc(d.FirstSeen, func(a, b FirstSeenFact) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.SignalID, b.SignalID))
	})
	d.FirstSeen = slices.CompactFunc(d.FirstSeen, func(a, b FirstSeenFact) bool { return a.SignalID == b.SignalID })
	if len(d.FirstSeen) > o.MaxFirstSeen {
		d.FirstSeen = d.FirstSeen[:o.MaxFirstSeen]
		d.truncate("first_seen")
	}
	return nil
}

func when(t time.Time, inc correlate.Incident) string {
	switch {
	case t.Before(inc.FirstSeen):
		return "before"
	case t.After(inc.LastSeen):
		return "after"
	}
	return "during"
}

// addFirstSeen records the novelty of a first-seen signal: its first entity is
// the one that did something new, its second what was new (the model's layout).
func (d *Dossier) addFirstSeen(s *detect.Signal, _ detect.Entity, in bool) {
	if len(s.Entities) < 2 {
		return
	}
	d.FirstSeen = append(d.FirstSeen, FirstSeenFact{
		Time: s.Time, SignalID: s.ID, Rule: s.RuleID, Entity: s.Entities[0], Value: s.Entities[1],
		Summary: s.Explanation.Summary, InIncident: in,
	})
}

func (d *Dossier) gatherRelated(ctx context.Context, st store.Store, inc correlate.Incident, o GatherOptions) error {
	byID := map[string]*RelatedIncident{}
	for _, e := range d.Entities {
		q := store.IncidentQuery{TimeRange: store.TimeRange{Since: d.Since, Until: d.Until}, Entity: e, Sort: store.SortLastSeen, Limit: o.MaxRelated + 2}
		page, err := st.ListIncidents(ctx, q)
		if err != nil {
			return fmt.Errorf("listing incidents on %s %s: %w", e.Kind, e.Value, err)
		}
		if page.Next != "" {
			d.truncate("related:" + string(e.Kind) + ":" + e.Value)
		}
		for _, ri := range page.Items {
			if ri.ID == inc.ID || ri.Status == correlate.StatusMerged && ri.MergedInto == inc.ID {
				continue
			}
			r := byID[ri.ID]
			if r == nil {
				r = &RelatedIncident{ID: ri.ID, Title: ri.Title, Status: ri.Status, Severity: ri.Severity, Risk: ri.Risk,
					FirstSeen: ri.FirstSeen, LastSeen: ri.LastSeen}
				byID[ri.ID] = r
			}
			if !slices.Contains(r.Shared, e) {
				r.Shared = append(r.Shared, e)
			}
		}
	}
	for _, r := range byID {
		d.Related = append(d.Related, *r)
	}
	slices.SortFunc(d.Related, func(a, b RelatedIncident) int {
		return cmp.Or(a.FirstSeen.Compare(b.FirstSeen), strings.Compare(a.ID, b.ID))
	})
	if len(d.Related) > o.MaxRelated {
		d.Related = d.Related[:o.MaxRelated]
		d.truncate("related")
	}
	return nil
}

func (d *Dossier) gatherPrevalence(ctx context.Context, st store.Store, o GatherOptions) error {
	type rule struct{ det, id string }
	var rules []rule
	titles := map[rule]string{}
	for _, s := range d.IncidentSignals {
		r := rule{s.DetectorID, s.RuleID}
		if _, ok := titles[r]; !ok {
			titles[r] = s.Title
			rules = append(rules, r)
		}
	}
	slices.SortFunc(rules, func(a, b rule) int { return cmp.Or(strings.Compare(a.det, b.det), strings.Compare(a.id, b.id)) })
	if len(rules) > o.MaxRules {
		rules = rules[:o.MaxRules]
		d.truncate("prevalence")
	}
	for _, r := range rules {
		sigs, trunc, err := scan(ctx, st, store.SignalQuery{TimeRange: store.TimeRange{Since: d.Since, Until: d.Until}, DetectorID: r.det, RuleID: r.id}, o.MaxScan)
		if err != nil {
			return fmt.Errorf("measuring prevalence of %s %s: %w", r.det, r.id, err)
		}
		p := RulePrevalence{DetectorID: r.det, RuleID: r.id, Title: titles[r], Signals: len(sigs), Truncated: trunc}
		ents := map[detect.Entity]bool{}
		for _, s := range sigs {
			if s.RuleID != r.id { // an empty RuleID in the query matches any rule
				p.Signals--
				continue
			}
			for _, e := range s.Entities {
				if slices.Contains(prevalenceKinds, e.Kind) && !ents[e] {
					ents[e] = true
					switch e.Kind {
					case detect.EntityUser:
						p.Users++
					case detect.EntityHost:
						p.Hosts++
					}
				}
			}
		}
		p.Entities = len(ents)
		p.Widespread = p.Entities >= o.Widespread
		d.Prevalence = append(d.Prevalence, p)
	}
	return nil
}

func (d *Dossier) gatherEvidence(ctx context.Context, st store.Store, o GatherOptions) error {
	strong := slices.Clone(d.IncidentSignals)
	slices.SortStableFunc(strong, func(a, b detect.Signal) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(b.Confidence, a.Confidence),
			a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID))
	})
	if len(strong) > o.EvidenceSignals {
		strong = strong[:o.EvidenceSignals]
	}
	var ids []string
	owner := map[string]string{}
	for _, s := range strong {
		for i, ref := range s.Evidence {
			if i == o.EvidencePerSignal {
				d.truncate("evidence_per_signal")
				break
			}
			if _, dup := owner[ref.EventID]; dup || ref.EventID == "" {
				continue
			}
			if len(ids) == o.MaxEvidence {
				d.truncate("evidence")
				break
			}
			owner[ref.EventID] = s.ID
			ids = append(ids, ref.EventID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	evs, err := st.GetEvidence(ctx, ids)
	if err != nil {
		return fmt.Errorf("loading evidence of incident %s: %w", d.Incident, err)
	}
	for _, ev := range evs {
		d.Evidence = append(d.Evidence, EvidenceItem{SignalID: owner[ev.EventID], EventID: ev.EventID, Time: ev.Time,
			Source: ev.Source, Format: ev.Format, Event: ev.JSON})
	}
	return nil
}
