package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilsec/vigil/internal/correlate/risk"
	"github.com/vigilsec/vigil/internal/detect"
)

// EntityRiskOut is one entity's risk score with the breakdown that explains it.
type EntityRiskOut struct {
	Entity    detect.Entity   `json:"entity"`
	Score     float64         `json:"score"` // 0..100, after the business context
	Base      float64         `json:"base"`  // 0..100, before it
	At        time.Time       `json:"at"`    // event time the score is at
	Modifiers []ModifierOut   `json:"modifiers,omitempty"`
	Rules     []RulePointsOut `json:"rules"` // strongest first
}

// ModifierOut is one odds multiplier (asset criticality, privileged identity).
type ModifierOut struct {
	Name   string  `json:"name"`
	Factor float64 `json:"factor"`
}

// RulePointsOut is one rule's part in an entity's score: its strongest signal's
// base (severity x confidence x precision), decayed to the scoring time, ranked
// and zeta-weighted; Points are its share of the score.
type RulePointsOut struct {
	Rule     string          `json:"rule"`            // detector/rule
	Title    string          `json:"title,omitempty"` // the rule's title, from its signals
	Tactic   string          `json:"tactic,omitempty"`
	Severity detect.Severity `json:"severity"`
	Signals  uint32          `json:"signals"`
	First    time.Time       `json:"first"`
	Last     time.Time       `json:"last"`
	Value    float64         `json:"value"`
	Weight   float64         `json:"weight"`
	Points   float64         `json:"points"`
}

// EntityRisk renders scorer breakdowns for output, naming each rule by the
// title of its signals among signals: the title of one naming that entity
// (behavioral titles name who and what), else the rule's one title.
func EntityRisk(bds []risk.Breakdown, signals []detect.Signal) []EntityRiskOut {
	titles := map[string]string{} // rule → its title, "" when its signals' titles differ
	byEntity := map[string]string{}
	for i := range signals {
		s := &signals[i]
		k := s.DetectorID + "/" + s.RuleID
		if t, ok := titles[k]; !ok {
			titles[k] = s.Title
		} else if t != s.Title {
			titles[k] = ""
		}
		for _, e := range s.Entities {
			ek := k + "\x00" + string(e.Kind) + ":" + strings.ToLower(e.Value)
			if byEntity[ek] == "" {
				byEntity[ek] = s.Title
			}
		}
	}
	title := func(rule string, e detect.Entity) string {
		if t := byEntity[rule+"\x00"+string(e.Kind)+":"+strings.ToLower(e.Value)]; t != "" {
			return t
		}
		return titles[rule]
	}
	out := make([]EntityRiskOut, 0, len(bds))
	for _, b := range bds {
		e := EntityRiskOut{Entity: b.Entity, Score: b.Score, Base: b.Base, At: b.At, Rules: make([]RulePointsOut, 0, len(b.Items))}
		for _, m := range b.Modifiers {
			e.Modifiers = append(e.Modifiers, ModifierOut{Name: m.Name, Factor: m.Factor})
		}
		for _, it := range b.Items {
			e.Rules = append(e.Rules, RulePointsOut{Rule: it.RuleID, Title: title(it.RuleID, b.Entity), Tactic: it.Tactic, Severity: it.Severity, Signals: it.Count,
				First: it.First, Last: it.Last, Value: it.Value, Weight: it.Weight, Points: it.Points})
		}
		out = append(out, e)
	}
	return out
}

// entityRiskTable lists the riskiest entities with what made each risky.
func entityRiskTable(w io.Writer, ents []EntityRiskOut) error {
	if len(ents) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RISK\tENTITY\tRULES\tBECAUSE")
	for _, e := range ents {
		var parts []string
		for i, r := range e.Rules {
			if i == 3 {
				parts = append(parts, fmt.Sprintf("and %d more", len(e.Rules)-3))
				break
			}
			name := r.Title
			if name == "" {
				name = r.Rule
			}
			parts = append(parts, fmt.Sprintf("%s %.1f", name, r.Points))
		}
		for _, m := range e.Modifiers {
			parts = append(parts, fmt.Sprintf("x%.1f %s", m.Factor, m.Name))
		}
		fmt.Fprintf(tw, "%.0f\t%s:%s\t%d\t%s\n", e.Score, e.Entity.Kind, oneLine(e.Entity.Value, 50), len(e.Rules), oneLine(strings.Join(parts, "; "), 120))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	_, err := fmt.Fprintln(w)
	return err
}
