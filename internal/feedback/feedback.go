// Package feedback turns analysts' verdicts into what the detection pipeline
// does next: per-rule precision estimates that weight risk, and suppressions
// with a scope and an expiry.
//
// A verdict (store.Feedback) is about a signal, an incident, a rule or an entity.
// Verdicts on signals and incidents count for every distinct rule among their
// signals: a Beta(α, β) posterior per rule, starting from a prior (mean 0.5,
// weight 2 by default), where a true positive adds to α and a false positive or a
// benign true positive to β (the signal was right, but not worth an analyst's
// time: for ranking incidents that is the same). A true incident's credit is
// shared among its rules (1/n each: it vouches for itself, not for every rule
// that fired on what the attack touched); a false one counts fully for each. A duplicate counts for nothing.
// The posterior mean is the rule's precision, which the correlator's risk
// scorer multiplies into every contribution of the rule.
//
// A false-positive or benign verdict may also suppress, by its Scope:
//
//	""              nothing more: the verdict only teaches precision
//	"rule"          the target's rules, on every entity
//	"entity"        the target's rules, on the target's entities (an incident's
//	                users, hosts, ...; a signal's entities)
//	"value:K:V"     the target's rules when a signal names entity kind K with
//	                value V (e.g. value:process:c:\tools\agent.exe)
//
// A rule target (TargetID "detector/rule") takes "rule" (the default) or
// "value:K:V"; an entity target (TargetID "K:V") suppresses every rule on that
// entity. A suppression holds for signals whose event time is before Expires
// (forever when Expires is zero): event time, so replays decide the same.
// True positives never suppress.
//
// A false-positive or benign verdict on behavioral signals also says "this is
// normal" to the models that emitted them (Normal): each signal's Baseline names
// the entity and attribute its model's MarkNormal takes, until the verdict's
// expiry; a value scope keeps the baselines that name the value.
package feedback

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

// Prior is the Beta prior of every rule's precision.
type Prior struct {
	Alpha, Beta float64 // default 1, 1: mean 0.5, worth two verdicts
}

func (p Prior) withDefaults() Prior {
	if p.Alpha <= 0 {
		p.Alpha = 1
	}
	if p.Beta <= 0 {
		p.Beta = 1
	}
	return p
}

// Posterior is one rule's precision estimate.
type Posterior struct {
	Rule  string  `json:"rule"` // detector/rule
	Alpha float64 `json:"alpha"`
	Beta  float64 `json:"beta"`
	TP    int     `json:"true_positives"`
	FP    int     `json:"false_positives"` // false positives and benign true positives
}

// Mean is the posterior mean: the precision estimate.
func (p Posterior) Mean() float64 { return p.Alpha / (p.Alpha + p.Beta) }

type suppression struct {
	id      string
	rules   []string        // detector/rule; empty: any rule
	ents    []detect.Entity // the signal must name one of them (canonical); empty: any
	expires time.Time       // zero: never
}

// Lookup finds what a verdict's target is made of. Either may be nil (targets
// of that kind are then rejected).
type Lookup struct {
	Signal   func(id string) (detect.Signal, bool)
	Incident func(id string) ([]detect.Signal, bool) // the incident's signals
}

// Book is what analysts have said, ready to apply. Build it with New and Add;
// it is not safe for concurrent Add, but Suppressed and Precision may be called
// concurrently once built.
type Book struct {
	prior Prior
	post  map[string]*Posterior
	// falseBy sums each detector's false and benign evidence over its rules
	// (what Precision pools), kept as verdicts are added
	falseBy map[string]float64
	supp    []suppression
	normal  []Normal
	n       int
}

// Normal is "this is normal" for a behavioral model, from a false or benign
// verdict on one of its signals: the model's MarkNormal arguments as the signal's
// Baseline names them, until the verdict's expiry (zero: for good).
type Normal struct {
	Detector  string
	Entity    string
	Attribute string
	Until     time.Time
	Feedback  string // the verdict's id
}

// New returns an empty book.
func New(prior Prior) *Book {
	return &Book{prior: prior.withDefaults(), post: map[string]*Posterior{}, falseBy: map[string]float64{}}
}

// RuleKey names a rule as the book and the risk scorer do.
func RuleKey(detectorID, ruleID string) string { return detectorID + "/" + ruleID }

