package sigmapeer

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/internal/detect/sigma"
)

var writeReport = flag.Bool("report", false, "write DISAGREEMENTS.md from this run")

// Directions of a disagreement.
const (
	vigilOnly = "vigil-only" // Vigil fires, sigma-go does not
	peerOnly  = "peer-only"  // sigma-go fires, Vigil does not
)

// Modes of the comparison: sigma-go as released, and with the shim (shim_test.go).
const (
	modeRaw  = "raw"
	modeShim = "shim"
)

// disagreement is every event on which the engines disagree about one rule in one
// direction and one mode.
type disagreement struct {
	rule      string
	direction string
	mode      string
	events    []*sample
	routes    []route // the sigma-go route of each event (zero: none reached the rule)
	// eventErrs are sigma-go's errors on each event, every search evaluated on its
	// own (a rule stops at its first failing search, in map order), and peerErrs
	// counts them by message.
	eventErrs [][]string
	peerErrs  map[string]int
}

func keyOf(rule, direction, mode string) string { return rule + " " + direction + " " + mode }

// diffResult is one differential run.
type diffResult struct {
	events      int
	evaluations int // (event, rule variant) pairs routed to sigma-go for the common rules
	vigilFires  int // (event, rule) fires, common rules
	peerFires   int
	agreeFires  int
	shimFires   int
	byKey       map[string]*disagreement
	// Known answers: regression files firing their recorded rule, per engine, over
	// the files whose rules both engines load.
	regFiles, regVigil, regPeer, regShim int
}

// runDiff evaluates every common rule on every event with both engines, sigma-go
// with and without the shim.
func runDiff(r *rules, c *corpus) *diffResult {
	res := &diffResult{byKey: map[string]*disagreement{}}
	common := map[string]bool{}
	for _, id := range r.both {
		common[id] = true
	}
	rt := newRouter(peersOf(r, r.both))
	m := r.vigil.NewMatcher()
	ctx := context.Background()
	note := func(s *sample, rule, dir, mode string, x route) {
		k := keyOf(rule, dir, mode)
		d := res.byKey[k]
		if d == nil {
			d = &disagreement{rule: rule, direction: dir, mode: mode, peerErrs: map[string]int{}}
			res.byKey[k] = d
		}
		d.events = append(d.events, s)
		d.routes = append(d.routes, x)
	}
	compare := func(s *sample, vigil, peer map[string]bool, routed map[string]route, mode string) {
		for id := range vigil {
			if !peer[id] {
				note(s, id, vigilOnly, mode, routed[id])
			}
		}
		for id := range peer {
			if !vigil[id] {
				note(s, id, peerOnly, mode, routed[id])
			}
		}
	}
	for _, s := range append(append([]*sample(nil), c.attack...), c.regression...) {
		res.events++
		vigil := map[string]bool{}
		m.Match(s.e, func(h *sigma.Hit) {
			if common[h.Rule.ID] {
				vigil[h.Rule.ID] = true
			}
		})
		peer, shim := map[string]bool{}, map[string]bool{}
		routed := map[string]route{}
		rt.routes(s.e, func(x route) {
			res.evaluations++
			if _, seen := routed[x.rule.id]; !seen || !peer[x.rule.id] {
				routed[x.rule.id] = x
			}
			fired, err := peerMatch(ctx, x, s)
			if fired {
				peer[x.rule.id] = true
			}
			if fired, _ = shimMatch(ctx, x, s, fired, err); fired {
				shim[x.rule.id] = true
			}
		})
		res.vigilFires += len(vigil)
		res.peerFires += len(peer)
		res.shimFires += len(shim)
		for id := range vigil {
			if peer[id] {
				res.agreeFires++
			}
		}
		compare(s, vigil, peer, routed, modeRaw)
		compare(s, vigil, shim, routed, modeShim)
	}
	for _, d := range res.byKey {
		for i, s := range d.events {
			errs := allPeerErrors(ctx, d.routes[i], s)
			d.eventErrs = append(d.eventErrs, errs)
			for _, e := range errs {
				d.peerErrs[e]++
			}
		}
	}
	res.regFiles, res.regVigil, res.regPeer, res.regShim = regressionAnswers(r, c)
	return res
}

