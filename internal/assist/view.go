package assist

import (
	"slices"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

// The view is what the model is told about an incident: entity values and free
// text (titles, summaries, explanations, matched values) pseudonymized, and
// nothing it does not need (no incident id, no evidence locations). Detector
// and rule ids, tactic, technique, field and feature names come from Vigil's
// own rules and detectors and are sent as they are.
type view struct {
	Title       string       `json:"title"`
	Status      string       `json:"status"`
	Severity    string       `json:"severity"`
	Confidence  float64      `json:"confidence"`
	Risk        float64      `json:"risk"`
	FirstSeen   time.Time    `json:"first_seen"`
	LastSeen    time.Time    `json:"last_seen"`
	Tactics     []string     `json:"tactics,omitempty"`
	Techniques  []string     `json:"techniques,omitempty"`
	Progress    float64      `json:"kill_chain_progress"`
	Entities    []viewEntity `json:"entities,omitempty"`
	EntityCount int          `json:"entity_count"`
	Summary     string       `json:"summary,omitempty"`
	SignalCount int          `json:"signal_count"`
	Signals     []viewSignal `json:"signals"`
	Omitted     int          `json:"signals_omitted,omitempty"`
}

type viewEntity struct {
	Kind    string   `json:"kind"`
	Value   string   `json:"value"`
	Aliases []string `json:"aliases,omitempty"`
}

type viewSignal struct {
	ID          string          `json:"id"`
	Time        time.Time       `json:"time"`
	Detector    string          `json:"detector"`
	RuleID      string          `json:"rule_id,omitempty"`
	Title       string          `json:"title"`
	Severity    string          `json:"severity"`
	Confidence  float64         `json:"confidence"`
	Tactics     []string        `json:"tactics,omitempty"`
	Techniques  []string        `json:"techniques,omitempty"`
	Entities    []viewEntity    `json:"entities,omitempty"`
	Explanation viewExplanation `json:"explanation"`
	Evidence    int             `json:"evidence_events"`
}

type viewExplanation struct {
	Summary     string       `json:"summary,omitempty"`
	Expected    string       `json:"expected,omitempty"`
	Observed    string       `json:"observed,omitempty"`
	Score       float64      `json:"score,omitempty"`
	Probability float64      `json:"probability,omitempty"`
	Matches     []viewMatch  `json:"matches,omitempty"`
	Features    []viewFeatur `json:"features,omitempty"`
}

type viewMatch struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

type viewFeatur struct {
	Name     string  `json:"name"`
	Observed string  `json:"observed"`
	Expected string  `json:"expected,omitempty"`
	Weight   float64 `json:"weight,omitempty"`
}

func entities(p *Pseudonymizer, es []detect.Entity) []viewEntity {
	out := make([]viewEntity, 0, len(es))
	for _, e := range es {
		v := p.Entity(e.Kind, e.Value)
		if v == "" {
			continue
		}
		out = append(out, viewEntity{Kind: string(e.Kind), Value: v, Aliases: p.Aliases(v)})
	}
	return out
}

// buildView pseudonymizes the incident and at most maxSignals of its signals
// (the earliest). Every entity is registered with p before any text is scanned.
func buildView(p *Pseudonymizer, inc *correlate.Incident, signals []detect.Signal, maxSignals int) view {
	for _, e := range inc.Entities {
		p.Entity(e.Kind, e.Value)
	}
	for i := range signals {
		for _, e := range signals[i].Entities {
			p.Entity(e.Kind, e.Value)
		}
	}
	v := view{
		Title:       p.Text(inc.Title),
		Status:      string(inc.Status),
		Severity:    inc.Severity.String(),
		Confidence:  inc.Confidence,
		Risk:        inc.Risk,
		FirstSeen:   inc.FirstSeen,
		LastSeen:    inc.LastSeen,
		Tactics:     inc.Tactics,
		Techniques:  inc.Techniques,
		Progress:    inc.Progress.Score,
		Entities:    entities(p, inc.Entities),
		EntityCount: inc.EntityCount,
		Summary:     p.Text(inc.Summary),
		SignalCount: max(inc.SignalCount, len(signals)),
		Signals:     []viewSignal{},
	}
	order := make([]int, len(signals))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return signals[a].Time.Compare(signals[b].Time) })
	if len(order) > maxSignals {
		v.Omitted = len(order) - maxSignals
		order = order[:maxSignals]
	}
	for _, i := range order {
		s := &signals[i]
		vs := viewSignal{
			ID:         s.ID,
			Time:       s.Time,
			Detector:   s.DetectorID,
			RuleID:     s.RuleID,
			Title:      p.Text(s.Title),
			Severity:   s.Severity.String(),
			Confidence: s.Confidence,
			Tactics:    s.Tactics,
			Techniques: s.Techniques,
			Entities:   entities(p, s.Entities),
			Evidence:   len(s.Evidence),
			Explanation: viewExplanation{
				Summary:     p.Text(s.Explanation.Summary),
				Expected:    p.Text(s.Explanation.Expected),
				Observed:    p.Text(s.Explanation.Observed),
				Score:       finite(s.Explanation.Score),
				Probability: finite(s.Explanation.Probability),
			},
		}
		for _, m := range s.Explanation.Matches {
			vs.Explanation.Matches = append(vs.Explanation.Matches, viewMatch{Field: m.Field, Value: p.Text(m.Value)})
		}
		for _, f := range s.Explanation.Features {
			vs.Explanation.Features = append(vs.Explanation.Features, viewFeatur{
				Name: f.Name, Observed: p.Text(f.Observed), Expected: p.Text(f.Expected), Weight: finite(f.Weight),
			})
		}
		v.Signals = append(v.Signals, vs)
	}
	v.Confidence, v.Risk, v.Progress = finite(v.Confidence), finite(v.Risk), finite(v.Progress)
	for i := range v.Signals {
		v.Signals[i].Confidence = finite(v.Signals[i].Confidence)
	}
	return v
}

// finite maps NaN and infinities (which encoding/json refuses) to 0.
func finite(x float64) float64 {
	if x != x || x > 1e308 || x < -1e308 {
		return 0
	}
	return x
}
