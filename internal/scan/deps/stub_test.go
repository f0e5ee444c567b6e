//go:build !osvscalibr

package deps

import (
	"context"
	"testing"

	"github.com/vigilsec/vigil/internal/scan"
)

// TestNoExtractors: a build without osv-scalibr's extractors says so
// instead of reporting a clean scan.
func TestNoExtractors(t *testing.T) {
	s, err := New(Options{DB: fixtureDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	var problems []scan.Problem
	n := 0
	if err := s.Scan(context.Background(), fixtureTarget(t), func(scan.Finding) { n++ }, func(p scan.Problem) { problems = append(problems, p) }); err != nil {
		t.Fatal(err)
	}
	if n != 0 || len(problems) != 1 || problems[0].Err != errNoExtractors.Error() {
		t.Errorf("%d findings, problems %+v", n, problems)
	}
	if deps := Inventory(context.Background(), fixtureTarget(t), nil); len(deps) != 0 {
		t.Errorf("inventory %+v", deps)
	}
}
