package rulepack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/detect/sigma"
)

// TestPackCompiles: every document of the pack loads, links and compiles, every
// rule has a log source the embedded mapping routes, and each carries what an
// analyst needs (level, ATT&CK technique tag, description, known false positives
// for anything above informational).
func TestPackCompiles(t *testing.T) {
	c, err := sigma.LoadFS(FS())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Rejected {
		t.Errorf("rejected: %v", r)
	}
	rs, err := sigma.Compile(c, sigma.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs.Rejected {
		t.Errorf("not compiled: %v", r)
	}
	for _, r := range rs.Unrouted {
		t.Errorf("%s: log source %+v has no mapping", r.Source, r.LogSource)
	}
	ce, err := sigma.NewCorrelationEngine(c, rs, sigma.CorrelationOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ce.Rejected {
		t.Errorf("correlation rejected: %v", r)
	}
	if len(c.Rules) < 10 || len(c.Correlations) < 2 {
		t.Errorf("%d rules, %d correlations: the pack is smaller than expected", len(c.Rules), len(c.Correlations))
	}
	metas := make([]sigma.Meta, 0, len(c.Rules)+len(c.Correlations))
	for _, r := range c.Rules {
		metas = append(metas, r.Meta)
	}
	for _, r := range c.Correlations {
		metas = append(metas, r.Meta)
	}
	for _, m := range metas {
		where := m.Source.String() + " " + m.Title
		if m.ID == "" || m.Level == "" || m.Description == "" || m.Status != "stable" {
			t.Errorf("%s: id, level, description and status stable are required", where)
		}
		tech := false
		for _, tg := range m.Tags {
			if tg.Namespace == "attack" && strings.HasPrefix(tg.Name, "t") {
				tech = true
			}
		}
		if !tech {
			t.Errorf("%s: no ATT&CK technique tag", where)
		}
		if m.Level != "informational" && len(m.FalsePositives) == 0 {
			t.Errorf("%s: level %s without known false positives", where, m.Level)
		}
	}
}

// TestIDsNotInSigmaHQ: the pack's ids are its own, so running it next to the
// SigmaHQ corpus never collides.
func TestIDsNotInSigmaHQ(t *testing.T) {
	root := filepath.Join("..", "..", "..", "shared", "corpora", "sigma", "rules")
	if _, err := os.Stat(root); err != nil {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			t.Fatalf("corpus: %v", err)
		}
		t.Skipf("SigmaHQ corpus not available: %v", err)
	}
	c, err := sigma.LoadFS(FS(), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Rejected {
		if strings.Contains(r.Error(), "builtin:") {
			t.Errorf("with SigmaHQ: %v", r)
		}
	}
}
