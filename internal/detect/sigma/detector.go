package sigma

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// DetectorID is the id of the Sigma detector on signals.
const DetectorID = "sigma"

// Detector runs a Ruleset as a detect.Detector: every rule match becomes a signal
// carrying the rule's id, title, level and ATT&CK tags, and the explanation of the
// match (the searches that held, with the fields and values).
type Detector struct {
	rs       *Ruleset
	version  string
	matchers sync.Pool
	corr     *CorrelationEngine // correlation rules, nil without (see WithCorrelations)

	// ordered: hits for correlations are kept (with a copy of their event) and
	// run through the correlations in event-time order at Flush (see Ordered).
	ordered  bool
	deferMu  sync.Mutex
	deferred []deferredHit
	// skipThrough: Release drops hits at or before this event time (SkipThrough)
	skipThrough int64
}

// deferredHit is a rule hit kept for the correlations until Flush.
type deferredHit struct {
	rule *Rule
	e    *event.Event
}

// NewDetector returns a detector over rs. Its version names the engine and the rule
// set, so signals say which rules produced them.
func NewDetector(rs *Ruleset) *Detector {
	d := &Detector{rs: rs, version: "1+" + rs.Fingerprint()}
	d.matchers.New = func() any { return rs.NewMatcher() }
	return d
}

// ID implements detect.Detector.
func (d *Detector) ID() string { return DetectorID }

// Version implements detect.Detector.
func (d *Detector) Version() string { return d.version }

// Detect implements detect.Detector.
func (d *Detector) Detect(ctx context.Context, batch []*event.Event, emit func(detect.Signal)) error {
	m, _ := d.matchers.Get().(*Matcher)
	defer d.matchers.Put(m)
	for i, e := range batch {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		m.Match(e, func(h *Hit) {
			if d.corr != nil && d.ordered && len(d.corr.byRule[h.Rule]) > 0 {
				c := e.Clone()
				d.deferMu.Lock()
				d.deferred = append(d.deferred, deferredHit{rule: h.Rule, e: c})
				d.deferMu.Unlock()
				if d.corr.suppress[h.Rule] {
					return
				}
			} else if d.corr != nil && d.corr.observe(h, e, emit) {
				return // only correlations with generate: false use this rule
			}
			emit(Signal(h, e))
		})
	}
	return nil
}

// Signal turns a hit on e into a signal. Strings are copied: the signal outlives e.
func Signal(h *Hit, e *event.Event) detect.Signal {
	r := h.Rule
	sev, err := detect.ParseSeverity(r.Level)
	if err != nil {
		sev = detect.SeverityMedium // the specification's level is optional
	}
	s := detect.Signal{
		Time:       e.Timestamp,
		RuleID:     RuleRef(r),
		Title:      r.Title,
		Severity:   sev,
		Confidence: confidence(r.Status),
		Entities:   detect.EntitiesOf(e),
		Evidence:   []detect.EvidenceRef{detect.EvidenceOf(e)},
	}
	s.Tactics, s.Techniques = attackTags(r.Tags)
	var names []string
	for _, sh := range h.Searches {
		names = append(names, sh.Name)
		for _, f := range sh.Fields {
			s.Explanation.Matches = append(s.Explanation.Matches, detect.FieldMatch{Field: f.Field, Value: clip(f.Value)})
		}
	}
	s.Explanation.Summary = fmt.Sprintf("Sigma rule %q matched (%s)", r.Title, strings.Join(names, ", "))
	s.Explanation.BenignIf = benignCauses(r.FalsePositives)
	return s
}

// benignCauses is a rule's falsepositives list without the entries that name
// no cause ("Unknown", "Unlikely", "None").
func benignCauses(fps []string) []string {
	var out []string
	for _, fp := range fps {
		switch strings.ToLower(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(fp), "."))) {
		case "", "unknown", "unlikely", "none", "n/a", "none known", "very unlikely":
			continue
		}
		out = append(out, fp)
	}
	return out
}

// RuleRef is how signals name a rule: its id, else its name, else its file.
func RuleRef(r *Rule) string {
	switch {
	case r.ID != "":
		return r.ID
	case r.Name != "":
		return r.Name
	}
	return r.Source.String()
}

// clip copies a matched value for an explanation, cut to a readable length.
func clip(v string) string {
	const maxLen = 512
	if len(v) > maxLen {
		cut := maxLen
		for cut > 0 && v[cut]&0xC0 == 0x80 {
			cut--
		}
		return strings.Clone(v[:cut]) + "…"
	}
	return strings.Clone(v)
}

// confidence is the prior a rule's status gives its matches; feedback refines it.
func confidence(status string) float64 {
	switch status {
	case "stable":
		return 0.8
	case "test":
		return 0.65
	case "experimental":
		return 0.5
	case "deprecated", "unsupported":
		return 0.3
	}
	return 0.5
}

// attackTags splits ATT&CK tags into tactics (attack.credential-access) and
// techniques (attack.t1003.001 as T1003.001).
func attackTags(tags []Tag) (tactics, techniques []string) {
	for _, t := range tags {
		if t.Namespace != "attack" {
			continue
		}
		n := t.Name
		switch {
		case len(n) > 1 && (n[0] == 't' || n[0] == 'T') && n[1] >= '0' && n[1] <= '9':
			techniques = append(techniques, "T"+n[1:])
		case len(n) > 1 && (n[0] == 'g' || n[0] == 's') && n[1] >= '0' && n[1] <= '9':
			// groups and software: not tactics
		default:
			tactics = append(tactics, n)
		}
	}
	return tactics, techniques
}

// Fingerprint is a short hash of what the compiled rules match (ids, levels,
// conditions, fields, modifiers and values), stable for the same rule set.
func (rs *Ruleset) Fingerprint() string {
	var rules []string
	seen := map[*Rule]bool{}
	for _, cr := range rs.rules {
		if seen[cr.rule] {
			continue
		}
		seen[cr.rule] = true
		var b strings.Builder
		r := cr.rule
		fmt.Fprintf(&b, "%s|%s|%s|%q", RuleRef(r), r.Level, r.LogSource, r.Detection.ConditionText)
		for _, s := range r.Detection.Searches {
			fmt.Fprintf(&b, "|%s", s.Name)
			for _, g := range s.Groups {
				b.WriteString("(")
				for _, fm := range g {
					fmt.Fprintf(&b, "%s%v=%q;", fm.Field, fm.Modifiers, fm.Values)
				}
				b.WriteString(")")
			}
		}
		rules = append(rules, b.String())
	}
	sort.Strings(rules)
	h := sha256.New()
	for _, r := range rules {
		h.Write([]byte(r))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

var _ detect.Detector = (*Detector)(nil)
