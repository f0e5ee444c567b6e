// Package sigmapeer compares Vigil's Sigma engine with the peer the issue names,
// github.com/bradleyjkemp/sigma-go v0.6.6, on the same rules and the same events:
// a side-by-side benchmark (bench_test.go) and a differential test
// (diff_test.go, report in DISAGREEMENTS.md). It lives in the bench module so the
// peer never becomes a dependency of Vigil itself; its import path is under
// github.com/vigilsec/vigil, so Go's internal rule lets it import Vigil's internal
// packages (the bench module replaces github.com/vigilsec/vigil with ../).
//
//	cd bench && go test -run '^$' -bench . -benchmem -cpu 1 ./sigmapeer/
//	cd bench && go test -run Differential -v ./sigmapeer/
package sigmapeer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	sigmago "github.com/bradleyjkemp/sigma-go"
	"github.com/bradleyjkemp/sigma-go/evaluator"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/evtx"
	"github.com/vigilsec/vigil/internal/detect/sigma"
	"github.com/vigilsec/vigil/internal/event"
)

// ruleDirs are the SigmaHQ rule directories Vigil's own benchmark and regression
// test load (internal/detect/sigma).
var ruleDirs = []string{"rules", "rules-emerging-threats", "rules-threat-hunting", "rules-compliance"}

// corpora returns ../shared/corpora/<rel> seen from the main module's root (two
// levels above this package), skipping the test when it is absent, or failing it
// when VIGIL_REQUIRE_CORPORA=1.
func corpora(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join("..", "..", "..", "shared", "corpora", rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			tb.Fatalf("corpus %s required (VIGIL_REQUIRE_CORPORA=1) but absent: %v", p, err)
		}
		tb.Skipf("corpus %s absent; skipping (set VIGIL_REQUIRE_CORPORA=1 to fail instead)", p)
	}
	return p
}

// peerRule is one rule as sigma-go loaded it, with its evaluators: one without
// configuration (what sigma-go does by default: every rule on every event) and one
// per logsource variant of Vigil's mapping, carrying that variant's field renames
// as a sigma-go field mapping.
type peerRule struct {
	id    string
	path  string
	rule  sigmago.Rule
	plain *evaluator.RuleEvaluator
	// entry is Vigil's mapping entry for the rule's logsource (nil: unrouted).
	entry    *sigma.LogSourceMap
	variants []*evaluator.RuleEvaluator // by variant of entry
	// shims are the variants' evaluators of the shimmed rule (shim_test.go); nil
	// when the shim changes nothing.
	shims []*evaluator.RuleEvaluator
	// fieldref: the rule compares fields with each other, so its shim is made per
	// event.
	fieldref bool
}

// rules holds both engines' view of the SigmaHQ Windows rules.
type rules struct {
	// windowsFiles counts rule files whose first document has logsource product windows
	// by either engine's reading.
	vigil        *sigma.Ruleset
	vigilIDs     map[string]*sigma.Rule // compiled (loaded, routed, not rejected)
	vigilLoadErr int                    // windows rules Vigil rejected at compile time or could not route
	vigilWhy     map[string]string      // rule file -> why Vigil does not compile a rule in it
	peer         []*peerRule            // every Windows rule sigma-go parses
	peerByID     map[string]*peerRule
	peerParseErr map[string]error // path -> sigma-go parse error, Windows rules only
	both         []string         // ids both engines load, sorted
	mapping      *sigma.Mapping
}

var (
	rulesOnce sync.Once
	rulesVal  *rules
	rulesErr  error
)

// loadRules loads the SigmaHQ Windows rules into both engines, once per test binary.
func loadRules(tb testing.TB) *rules {
	tb.Helper()
	var dirs []string
	for _, d := range ruleDirs {
		dirs = append(dirs, corpora(tb, filepath.Join("sigma", d)))
	}
	rulesOnce.Do(func() { rulesVal, rulesErr = buildRules(dirs) })
	if rulesErr != nil {
		tb.Fatal(rulesErr)
	}
	return rulesVal
}

