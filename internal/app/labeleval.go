package app

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/eval"
	"github.com/vigilsec/vigil/internal/feedback"
	"github.com/vigilsec/vigil/internal/store"
)

// labelRun is the feedback experiment's outcome: an analyst labels a fraction of
// the reported incidents from the ground truth, the verdicts are applied, and the
// incidents are built again from the same signals.
type labelRun struct {
	Fraction   float64 `json:"fraction"`
	Seed       uint64  `json:"seed"`
	Strategy   string  `json:"strategy"`
	MinRisk    float64 `json:"min_risk"`
	Signals    int     `json:"signals"`
	Reported   int     `json:"reported_before"` // incidents of at least MinRisk, without verdicts
	After      int     `json:"reported_after"`
	Labelled   int     `json:"labelled"`
	LabelledTP int     `json:"labelled_true_positive"`
	LabelledB  int     `json:"labelled_benign"`
	LabelledFP int     `json:"labelled_false_positive"`
	Suppressed int     `json:"signals_suppressed"`
	Rules      int     `json:"rules_with_precision"`
	// False-positive incidents (matching no campaign) among those sharing no
	// signal with a labelled incident, before and after the verdicts.
	RestFPBefore int        `json:"rest_false_positives_before"`
	RestFPAfter  int        `json:"rest_false_positives_after"`
	FPCut        float64    `json:"false_positive_cut"` // 1 - after/before
	RecallBefore eval.Ratio `json:"campaign_recall_before"`
	RecallAfter  eval.Ratio `json:"campaign_recall_after"`
}

// labelOptions configures the experiment.
type labelOptions struct {
	fraction float64
	seed     uint64
	strategy string // "random" or "clusters"
	minRisk  float64
	slack    time.Duration
	corr     correlate.Options
}

// correlateAll builds every incident of signals (sorted by time) and keeps those
// of at least minRisk.
func correlateAll(signals []detect.Signal, minRisk float64, opts correlate.Options) []correlate.Incident {
	c := correlate.New(opts)
	for _, s := range signals {
		c.Add(s)
	}
	all, _ := c.Updated()
	var out []correlate.Incident
	for _, inc := range all {
		if inc.Risk >= minRisk {
			out = append(out, inc)
		}
	}
	return out
}

// score matches incidents against the truth.
func score(truth *eval.Truth, slack time.Duration, signals []detect.Signal, incs []correlate.Incident) *eval.Report {
	sc := eval.NewScorer(truth, slack)
	for i := range signals {
		sc.AddSignal(&signals[i])
	}
	for _, inc := range incs {
		sc.AddIncident(&eval.Incident{ID: inc.ID, Start: inc.FirstSeen, End: inc.LastSeen, Entities: inc.Entities, SignalIDs: inc.SignalIDs})
	}
	return sc.Report()
}

// labelExperiment labels a seeded random fraction of the reported incidents as
// an analyst would (a campaign's: true positive; benign episodes only: benign
// true positive; nothing: false positive; the last two scoped to the incident's
// rules on its entities), applies the verdicts (suppression, rule precision),
// correlates the same signals again, and counts the false-positive incidents on
// the rest (incidents sharing no signal with a labelled one) and campaign recall,
// before and after.
func labelExperiment(signals []detect.Signal, truth *eval.Truth, o labelOptions) (labelRun, error) {
	res := labelRun{Fraction: o.fraction, Seed: o.seed, Strategy: o.strategy, Signals: len(signals)}
	res.MinRisk = o.minRisk
	before := correlateAll(signals, o.minRisk, o.corr)
	rep0 := score(truth, o.slack, signals, before)
	res.Reported, res.RecallBefore = len(before), rep0.CampaignRecall
	if len(before) == 0 {
		return res, fmt.Errorf("no incident of risk %.1f or more to label", o.minRisk)
	}
	match := map[string]eval.IncidentMatch{}
	for _, m := range rep0.Matches {
		match[m.ID] = m
	}
	// Choose the labelled incidents.
	order := make([]int, len(before))
	for i := range order {
		order[i] = i
	}
	rand.New(rand.NewPCG(o.seed, 0x5eed)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] }) //nolint:gosec // G404: a reproducible sample, not security randomness
	k := max(1, int(math.Round(o.fraction*float64(len(before)))))
	byID := make(map[string]*detect.Signal, len(signals))
	for i := range signals {
		byID[signals[i].ID] = &signals[i]
	}
	if o.strategy == "clusters" {
		order = clusterOrder(before, order, byID)
	}
	labelled := map[string]bool{}
	labelledSignals := map[string]bool{}
	book := feedback.New(feedback.Prior{})
	incByID := make(map[string]correlate.Incident, len(before))
	for _, inc := range before {
		incByID[inc.ID] = inc
	}
	look := feedback.Lookup{Incident: func(id string) ([]detect.Signal, bool) {
		inc, ok := incByID[id]
		if !ok {
			return nil, false
		}
		return incidentSignals(inc, func(sid string) (detect.Signal, bool) {
			if s := byID[sid]; s != nil {
				return *s, true
			}
			return detect.Signal{}, false
		}), true
	}}
	for _, i := range order[:k] {
		inc := before[i]
		labelled[inc.ID] = true
		for _, sid := range inc.SignalIDs {
			labelledSignals[sid] = true
		}
		m := match[inc.ID]
		fb := store.Feedback{ID: "label-" + inc.ID, TargetKind: store.TargetIncident, TargetID: inc.ID, Author: "eval", Created: inc.LastSeen}
		switch {
		case len(m.Campaigns) > 0:
			fb.Verdict = store.VerdictTruePositive
			res.LabelledTP++
		case m.Benign:
			fb.Verdict, fb.Scope = store.VerdictBenignTruePositive, analystScope(inc, byID)
			res.LabelledB++
		default:
			fb.Verdict, fb.Scope = store.VerdictFalsePositive, analystScope(inc, byID)
			res.LabelledFP++
		}
		if err := book.Add(fb, look); err != nil {
			return res, fmt.Errorf("labelling %s: %w", inc.ID, err)
		}
	}
	res.Labelled = k
	res.Rules = len(book.Posteriors())

	kept := make([]detect.Signal, 0, len(signals))
	for i := range signals {
		if _, ok := book.Suppressed(&signals[i]); ok {
			res.Suppressed++
			continue
		}
		kept = append(kept, signals[i])
	}
	opts := o.corr
	opts.Precision = book.Precision
	after := correlateAll(kept, o.minRisk, opts)
	rep1 := score(truth, o.slack, kept, after)
	res.After, res.RecallAfter = len(after), rep1.CampaignRecall
	match1 := map[string]eval.IncidentMatch{}
	for _, m := range rep1.Matches {
		match1[m.ID] = m
	}
	for _, inc := range before {
		if !labelled[inc.ID] && len(match[inc.ID].Campaigns) == 0 {
			res.RestFPBefore++
		}
	}
	for _, inc := range after {
		if slices.ContainsFunc(inc.SignalIDs, func(id string) bool { return labelledSignals[id] }) {
			continue
		}
		if len(match1[inc.ID].Campaigns) == 0 {
			res.RestFPAfter++
		}
	}
	if res.RestFPBefore > 0 {
		res.FPCut = 1 - float64(res.RestFPAfter)/float64(res.RestFPBefore)
	}
	return res, nil
}