// regressionAnswers counts the regression files whose recorded rules both engines
// load, and how many of them each engine fires the rules on (any event of the file).
func regressionAnswers(r *rules, c *corpus) (files, vigil, peer, shim int) {
	byFile := map[string][]*sample{}
	for _, s := range c.regression {
		byFile[s.file] = append(byFile[s.file], s)
	}
	m := r.vigil.NewMatcher()
	ctx := context.Background()
	for f, ids := range c.regressionRules {
		ok := len(ids) > 0
		for _, id := range ids {
			if _, v := r.vigilIDs[id]; !v || r.peerByID[id] == nil || r.peerByID[id].entry == nil {
				ok = false
			}
		}
		if !ok || len(byFile[f]) == 0 {
			continue
		}
		files++
		vf, pf, sf := map[string]bool{}, map[string]bool{}, map[string]bool{}
		rt := newRouter(peersOf(r, ids))
		for _, s := range byFile[f] {
			m.Match(s.e, func(h *sigma.Hit) { vf[h.Rule.ID] = true })
			rt.routes(s.e, func(x route) {
				fired, err := peerMatch(ctx, x, s)
				if fired {
					pf[x.rule.id] = true
				}
				if fired, _ := shimMatch(ctx, x, s, fired, err); fired {
					sf[x.rule.id] = true
				}
			})
		}
		if allIn(ids, vf) {
			vigil++
		}
		if allIn(ids, pf) {
			peer++
		}
		if allIn(ids, sf) {
			shim++
		}
	}
	return files, vigil, peer, shim
}

func peersOf(r *rules, ids []string) []*peerRule {
	var out []*peerRule
	for _, id := range ids {
		out = append(out, r.peerByID[id])
	}
	return out
}

func allIn(ids []string, set map[string]bool) bool {
	for _, id := range ids {
		if !set[id] {
			return false
		}
	}
	return true
}

// explained is explained.yaml: the disagreements that have been looked at, grouped
// by cause, each with who is right and why.
type explained struct {
	Groups []*group `yaml:"groups"`
}

type group struct {
	Cause string `yaml:"cause"`
	// Verdict: "vigil" (Vigil follows the specification, sigma-go does not),
	// "peer" (sigma-go is right: a Vigil bug, reported to the lead), "neither"
	// (both defensible; a data or mapping question).
	Verdict     string `yaml:"verdict"`
	Title       string `yaml:"title"`
	Explanation string `yaml:"explanation"`
	// Checks say how the test verifies the explanation: "shim" (with the shim,
	// sigma-go agrees with Vigil on every event of every listed disagreement),
	// "peer-error" (sigma-go failed with PeerError on every such event); none: the
	// explanation is asserted, and the report shows the evidence.
	Checks    []string     `yaml:"checks"`
	PeerError string       `yaml:"peer_error"`
	Rules     []*groupRule `yaml:"rules"`
}

type groupRule struct {
	ID        string `yaml:"id"`
	Direction string `yaml:"direction"`
	// Mode is "raw" (default: sigma-go as released) or "shim" (a disagreement that
	// appears only with the shim).
	Mode string `yaml:"mode"`
	Note string `yaml:"note"`
}

func (gr *groupRule) key() string { return keyOf(gr.ID, gr.Direction, gr.Mode) }

func loadExplained(t *testing.T) *explained {
	t.Helper()
	data, err := os.ReadFile("explained.yaml")
	if err != nil {
		t.Fatalf("reading explained.yaml: %v", err)
	}
	var x explained
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&x); err != nil {
		t.Fatalf("parsing explained.yaml: %v", err)
	}
	seen := map[string]string{}
	for _, g := range x.Groups {
		switch g.Verdict {
		case "vigil", "peer", "neither":
		default:
			t.Fatalf("explained.yaml: group %q: verdict %q is not vigil, peer or neither", g.Cause, g.Verdict)
		}
		for _, c := range g.Checks {
			if c != "shim" && c != "peer-error" {
				t.Fatalf("explained.yaml: group %q: check %q is not shim or peer-error", g.Cause, c)
			}
		}
		if slices.Contains(g.Checks, "peer-error") != (g.PeerError != "") {
			t.Fatalf("explained.yaml: group %q: the peer-error check goes with peer_error, and only with it", g.Cause)
		}
		if g.Cause == "" || g.Title == "" || strings.TrimSpace(g.Explanation) == "" {
			t.Fatalf("explained.yaml: group %q needs a cause, a title and an explanation", g.Cause)
		}
		for _, gr := range g.Rules {
			if gr.Direction != vigilOnly && gr.Direction != peerOnly {
				t.Fatalf("explained.yaml: %s: direction %q is not %s or %s", gr.ID, gr.Direction, vigilOnly, peerOnly)
			}
			if gr.Mode == "" {
				gr.Mode = modeRaw
			}
			if gr.Mode != modeRaw && gr.Mode != modeShim {
				t.Fatalf("explained.yaml: %s: mode %q is not %s or %s", gr.ID, gr.Mode, modeRaw, modeShim)
			}
			if gr.Mode == modeShim && len(g.Checks) > 0 {
				t.Fatalf("explained.yaml: %s: a shim-only disagreement cannot be checked by %v", gr.ID, g.Checks)
			}
			if prev, dup := seen[gr.key()]; dup {
				t.Fatalf("explained.yaml: %s listed in groups %q and %q", gr.key(), prev, g.Cause)
			}
			seen[gr.key()] = g.Cause
		}
	}
	return &x
}

