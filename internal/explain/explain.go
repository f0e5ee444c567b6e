// Package explain says why an incident is one, in a structure a console can lay
// out and in plain language an analyst reads in ten seconds: what happened in
// the order it happened, why each signal fired (the rule's matched fields, or
// the baseline against what was observed), who and what is involved with their
// business context, the ATT&CK mapping, how confident Vigil is, and what would
// make it benign.
package explain

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/attack"
	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/correlate/risk"
	"github.com/vigilsec/vigil/internal/detect"
)

// Incident is an incident's explanation.
type Incident struct {
	// Text is the plain-language explanation: a few sentences.
	Text string `json:"text"`
	// Reasons are the incident's distinct signals (one per rule and entities),
	// strongest first: why each fired.
	Reasons []Reason `json:"reasons"`
	// Timeline is the attack's progression: each tactic when it first appeared.
	Timeline []Stage `json:"timeline"`
	// Entities are who and what is involved, with what the business knows.
	Entities []EntityContext `json:"entities"`
	// Attack maps the incident to ATT&CK: tactics and techniques with names.
	Attack []TacticOut `json:"attack"`
	// Confidence in words: "high (0.92: 3 distinct signals)".
	Confidence string `json:"confidence"`
	// BenignIf lists what would make the incident benign, from its rules' known
	// false positives and its models' usual benign causes.
	BenignIf []string `json:"benign_if,omitempty"`
}

// Reason is why one signal fired.
type Reason struct {
	Signal   string          `json:"signal"` // the first signal of this rule on these entities
	Repeats  int             `json:"repeats"`
	Detector string          `json:"detector"`
	Rule     string          `json:"rule,omitempty"`
	Title    string          `json:"title"`
	Severity detect.Severity `json:"severity"`
	Time     time.Time       `json:"time"`
	Why      string          `json:"why"`                // the detector's summary
	Expected string          `json:"expected,omitempty"` // behavioral: the baseline
	Observed string          `json:"observed,omitempty"`
	Matched  []string        `json:"matched,omitempty"` // rules: field=value
}

// Stage is one tactic's first appearance.
type Stage struct {
	Tactic string    `json:"tactic"`
	Name   string    `json:"name"`
	Time   time.Time `json:"time"`
	Signal string    `json:"signal"` // the title of the signal that showed it first
}

// EntityContext is one entity with its business context.
type EntityContext struct {
	Entity      detect.Entity `json:"entity"`
	Signals     int           `json:"signals"` // how many of the incident's signals name it
	Criticality string        `json:"criticality,omitempty"`
	Privileged  bool          `json:"privileged,omitempty"`
}

// TacticOut is one tactic with the incident's techniques under it.
type TacticOut struct {
	Tactic     string         `json:"tactic"`
	Name       string         `json:"name"`
	Techniques []TechniqueOut `json:"techniques,omitempty"`
}

// TechniqueOut is one technique.
type TechniqueOut struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Context says what the business knows of an entity (nil: nothing).
type Context func(detect.Entity) (risk.Criticality, bool)

// maxReasons bounds the reasons listed; maxEntities the entities.
const (
	maxReasons  = 20
	maxEntities = 20
	maxBenign   = 12
)