// analystScope is the scope an analyst gives a benign or false incident: the
// benign thing itself when the signals name one (a program, a domain, an
// application: "the new agent is fine anywhere"), the most frequent of them;
// else the incident's own users and hosts.
func analystScope(inc correlate.Incident, byID map[string]*detect.Signal) string {
	count := map[detect.Entity]int{}
	var best detect.Entity
	for _, sid := range inc.SignalIDs {
		s := byID[sid]
		if s == nil {
			continue
		}
		for _, e := range s.Entities {
			switch e.Kind {
			case detect.EntityUser, detect.EntityHost, detect.EntityIP, detect.EntityPrincipal, detect.EntityWorkload:
				continue
			}
			count[e]++
			if c := count[e]; c > count[best] || (c == count[best] && (e.Kind < best.Kind || (e.Kind == best.Kind && e.Value < best.Value))) {
				best = e
			}
		}
	}
	if best.Kind == "" {
		return "entity"
	}
	return "value:" + string(best.Kind) + ":" + best.Value
}

// clusterOrder puts one incident of each cluster first, the largest clusters
// first (DeepCASE's idea: label a representative of each recurring pattern
// rather than a random sample). A cluster is the set of rules an incident's
// signals came from. Within a cluster and between equal sizes, the random order
// decides.
func clusterOrder(incs []correlate.Incident, random []int, byID map[string]*detect.Signal) []int {
	key := make([]string, len(incs))
	size := map[string]int{}
	for i, inc := range incs {
		var rules []string
		for _, sid := range inc.SignalIDs {
			if s := byID[sid]; s != nil {
				if r := feedback.RuleKey(s.DetectorID, s.RuleID); !slices.Contains(rules, r) {
					rules = append(rules, r)
				}
			}
		}
		slices.Sort(rules)
		key[i] = strings.Join(rules, "\x00")
		size[key[i]]++
	}
	rank := make(map[int]int, len(random))
	for pos, i := range random {
		rank[i] = pos
	}
	var reps, rest []int
	taken := map[string]bool{}
	for _, i := range random {
		if !taken[key[i]] {
			taken[key[i]] = true
			reps = append(reps, i)
		} else {
			rest = append(rest, i)
		}
	}
	slices.SortStableFunc(reps, func(a, b int) int {
		return cmp.Or(cmp.Compare(size[key[b]], size[key[a]]), cmp.Compare(rank[a], rank[b]))
	})
	return append(reps, rest...)
}

func writeLabelRun(w io.Writer, r labelRun, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Incidents reported (risk >= %.0f), before verdicts\t%d\n", r.MinRisk, r.Reported)
	fmt.Fprintf(tw, "Labelled (%.0f%%, %s, seed %d)\t%d: %d true positive, %d benign, %d false positive\n",
		100*r.Fraction, r.Strategy, r.Seed, r.Labelled, r.LabelledTP, r.LabelledB, r.LabelledFP)
	fmt.Fprintf(tw, "Signals suppressed by the verdicts\t%d of %d\n", r.Suppressed, r.Signals)
	fmt.Fprintf(tw, "Rules with a precision estimate\t%d\n", r.Rules)
	fmt.Fprintf(tw, "False-positive incidents on the rest\t%d before, %d after (cut %.0f%%)\n", r.RestFPBefore, r.RestFPAfter, 100*r.FPCut)
	fmt.Fprintf(tw, "Incidents reported after\t%d\n", r.After)
	fmt.Fprintf(tw, "Campaign recall\t%s before, %s after\n", r.RecallBefore, r.RecallAfter)
	return tw.Flush()
}