func buildRules(dirs []string) (*rules, error) {
	r := &rules{mapping: sigma.DefaultMapping(), peerByID: map[string]*peerRule{}, peerParseErr: map[string]error{}}

	// Vigil: every rule of product windows, compiled with the default mapping.
	c, err := sigma.Load(dirs...)
	if err != nil {
		return nil, fmt.Errorf("vigil: loading rules: %w", err)
	}
	win := c.Rules[:0]
	for _, x := range c.Rules {
		if x.LogSource.Product == "windows" {
			win = append(win, x)
		}
	}
	c.Rules, c.Correlations = win, nil
	if r.vigil, err = sigma.Compile(c, sigma.Options{Mapping: r.mapping}); err != nil {
		return nil, fmt.Errorf("vigil: compiling rules: %w", err)
	}
	out := map[string]bool{}
	r.vigilWhy = map[string]string{}
	for _, e := range c.Rejected {
		r.vigilWhy[e.Source.Path] = "rejected at load (" + e.Reason + "): " + e.Err.Error()
	}
	for _, e := range r.vigil.Rejected {
		out[e.Source.String()] = true
		r.vigilWhy[e.Source.Path] = "rejected at compile (" + e.Reason + "): " + e.Err.Error()
	}
	for _, x := range r.vigil.Unrouted {
		out[x.Source.String()] = true
		r.vigilWhy[x.Source.Path] = "no mapping for logsource " + x.LogSource.String()
	}
	r.vigilLoadErr = len(out)
	r.vigilIDs = map[string]*sigma.Rule{}
	for _, x := range win {
		if !out[x.Source.String()] {
			r.vigilIDs[x.ID] = x
		}
	}

	// sigma-go: every rule file it parses whose logsource has product windows.
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() || (filepath.Ext(p) != ".yml" && filepath.Ext(p) != ".yaml") {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("reading %s: %w", p, err)
			}
			rule, perr := parsePeer(data)
			if perr != nil {
				if strings.Contains(string(data), "product: windows") {
					r.peerParseErr[p] = perr
				}
				return nil
			}
			if rule.Logsource.Product != "windows" {
				return nil
			}
			pr := &peerRule{id: rule.ID, path: p, rule: rule, plain: evaluator.ForRule(rule)}
			pr.entry = r.mapping.For(sigma.LogSource{Category: rule.Logsource.Category,
				Product: rule.Logsource.Product, Service: rule.Logsource.Service})
			if pr.entry != nil {
				for i, v := range pr.entry.Variants {
					pr.variants = append(pr.variants, evaluator.ForRule(rule, evaluator.WithConfig(peerConfig(rule, v))))
					ev, fieldref := shimEvaluator(pr, i)
					pr.shims, pr.fieldref = append(pr.shims, ev), fieldref
				}
			}
			r.peer = append(r.peer, pr)
			if _, dup := r.peerByID[rule.ID]; !dup {
				r.peerByID[rule.ID] = pr
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("sigma-go: loading rules: %w", err)
		}
	}
	for id := range r.vigilIDs {
		if pr := r.peerByID[id]; pr != nil && pr.entry != nil {
			r.both = append(r.both, id)
		}
	}
	sort.Strings(r.both)
	return r, nil
}

// parsePeer parses a rule with sigma-go, turning its panics into errors (it is the
// peer's parser; a panic there must not stop the comparison).
func parsePeer(data []byte) (rule sigmago.Rule, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sigma-go panicked: %v", p)
		}
	}()
	rule, err = sigmago.ParseRule(data)
	if err == nil && rule.Detection.Conditions == nil {
		err = errors.New("no condition")
	}
	return rule, err
}

// peerConfig is a sigma-go configuration for one variant of Vigil's mapping: every
// field the rule reads maps to the variant's event field (itself unless the variant
// renames it, e.g. Image -> NewProcessName for Security 4688 events). Mapping a
// field, even to itself, is what makes sigma-go read a list value element by
// element (GetFieldValuesFromEvent); unmapped, it compares the list as one string.
func peerConfig(rule sigmago.Rule, v sigma.Variant) sigmago.Config {
	cfg := sigmago.Config{Title: "vigil variant", FieldMappings: map[string]sigmago.FieldMapping{}}
	for _, f := range ruleFields(rule) {
		to, ok := v.Fields[f]
		if !ok {
			to = f
		}
		cfg.FieldMappings[f] = sigmago.FieldMapping{TargetNames: []string{to}}
	}
	return cfg
}