// Explain explains inc from its signals (those of inc.SignalIDs that are
// given; others are left out). ctx may be nil.
func Explain(inc correlate.Incident, signals []detect.Signal, ctx Context) Incident {
	byID := make(map[string]*detect.Signal, len(signals))
	for i := range signals {
		byID[signals[i].ID] = &signals[i]
	}
	var sigs []*detect.Signal
	for _, id := range inc.SignalIDs {
		if s := byID[id]; s != nil {
			sigs = append(sigs, s)
		}
	}
	// By time, then by content, then by id: signal ids depend on where the
	// logs were read from, and the explanation should not.
	slices.SortStableFunc(sigs, func(a, b *detect.Signal) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.DetectorID, b.DetectorID), strings.Compare(a.RuleID, b.RuleID),
			strings.Compare(a.Title, b.Title), strings.Compare(entitiesKey(a.Entities), entitiesKey(b.Entities)), strings.Compare(a.ID, b.ID))
	})
	var out Incident

	// Reasons: one per rule and entities, counting repeats.
	idx := map[string]int{}
	for _, s := range sigs {
		k := s.DetectorID + "\x00" + s.RuleID + "\x00" + entitiesKey(s.Entities)
		if i, ok := idx[k]; ok {
			out.Reasons[i].Repeats++
			continue
		}
		idx[k] = len(out.Reasons)
		r := Reason{Signal: s.ID, Detector: s.DetectorID, Rule: s.RuleID, Title: s.Title, Severity: s.Severity, Time: s.Time,
			Why: s.Explanation.Summary, Expected: s.Explanation.Expected, Observed: s.Explanation.Observed}
		for i, m := range s.Explanation.Matches {
			if i == 4 {
				break
			}
			r.Matched = append(r.Matched, m.Field+"="+m.Value)
		}
		out.Reasons = append(out.Reasons, r)
	}
	slices.SortStableFunc(out.Reasons, func(a, b Reason) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), a.Time.Compare(b.Time), strings.Compare(a.Title, b.Title))
	})
	distinct := len(out.Reasons)
	if len(out.Reasons) > maxReasons {
		out.Reasons = out.Reasons[:maxReasons]
	}

	// Timeline: each tactic's first signal.
	seenTactic := map[string]bool{}
	for _, s := range sigs {
		for _, t := range s.Tactics {
			if seenTactic[t] {
				continue
			}
			seenTactic[t] = true
			out.Timeline = append(out.Timeline, Stage{Tactic: t, Name: tacticName(t), Time: s.Time, Signal: s.Title})
		}
	}

	// Entities with their context.
	for i, e := range inc.Entities {
		if i == maxEntities {
			break
		}
		ec := EntityContext{Entity: e}
		for _, s := range sigs {
			if slices.ContainsFunc(s.Entities, func(x detect.Entity) bool { return x.Kind == e.Kind && strings.EqualFold(x.Value, e.Value) }) {
				ec.Signals++
			}
		}
		if ctx != nil {
			c, p := ctx(e)
			if c != risk.CriticalityUnknown {
				ec.Criticality = c.String()
			}
			ec.Privileged = p
		}
		out.Entities = append(out.Entities, ec)
	}

	// ATT&CK: tactics in kill-chain order, techniques under the tactics they serve.
	for _, t := range inc.Tactics {
		to := TacticOut{Tactic: t, Name: tacticName(t)}
		for _, id := range inc.Techniques {
			tech, ok := attack.LookupTechnique(strings.ToUpper(id))
			if ok && slices.Contains(tech.Tactics, normTactic(t)) {
				to.Techniques = append(to.Techniques, TechniqueOut{ID: tech.ID, Name: tech.Name})
			}
		}
		out.Attack = append(out.Attack, to)
	}
	slices.SortStableFunc(out.Attack, func(a, b TacticOut) int { return cmp.Compare(tacticOrder(a.Tactic), tacticOrder(b.Tactic)) })

	// Benign causes.
	seenBenign := map[string]bool{}
	addBenign := func(b string) {
		if k := strings.ToLower(strings.TrimSpace(b)); k != "" && !seenBenign[k] && len(out.BenignIf) < maxBenign {
			seenBenign[k] = true
			out.BenignIf = append(out.BenignIf, strings.TrimSpace(b))
		}
	}
	for _, s := range sigs {
		for _, b := range s.Explanation.BenignIf {
			addBenign(b)
		}
		if b := modelBenign(s.DetectorID); b != "" {
			addBenign(b)
		}
	}

	out.Confidence = confidenceText(inc.Confidence, distinct)
	out.Text = text(inc, out, distinct, len(sigs))
	return out
}

// modelBenign is a behavioral model's usual benign cause.
func modelBenign(detector string) string {
	switch detector {
	case "behavior.first_seen":
		return "a legitimate first: a new assignment, new software rolled out, a new device or location the person confirms"
	case "behavior.seasonal":
		return "a known busy period: month end, a migration, a batch job moved to a new time"
	case "behavior.impossible_travel":
		return "a VPN, a corporate egress or a mobile carrier placing the sign-in far from the person"
	case "behavior.c2":
		return "software that checks in on a timer: updaters, monitoring agents, telemetry"
	case "behavior.dns":
		return "a CDN, a security product or telemetry with long generated names"
	case "behavior.edge_stream":
		return "a scanner, a new service or a deployment talking to many hosts at once"
	case "behavior.multivariate":
		return "a change in the person's work that shows in several measures at once"
	}
	return ""
}

