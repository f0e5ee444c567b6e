//go:build !osvscalibr

package deps

import (
	"context"
	"errors"

	"github.com/vigilsec/vigil/internal/scan"
)

// errNoExtractors says why this build lists no dependencies: osv-scalibr
// v0.5.3's extractor/filesystem uses github.com/gobwas/glob's v0 API
// (glob.Glob) while go.mod selects glob v1.1.0 (required by OPA v1.22.3),
// which removed it, so the extractors do not compile in this module until
// go.mod changes (OPA <= v1.20.2 still requires glob v0.2.3). Build with
// -tags osvscalibr and a go.mod that selects glob v0.2.3 to get them.
var errNoExtractors = errors.New("dependency inventory unavailable: this build has no osv-scalibr extractors (gobwas/glob v1 in go.mod; see internal/scan/deps)")

type noInventory struct{}

func newInventory(int64) (lister, error) { return noInventory{}, nil }

func (noInventory) run(_ context.Context, _ *scan.Target, problem func(scan.Problem)) []Dep {
	report(problem, "", errNoExtractors)
	return nil
}