// ruleFields lists the field names a rule's searches read, sorted.
func ruleFields(rule sigmago.Rule) []string {
	seen := map[string]bool{}
	var out []string
	for _, se := range rule.Detection.Searches {
		for _, em := range se.EventMatchers {
			for _, fm := range em {
				if !seen[fm.Field] {
					seen[fm.Field] = true
					out = append(out, fm.Field)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// sample is one decoded event with where it came from and sigma-go's view of it.
type sample struct {
	e    *event.Event
	file string // corpus-relative path
	idx  int    // position in the file
	// peer is the event as sigma-go reads it: the raw fields by name, a string each,
	// or a []any of strings for a name that repeats (unnamed EventData Data
	// elements), as decoding evtx_dump JSON would give it.
	peer     map[string]any
	repeated bool
	// shimPeer is peer with, for each field name holding spaces, the name with the
	// spaces stripped (the specification's rule for Sigma field names, "Field
	// Usage"); the shim evaluates on it. It is peer when no name has a space.
	shimPeer map[string]any
}

type corpus struct {
	attack     []*sample // evtx-attack-samples
	regression []*sample // SigmaHQ regression_data .evtx
	// regressionRules maps a regression file (corpus-relative) to the rule ids it
	// must fire.
	regressionRules map[string][]string
}

var (
	corpusOnce sync.Once
	corpusVal  *corpus
	corpusErr  error
)

// loadCorpus decodes the EVTX attack samples and the SigmaHQ regression .evtx files,
// once per test binary.
func loadCorpus(tb testing.TB) *corpus {
	tb.Helper()
	attack := corpora(tb, "evtx-attack-samples")
	regression := corpora(tb, filepath.Join("sigma", "regression_data"))
	corpusOnce.Do(func() { corpusVal, corpusErr = buildCorpus(tb, attack, regression) })
	if corpusErr != nil {
		tb.Fatal(corpusErr)
	}
	return corpusVal
}

func buildCorpus(tb testing.TB, attack, regression string) (*corpus, error) {
	c := &corpus{regressionRules: map[string][]string{}}
	var err error
	if c.attack, err = decodeTree(tb, attack, "evtx-attack-samples"); err != nil {
		return nil, err
	}
	if c.regression, err = decodeTree(tb, regression, "regression_data"); err != nil {
		return nil, err
	}
	err = filepath.WalkDir(regression, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || de.Name() != "info.yml" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		ids := ruleIDsOf(string(data))
		files, _ := filepath.Glob(filepath.Join(filepath.Dir(p), "*.evtx"))
		for _, f := range files {
			rel, _ := filepath.Rel(regression, f)
			c.regressionRules[filepath.ToSlash(filepath.Join("regression_data", rel))] = ids
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading regression info: %w", err)
	}
	return c, nil
}

// ruleIDsOf extracts the rule ids of an info.yml's rule_metadata ("- id: <uuid>"
// lines), without a YAML parser: the files are generated and regular.
func ruleIDsOf(info string) []string {
	var ids []string
	in := false
	for _, line := range strings.Split(info, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "rule_metadata:"):
			in = true
		case in && len(line) > 0 && line[0] != ' ' && line[0] != '-':
			in = false
		case in && (strings.HasPrefix(t, "- id:") || strings.HasPrefix(t, "id:")):
			id := strings.TrimSpace(t[strings.Index(t, "id:")+3:])
			ids = append(ids, strings.Trim(id, `'"`))
		}
	}
	return ids
}

func decodeTree(tb testing.TB, root, name string) ([]*sample, error) {
	var out []*sample
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.EqualFold(filepath.Ext(p), ".evtx") {
			return err
		}
		s, err := decodetest.DecodeFile(tb, evtx.New(), p)
		if err != nil {
			return fmt.Errorf("decoding %s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(filepath.Join(name, rel))
		for i, e := range s.Events {
			out = append(out, newSample(e, rel, i))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", root, err)
	}
	return out, nil
}

func newSample(e *event.Event, file string, idx int) *sample {
	s := &sample{e: e, file: file, idx: idx, peer: make(map[string]any, len(e.Raw))}
	for _, f := range e.Raw {
		name := f.Key.Value()
		switch prev := s.peer[name].(type) {
		case nil:
			s.peer[name] = f.Value
		case string:
			s.peer[name], s.repeated = []any{prev, f.Value}, true
		case []any:
			s.peer[name] = append(prev, f.Value)
		}
	}
	s.shimPeer = s.peer
	for name, v := range s.peer {
		stripped := strings.ReplaceAll(name, " ", "")
		if stripped == name || s.peer[stripped] != nil {
			continue
		}
		if len(s.shimPeer) == len(s.peer) {
			s.shimPeer = maps.Clone(s.peer) // the first spaced name
		}
		s.shimPeer[stripped] = v
	}
	return s
}

// router is the Channel/EventID prefilter for sigma-go: it applies Vigil's
// logsource mapping (mapping.yaml, the same data Vigil's matcher routes by) so
// sigma-go evaluates a rule only on the events of its logsource, with the right
// variant's field mapping. sigma-go itself has no such step: without a
// configuration it applies every rule to every event.
type router struct {
	byChanEID map[string][]route
	byChan    map[string][]route
	generic   []route
}

type route struct {
	rule  *peerRule
	ev    *evaluator.RuleEvaluator
	shim  *evaluator.RuleEvaluator // nil: same as ev
	vi    int                      // the variant's index in rule.entry
	where []whereCheck             // conditions left after dispatch
}

type whereCheck struct {
	acc    event.Accessor
	values []string
}

func newRouter(rs []*peerRule) *router {
	rt := &router{byChanEID: map[string][]route{}, byChan: map[string][]route{}}
	for _, pr := range rs {
		if pr.entry == nil {
			continue
		}
		for i, v := range pr.entry.Variants {
			r := route{rule: pr, ev: pr.variants[i], shim: pr.shims[i], vi: i}
			var chans, eids []string
			for _, w := range v.Where {
				switch w.Field {
				case "Channel":
					chans = w.Values
				case "EventID":
					eids = w.Values
				default:
					r.where = append(r.where, whereCheck{acc: event.Lookup(w.Field), values: w.Values})
				}
			}
			switch {
			case chans != nil && eids != nil:
				for _, c := range chans {
					for _, e := range eids {
						k := strings.ToLower(c) + "\x00" + e
						rt.byChanEID[k] = append(rt.byChanEID[k], r)
					}
				}
			case chans != nil:
				for _, c := range chans {
					rt.byChan[strings.ToLower(c)] = append(rt.byChan[strings.ToLower(c)], r)
				}
			default:
				if eids != nil {
					r.where = append(r.where, whereCheck{acc: event.Lookup("EventID"), values: eids})
				}
				rt.generic = append(rt.generic, r)
			}
		}
	}
	return rt
}

var (
	chanAcc = event.Lookup("Channel")
	eidAcc  = event.Lookup("EventID")
)

// routes calls fn with every (rule, variant evaluator) the event belongs to.
func (rt *router) routes(e *event.Event, fn func(route)) {
	ch, _ := chanAcc.String(e)
	ch = strings.ToLower(ch)
	if ch != "" {
		if eid, ok := eidAcc.String(e); ok {
			for _, r := range rt.byChanEID[ch+"\x00"+eid] {
				if r.holds(e) {
					fn(r)
				}
			}
		}
		for _, r := range rt.byChan[ch] {
			if r.holds(e) {
				fn(r)
			}
		}
	}
	for _, r := range rt.generic {
		if r.holds(e) {
			fn(r)
		}
	}
}

func (r route) holds(e *event.Event) bool {
	for _, w := range r.where {
		ok := false
		w.acc.Each(e, func(v string) bool {
			for _, want := range w.values {
				if strings.EqualFold(v, want) {
					ok = true
					return false
				}
			}
			return true
		})
		if !ok {
			return false
		}
	}
	return true
}

// peerMatch evaluates one route with sigma-go: whether it fired, and its error.
func peerMatch(ctx context.Context, r route, s *sample) (fired bool, err error) {
	return evalPeer(ctx, r.ev, s)
}

// shimMatch evaluates one route with sigma-go and the shim, given the route's
// result without the shim (the same when the shim changes nothing).
func shimMatch(ctx context.Context, r route, s *sample, rawFired bool, rawErr error) (fired bool, err error) {
	switch {
	case r.rule.fieldref:
		v := r.rule.entry.Variants[r.vi]
		rule, _, _ := shimmed(r.rule.rule, v, s.shimPeer)
		return evalPeerOn(ctx, evaluator.ForRule(rule, evaluator.WithConfig(peerConfig(rule, v))), s.shimPeer)
	case r.shim == nil && len(s.shimPeer) == len(s.peer):
		return rawFired, rawErr
	case r.shim == nil:
		return evalPeerOn(ctx, r.ev, s.shimPeer)
	}
	return evalPeerOn(ctx, r.shim, s.shimPeer)
}

func evalPeer(ctx context.Context, ev *evaluator.RuleEvaluator, s *sample) (fired bool, err error) {
	return evalPeerOn(ctx, ev, s.peer)
}

func evalPeerOn(ctx context.Context, ev *evaluator.RuleEvaluator, event map[string]any) (fired bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			fired, err = false, fmt.Errorf("sigma-go panicked: %v", p)
		}
	}()
	res, err := ev.Matches(ctx, event)
	return err == nil && res.Match, err
}

// allPeerErrors evaluates each search of a route's rule on its own and returns
// sigma-go's errors, sorted: evaluating the rule stops at the first failing
// search, and which one that is depends on Go's map order.
func allPeerErrors(ctx context.Context, r route, s *sample) []string {
	if r.rule == nil {
		return nil
	}
	v := r.rule.entry.Variants[r.vi]
	var out []string
	for name, se := range r.rule.rule.Detection.Searches {
		sub := r.rule.rule
		sub.Detection.Searches = map[string]sigmago.Search{name: se}
		sub.Detection.Conditions = sigmago.Conditions{{Search: sigmago.SearchIdentifier{Name: name}}}
		if _, err := evalPeer(ctx, evaluator.ForRule(sub, evaluator.WithConfig(peerConfig(sub, v))), s); err != nil {
			out = append(out, err.Error())
		}
	}
	sort.Strings(out)
	return out
}
