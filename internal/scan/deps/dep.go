package deps

import (
	"context"

	"github.com/vigilsec/vigil/internal/scan"
)

// Relation says how a dependency came into a project, when the manifest
// says.
type Relation string

// Relations; the empty Relation is unknown.
const (
	RelationDirect   Relation = "direct"
	RelationIndirect Relation = "indirect"
)

// Dep is one dependency a manifest, lockfile or SBOM declares.
type Dep struct {
	Ecosystem string `json:"ecosystem"` // OSV ecosystem ("Go", "npm", "PyPI", ...); empty when unknown (an SBOM entry with a CPE only)
	Name      string `json:"name"`      // as the ecosystem's advisories name it ("group:artifact" for Maven)
	Version   string `json:"version"`   // as declared (Go versions without their "v")
	PURL      string `json:"purl,omitempty"`
	Path      string `json:"path"`           // the declaring file, relative to the target's root
	Line      int    `json:"line,omitempty"` // where in it, when the extractor knows
	// Relation is direct or indirect where the file says (go.mod's
	// "// indirect", pom.xml's own dependencies), empty otherwise.
	Relation Relation `json:"relation,omitempty"`
	// Groups are the dependency groups the lockfile puts it in ("dev",
	// "optional", a Maven scope).
	Groups []string `json:"groups,omitempty"`
	// Constraint is set when Version is a bound rather than the version
	// installed (requirements.txt's ">=", "~="): such a dependency is not
	// matched against advisories.
	Constraint string `json:"constraint,omitempty"`
	// Extractor is the osv-scalibr extractor that read it.
	Extractor string `json:"extractor"`
}

// DefaultMaxFileBytes bounds the manifests read (package-lock.json files of
// large monorepos run to tens of megabytes).
const DefaultMaxFileBytes = 128 << 20

// lister lists a target's dependencies; a file it cannot read is reported
// through problem.
type lister interface {
	run(ctx context.Context, t *scan.Target, problem func(scan.Problem)) []Dep
}

// Inventory lists the dependencies the target's manifests, lockfiles and
// SBOMs declare, with osv-scalibr's extractors, sorted by file, line,
// ecosystem, name and version. A file an extractor cannot read is reported
// through problem and the inventory goes on.
func Inventory(ctx context.Context, t *scan.Target, problem func(scan.Problem)) []Dep {
	inv, err := newInventory(0)
	if err != nil {
		report(problem, "", err)
		return nil
	}
	return inv.run(ctx, t, problem)
}

func report(problem func(scan.Problem), path string, err error) {
	if problem != nil {
		problem(scan.Problem{Scanner: ID, Path: path, Err: err.Error()})
	}
}