// Add takes one verdict into the book. It returns an error naming the feedback
// and why when the verdict cannot be used (unknown target, bad scope); the book
// is then unchanged.
func (b *Book) Add(fb store.Feedback, look Lookup) error {
	if err := fb.Validate(); err != nil {
		return err
	}
	var sigs []detect.Signal
	switch fb.TargetKind {
	case store.TargetSignal:
		if look.Signal == nil {
			return fmt.Errorf("feedback %s: signal %s: no signals to look it up in", fb.ID, fb.TargetID)
		}
		s, ok := look.Signal(fb.TargetID)
		if !ok {
			return fmt.Errorf("feedback %s: signal %s not found", fb.ID, fb.TargetID)
		}
		sigs = []detect.Signal{s}
	case store.TargetIncident:
		if look.Incident == nil {
			return fmt.Errorf("feedback %s: incident %s: no incidents to look it up in", fb.ID, fb.TargetID)
		}
		ss, ok := look.Incident(fb.TargetID)
		if !ok || len(ss) == 0 {
			return fmt.Errorf("feedback %s: incident %s not found", fb.ID, fb.TargetID)
		}
		sigs = ss
	case store.TargetRule:
		det, rule, ok := strings.Cut(fb.TargetID, "/")
		if !ok || det == "" {
			return fmt.Errorf("feedback %s: rule target %q is not detector/rule", fb.ID, fb.TargetID)
		}
		return b.addRule(fb, RuleKey(det, rule))
	case store.TargetEntity:
		e, err := parseEntity(fb.TargetID)
		if err != nil {
			return fmt.Errorf("feedback %s: entity target: %w", fb.ID, err)
		}
		if fb.Scope != "" && fb.Scope != "entity" {
			return fmt.Errorf("feedback %s: an entity target takes no scope %q", fb.ID, fb.Scope)
		}
		if suppresses(fb.Verdict) {
			b.supp = append(b.supp, suppression{id: fb.ID, ents: []detect.Entity{e}, expires: fb.Expires})
		}
		b.n++
		return nil
	}
	var rules []string
	var ents []detect.Entity
	for _, s := range sigs {
		if k := RuleKey(s.DetectorID, s.RuleID); !slices.Contains(rules, k) {
			rules = append(rules, k)
		}
		for _, e := range s.Entities {
			if e = canonical(e); !slices.Contains(ents, e) {
				ents = append(ents, e)
			}
		}
	}
	slices.Sort(rules)
	var sp *suppression
	switch {
	case fb.Scope == "":
	case fb.Scope == "rule":
		sp = &suppression{id: fb.ID, rules: rules, expires: fb.Expires}
	case fb.Scope == "entity":
		sp = &suppression{id: fb.ID, rules: rules, ents: ents, expires: fb.Expires}
	case strings.HasPrefix(fb.Scope, "value:"):
		e, err := parseEntity(strings.TrimPrefix(fb.Scope, "value:"))
		if err != nil {
			return fmt.Errorf("feedback %s: scope: %w", fb.ID, err)
		}
		sp = &suppression{id: fb.ID, rules: rules, ents: []detect.Entity{e}, expires: fb.Expires}
	default:
		return fmt.Errorf("feedback %s: unknown scope %q (want rule, entity or value:KIND:VALUE)", fb.ID, fb.Scope)
	}
	// A true incident vouches for itself, not for every rule in it (some fire on
	// anything the attack touched): its credit is shared among its rules. Every
	// signal of a false or benign incident was noise: each rule takes a full count.
	weight := 1.0
	if fb.Verdict == store.VerdictTruePositive && len(rules) > 1 {
		weight = 1 / float64(len(rules))
	}
	for _, r := range rules {
		b.countWeighted(r, fb.Verdict, weight)
	}
	if sp != nil && suppresses(fb.Verdict) {
		b.supp = append(b.supp, *sp)
	}
	if suppresses(fb.Verdict) {
		b.addNormal(fb, sigs)
	}
	b.n++
	return nil
}

// addNormal keeps a false or benign verdict's "this is normal" for each
// behavioral signal it covers that names its baseline; a value scope keeps only
// the baselines naming that value.
func (b *Book) addNormal(fb store.Feedback, sigs []detect.Signal) {
	var value string
	if v, ok := strings.CutPrefix(fb.Scope, "value:"); ok {
		if e, err := parseEntity(v); err == nil {
			value = e.Value
		}
	}
	for i := range sigs {
		bl := sigs[i].Baseline
		if bl.Entity == "" && bl.Attribute == "" {
			continue
		}
		if value != "" && !strings.EqualFold(bl.Entity, value) && !strings.EqualFold(bl.Attribute, value) {
			continue
		}
		n := Normal{Detector: sigs[i].DetectorID, Entity: bl.Entity, Attribute: bl.Attribute, Until: fb.Expires, Feedback: fb.ID}
		if !slices.ContainsFunc(b.normal, func(x Normal) bool {
			return x.Detector == n.Detector && x.Entity == n.Entity && x.Attribute == n.Attribute && x.Until.Equal(n.Until)
		}) {
			b.normal = append(b.normal, n)
		}
	}
}

// Normal returns the "this is normal" marks of the verdicts taken, in the order
// they were added.
func (b *Book) Normal() []Normal { return slices.Clone(b.normal) }