func entitiesKey(es []detect.Entity) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = string(e.Kind) + ":" + strings.ToLower(e.Value)
	}
	slices.Sort(parts)
	return strings.Join(parts, "\x00")
}

func normTactic(t string) string {
	if tc, ok := attack.LookupTactic(t); ok {
		return tc.ShortName
	}
	return t
}

func tacticName(t string) string {
	if tc, ok := attack.LookupTactic(t); ok {
		return tc.Name
	}
	return t
}

func tacticOrder(t string) int {
	if tc, ok := attack.LookupTactic(t); ok {
		return tc.Order
	}
	return 99
}

func confidenceText(c float64, distinct int) string {
	level := "low"
	switch {
	case c >= 0.9:
		level = "high"
	case c >= 0.6:
		level = "medium"
	}
	return fmt.Sprintf("%s (%.2f: %d distinct signal%s)", level, c, distinct, plural(distinct))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// text writes the plain-language explanation.
func text(inc correlate.Incident, ex Incident, distinct, total int) string {
	var b strings.Builder
	span := inc.LastSeen.Sub(inc.FirstSeen)
	title := inc.Title
	if i := strings.LastIndex(title, " ("); i > 0 && strings.HasSuffix(title, ")") {
		title = title[:i] // the counts follow
	}
	fmt.Fprintf(&b, "%s. It began %s", strings.TrimSuffix(title, "."), inc.FirstSeen.UTC().Format("2006-01-02 15:04 MST"))
	if span >= time.Minute {
		fmt.Fprintf(&b, " and went on for %s", humanDuration(span))
	}
	fmt.Fprintf(&b, ": %d signal%s, %d distinct.", total, plural(total), distinct)
	if len(ex.Timeline) > 1 {
		var steps []string
		for _, st := range ex.Timeline {
			steps = append(steps, st.Name)
		}
		fmt.Fprintf(&b, " It moves through %s.", strings.Join(steps, ", then "))
	}
	told := map[string]bool{} // a rule that fired on several entities is told once
	for _, r := range ex.Reasons {
		if len(told) == 3 {
			break
		}
		if told[r.Detector+"\x00"+r.Title] {
			continue
		}
		told[r.Detector+"\x00"+r.Title] = true
		switch {
		case r.Detector == "sigma" && len(r.Matched) > 0:
			fmt.Fprintf(&b, " %s: the rule matched %s", r.Title, strings.Join(r.Matched, ", "))
		case r.Detector == "sigma":
			fmt.Fprintf(&b, " %s: the Sigma rule matched", r.Title)
		default:
			fmt.Fprintf(&b, " %s: %s", r.Title, strings.TrimSuffix(r.Why, "."))
		}
		if r.Expected != "" && r.Observed != "" {
			fmt.Fprintf(&b, " (expected %s; observed %s)", r.Expected, r.Observed)
		}
		b.WriteString(".")
	}
	var ctx []string
	for _, e := range ex.Entities {
		switch {
		case e.Privileged:
			ctx = append(ctx, fmt.Sprintf("%s is privileged", e.Entity.Value))
		case e.Criticality == "high" || e.Criticality == "extreme":
			article := "a"
			if e.Criticality == "extreme" {
				article = "an"
			}
			ctx = append(ctx, fmt.Sprintf("%s is %s %s-criticality asset", e.Entity.Value, article, e.Criticality))
		}
	}
	if len(ctx) > 0 {
		fmt.Fprintf(&b, " %s.", strings.Join(ctx, "; "))
	}
	if len(inc.Posture) > 0 {
		// vigil scan's findings on the workloads and images involved
		fmt.Fprintf(&b, " Pre-production posture raised the risk: %s.", strings.Join(inc.Posture, "; "))
	}
	fmt.Fprintf(&b, " Risk %.0f of 100, confidence %s.", inc.Risk, ex.Confidence)
	if len(ex.BenignIf) > 0 {
		fmt.Fprintf(&b, " It would be benign if: %s.", strings.TrimSuffix(ex.BenignIf[0], "."))
	}
	return b.String()
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.0f days", d.Hours()/24)
	case d >= 2*time.Hour:
		return fmt.Sprintf("%.0f hours", d.Hours())
	default:
		return fmt.Sprintf("%.0f minutes", d.Minutes())
	}
}
