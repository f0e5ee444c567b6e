package sigma_test

import (
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/evtx"
	"github.com/vigilsec/vigil/internal/detect/sigma"
	"github.com/vigilsec/vigil/internal/event"
)

var (
	benchOnce   sync.Once
	benchEvents []*event.Event
	benchRS     *sigma.Ruleset
	benchRules  int
)

// windowsRules loads every SigmaHQ rule for product windows from the rule
// directories (the "full SigmaHQ Windows rule set").
func windowsRules(tb testing.TB) *sigma.Ruleset {
	var paths []string
	for _, d := range ruleDirs {
		paths = append(paths, decodetest.Corpora(tb, "sigma/"+d))
	}
	c, err := sigma.Load(paths...)
	if err != nil {
		tb.Fatal(err)
	}
	rules := c.Rules[:0]
	for _, r := range c.Rules {
		if r.LogSource.Product == "windows" {
			rules = append(rules, r)
		}
	}
	c.Rules = rules
	rs, err := sigma.Compile(c, sigma.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

// attackEvents decodes every EVTX attack sample: real Sysmon, Security, System,
// PowerShell events.
func attackEvents(tb testing.TB) []*event.Event {
	root := decodetest.Corpora(tb, "evtx-attack-samples")
	var out []*event.Event
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.EqualFold(filepath.Ext(p), ".evtx") {
			return err
		}
		s, _ := decodetest.DecodeFile(tb, evtx.New(), p)
		out = append(out, s.Events...)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func benchSetup(b *testing.B) {
	benchOnce.Do(func() {
		benchRS = windowsRules(b)
		benchRules = benchRS.Loaded
		benchEvents = attackEvents(b)
	})
	if benchRS == nil {
		b.Skip("setup failed")
	}
}

// BenchmarkMatchWindows evaluates all SigmaHQ Windows rules on the EVTX attack
// samples' events, one core.
func BenchmarkMatchWindows(b *testing.B) {
	benchSetup(b)
	m := benchRS.NewMatcher()
	hits := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, e := range benchEvents {
			m.Match(e, func(*sigma.Hit) { hits++ })
		}
	}
	n := float64(len(benchEvents)) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(benchRules), "rules")
	b.ReportMetric(float64(hits)/float64(b.N), "hits/op")
}

// BenchmarkLoadCompile loads and compiles the whole SigmaHQ corpus.
func BenchmarkLoadCompile(b *testing.B) {
	var paths []string
	for _, d := range ruleDirs {
		paths = append(paths, decodetest.Corpora(b, "sigma/"+d))
	}
	for b.Loop() {
		c, err := sigma.Load(paths...)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sigma.Compile(c, sigma.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