func (b *Book) addRule(fb store.Feedback, rule string) error {
	sp := suppression{id: fb.ID, rules: []string{rule}, expires: fb.Expires}
	switch {
	case fb.Scope == "" || fb.Scope == "rule":
	case strings.HasPrefix(fb.Scope, "value:"):
		e, err := parseEntity(strings.TrimPrefix(fb.Scope, "value:"))
		if err != nil {
			return fmt.Errorf("feedback %s: scope: %w", fb.ID, err)
		}
		sp.ents = []detect.Entity{e}
	default:
		return fmt.Errorf("feedback %s: a rule target takes scope rule or value:KIND:VALUE, not %q", fb.ID, fb.Scope)
	}
	b.count(rule, fb.Verdict)
	if suppresses(fb.Verdict) {
		b.supp = append(b.supp, sp)
	}
	b.n++
	return nil
}

func (b *Book) count(rule string, v store.Verdict) { b.countWeighted(rule, v, 1) }

func (b *Book) countWeighted(rule string, v store.Verdict, w float64) {
	p := b.post[rule]
	if p == nil {
		p = &Posterior{Rule: rule, Alpha: b.prior.Alpha, Beta: b.prior.Beta}
		b.post[rule] = p
	}
	switch v {
	case store.VerdictTruePositive:
		p.Alpha += w
		p.TP++
	case store.VerdictFalsePositive, store.VerdictBenignTruePositive:
		p.Beta += w
		p.FP++
		detector, _, _ := strings.Cut(rule, "/")
		b.falseBy[detector] += w
	}
}

func suppresses(v store.Verdict) bool {
	return v == store.VerdictFalsePositive || v == store.VerdictBenignTruePositive
}

// parseEntity reads "kind:value" (the value may hold colons).
func parseEntity(s string) (detect.Entity, error) {
	kind, value, ok := strings.Cut(s, ":")
	if !ok || kind == "" || value == "" {
		return detect.Entity{}, fmt.Errorf("%q is not KIND:VALUE", s)
	}
	return canonical(detect.Entity{Kind: detect.EntityKind(kind), Value: value}), nil
}

// canonical compares entity values without case (as the correlator links them).
func canonical(e detect.Entity) detect.Entity {
	e.Value = strings.ToLower(e.Value)
	return e
}

// Len is how many verdicts the book took.
func (b *Book) Len() int { return b.n }

// Precision returns the rule's precision estimate, or 0 when no verdict named
// it or its detector (the risk scorer then uses its own prior). A rule's
// estimate is shrunk toward its detector's (the false and benign verdicts on
// the detector's rules pooled): a rule with few verdicts takes most of its estimate from its
// siblings, and a rule no verdict named takes its detector's, when the
// detector pools (behavioral models: one model's rules share a cause; not
// Sigma, whose rules are unrelated).
func (b *Book) Precision(detectorID, ruleID string) float64 {
	p := b.post[RuleKey(detectorID, ruleID)]
	if !pools(detectorID) {
		if p != nil {
			return p.Mean()
		}
		return 0
	}
	// Only false and benign verdicts pool: a model's false positives tend to
	// share a cause (an immature baseline, a rollout), while a true detection
	// vouches for its own rule; pooled, true positives raised every sibling and
	// let benign incidents of the model cross the reporting threshold.
	tb := b.falseBy[detectorID]
	if p == nil && tb == 0 {
		return 0
	}
	mu := b.prior.Alpha / (b.prior.Alpha + b.prior.Beta + tb)
	m := b.prior.Alpha + b.prior.Beta // the detector's estimate weighs as much as the prior did
	var ra, rb float64
	if p != nil {
		ra, rb = p.Alpha-b.prior.Alpha, p.Beta-b.prior.Beta
	}
	return (ra + m*mu) / (ra + rb + m)
}

// pools says whether a detector's rules share their precision evidence.
func pools(detectorID string) bool { return strings.HasPrefix(detectorID, "behavior.") }

// Posteriors lists every rule's estimate, by rule.
func (b *Book) Posteriors() []Posterior {
	out := make([]Posterior, 0, len(b.post))
	for _, p := range b.post {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Posterior) int { return strings.Compare(a.Rule, b.Rule) })
	return out
}

// Suppressed reports whether a verdict suppresses s, and which (its id).
func (b *Book) Suppressed(s *detect.Signal) (string, bool) {
	if len(b.supp) == 0 {
		return "", false
	}
	rule := RuleKey(s.DetectorID, s.RuleID)
	for i := range b.supp {
		sp := &b.supp[i]
		if !sp.expires.IsZero() && !s.Time.Before(sp.expires) {
			continue
		}
		if len(sp.rules) > 0 && !slices.Contains(sp.rules, rule) {
			continue
		}
		if len(sp.ents) > 0 && !slices.ContainsFunc(s.Entities, func(e detect.Entity) bool { return slices.Contains(sp.ents, canonical(e)) }) {
			continue
		}
		return sp.id, true
	}
	return "", false
}