// needsEntry reports whether a disagreement must be listed in explained.yaml: every
// raw one, and the shim ones that sigma-go as released does not already show.
func needsEntry(res *diffResult, d *disagreement) bool {
	return d.mode == modeRaw || res.byKey[keyOf(d.rule, d.direction, modeRaw)] == nil
}

// TestDifferential runs both engines over the regression and attack-sample events
// with every SigmaHQ Windows rule both load, and fails on a disagreement that
// explained.yaml does not explain, on an explained one that no longer occurs, and
// on an explanation whose check does not hold.
func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("the differential takes about 30 s; skipped with -short")
	}
	r := loadRules(t)
	c := loadCorpus(t)
	x := loadExplained(t)
	res := runDiff(r, c)
	t.Logf("rules: Vigil compiles %d Windows rules, sigma-go parses %d, both %d", r.vigil.Loaded, len(r.peer), len(r.both))
	t.Logf("events %d, sigma-go evaluations %d, fires: Vigil %d, sigma-go %d (with shim %d), both %d",
		res.events, res.evaluations, res.vigilFires, res.peerFires, res.shimFires, res.agreeFires)
	t.Logf("regression files firing their rule (files whose rules both load): Vigil %d/%d, sigma-go %d/%d (with shim %d)",
		res.regVigil, res.regFiles, res.regPeer, res.regFiles, res.regShim)
	for _, p := range checkExplained(r, res, x) {
		t.Error(p)
	}
	if *writeReport {
		if err := os.WriteFile("DISAGREEMENTS.md", report(r, c, res, x), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkExplained returns the problems: unexplained disagreements, stale entries,
// failed checks.
func checkExplained(r *rules, res *diffResult, x *explained) []string {
	var problems []string
	listed := map[string]*group{}
	for _, g := range x.Groups {
		for _, gr := range g.Rules {
			listed[gr.key()] = g
		}
	}
	for _, k := range sortedKeys(res.byKey) {
		d := res.byKey[k]
		if needsEntry(res, d) && listed[k] == nil {
			problems = append(problems, fmt.Sprintf("unexplained disagreement: rule %s (%s), %s (%s) on %d events, sigma-go errors %v, e.g. %s",
				d.rule, title(r, d.rule), d.direction, d.mode, len(d.events), d.peerErrs, describe(r, d.rule, d.events[0])))
		}
	}
	for _, g := range x.Groups {
		for _, gr := range g.Rules {
			d := res.byKey[gr.key()]
			if d == nil {
				problems = append(problems, fmt.Sprintf("explained.yaml: %s (group %q) no longer disagrees: remove it", gr.key(), g.Cause))
				continue
			}
			if slices.Contains(g.Checks, "peer-error") {
				n := 0
				for _, errs := range d.eventErrs {
					if slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, g.PeerError) }) {
						n++
					}
				}
				if n != len(d.events) {
					problems = append(problems, fmt.Sprintf("%s: group %q says sigma-go fails with %q, but it did on %d of %d events (errors %v)",
						gr.key(), g.Cause, g.PeerError, n, len(d.events), d.peerErrs))
				}
			}
			if slices.Contains(g.Checks, "shim") {
				if sd := res.byKey[keyOf(gr.ID, gr.Direction, modeShim)]; sd != nil {
					problems = append(problems, fmt.Sprintf("%s: group %q says the shim explains it, but with the shim sigma-go still disagrees on %d of %d events, e.g. %s",
						gr.key(), g.Cause, len(sd.events), len(d.events), describe(r, gr.ID, sd.events[0])))
				}
			}
		}
	}
	return problems
}

func sortedKeys(m map[string]*disagreement) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func title(r *rules, id string) string {
	if pr := r.peerByID[id]; pr != nil {
		return pr.rule.Title
	}
	return "?"
}

// describe names an event and shows the values of the fields the rule reads.
func describe(r *rules, id string, s *sample) string {
	ch, _ := chanAcc.String(s.e)
	eid, _ := eidAcc.String(s.e)
	var b strings.Builder
	fmt.Fprintf(&b, "%s #%d (%s/%s)", s.file, s.idx, ch, eid)
	if s.repeated {
		b.WriteString(" [repeated field names]")
	}
	pr := r.peerByID[id]
	if pr == nil {
		return b.String()
	}
	fields := ruleFields(pr.rule)
	for _, se := range pr.rule.Detection.Searches {
		for _, em := range se.EventMatchers {
			for _, fm := range em {
				if slices.Contains(fm.Modifiers, "fieldref") {
					for _, v := range fm.Values {
						if f := fmt.Sprint(v); !slices.Contains(fields, f) {
							fields = append(fields, f)
						}
					}
				}
			}
		}
	}
	for _, f := range fields {
		v, ok := s.peer[f]
		if !ok {
			fmt.Fprintf(&b, " %s=<absent>", f)
			continue
		}
		fmt.Fprintf(&b, " %s=\"%s\"", f, clip(fmt.Sprint(v), 160))
	}
	return b.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
