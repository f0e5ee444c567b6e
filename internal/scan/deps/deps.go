// Package deps is the "deps" scanner: it lists a target's dependencies
// with osv-scalibr's extractors (go.mod, npm/yarn/pnpm lockfiles,
// requirements.txt, poetry/Pipfile/uv lockfiles, Cargo.lock, pom.xml,
// gradle.lockfile, Gemfile.lock, composer.lock, CycloneDX and SPDX SBOMs)
// and reports each version an advisory of the offline OSV database
// (internal/vulndb) affects.
package deps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/vigilsec/vigil/internal/scan"
	"github.com/vigilsec/vigil/internal/vulndb"
)

// ID is the scanner's stable id.
const ID = "deps"

// Options configure the scanner.
type Options struct {
	// DB is the advisory database; nil makes every scan report a problem
	// saying none was imported, and find nothing.
	DB *vulndb.DB
	// Logger receives debug counts; nil discards.
	Logger *slog.Logger
	// MaxFileBytes bounds the manifests read; 0 is DefaultMaxFileBytes.
	MaxFileBytes int64
}

// Scanner reports vulnerable dependencies.
type Scanner struct {
	db  *vulndb.DB
	log *slog.Logger
	inv lister
}

// New builds the scanner.
func New(opts Options) (*Scanner, error) {
	inv, err := newInventory(opts.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scanner{db: opts.DB, log: log, inv: inv}, nil
}

// ID returns "deps".
func (s *Scanner) ID() string { return ID }

// Scan reports, for each dependency of the target (in Inventory's order),
// the advisories affecting its version (sorted by id); a Go version from a
// go.mod is checked as "stdlib" and then as "toolchain". Dependencies
// without an ecosystem or an exact version are not matched.
func (s *Scanner) Scan(ctx context.Context, t *scan.Target, emit func(scan.Finding), problem func(scan.Problem)) error {
	if s.db == nil {
		report(problem, "", errors.New("no vulnerability database imported: dependencies were not checked (import OSV advisories first)"))
		return nil
	}
	deps := s.inv.run(ctx, t, problem)
	if err := ctx.Err(); err != nil {
		return err
	}
	matched, findings := 0, 0
	for _, d := range deps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Ecosystem == "" || d.Version == "" || d.Constraint != "" {
			continue
		}
		matched++
		subjects := []Dep{d}
		if d.Ecosystem == "Go" && d.Name == "stdlib" {
			// The Go version a go.mod names is also the toolchain's:
			// golang/vulndb files cmd/go's flaws under "toolchain".
			tc := d
			tc.Name, tc.PURL = "toolchain", ""
			subjects = append(subjects, tc)
		}
		for _, sd := range subjects {
			ms, err := s.db.Query(sd.Ecosystem, sd.Name, queryVersion(sd))
			if errors.Is(err, vulndb.ErrChanged) {
				return fmt.Errorf("checking dependencies: %w", err)
			}
			if err != nil {
				report(problem, sd.Path, fmt.Errorf("%s %s %s: %w", sd.Ecosystem, sd.Name, sd.Version, err))
				continue
			}
			for _, m := range ms {
				emit(finding(t, sd, m))
				findings++
			}
		}
	}
	s.log.DebugContext(ctx, "dependencies checked", "dependencies", len(deps), "matched", matched, "findings", findings)
	return nil
}

// finding describes one advisory affecting one dependency.
func finding(t *scan.Target, d Dep, m vulndb.Match) scan.Finding {
	version := displayVersion(d, d.Version)
	fixed := make([]string, 0, len(m.Fixed))
	for _, f := range m.Fixed {
		fixed = append(fixed, displayVersion(d, f))
	}
	ids := m.ID
	if len(m.Aliases) > 0 {
		ids += " (" + strings.Join(m.Aliases, ", ") + ")"
	}
	msg := fmt.Sprintf("%s %s is affected by %s", d.Name, version, ids)
	if m.Summary != "" {
		msg += ": " + m.Summary
	}
	title := m.Summary
	if title == "" {
		title = fmt.Sprintf("%s in %s", m.ID, d.Name)
	}
	remediation := "no fixed version"
	if len(fixed) > 0 {
		// The highest of the fixes the merged records give for this
		// version: the lowest version every one of them calls fixed.
		remediation = "upgrade to " + fixed[len(fixed)-1]
	}
	f := scan.Finding{
		RuleID:      m.ID,
		Kind:        scan.KindDependency,
		Severity:    m.Severity,
		Title:       title,
		Message:     msg,
		Location:    scan.Location{Path: d.Path, StartLine: d.Line},
		Remediation: remediation,
		References:  []string{m.URL},
		Package:     &scan.Package{Ecosystem: d.Ecosystem, Name: d.Name, Version: version, PURL: d.PURL},
		Vuln: &scan.Vulnerability{
			ID:      m.ID,
			Aliases: m.Aliases,
			CVSS:    m.CVSS,
			Score:   m.Score,
			Fixed:   fixed,
			Symbols: m.Symbols,
		},
		Subject: scan.Subject{Repository: t.Repository},
		Key:     d.Ecosystem + "/" + d.Name + "@" + d.Version + "/" + m.ID,
	}
	f.Fingerprint = f.ComputeFingerprint()
	return f
}

// isGoToolchain says whether a Go dependency is the Go distribution, whose
// versions are written go1.22.1 rather than v1.22.1.
func isGoToolchain(d Dep) bool {
	return d.Ecosystem == "Go" && (d.Name == "stdlib" || d.Name == "toolchain")
}

// displayVersion writes a version as the ecosystem's users do: Go modules
// with their "v", the Go distribution with "go".
func displayVersion(d Dep, v string) string {
	if d.Ecosystem != "Go" || v == "" {
		return v
	}
	v = strings.TrimPrefix(strings.TrimPrefix(v, "go"), "v")
	if isGoToolchain(d) {
		return "go" + v
	}
	return "v" + v
}

// queryVersion is the version asked of the database: Go toolchain versions
// ("1.21", "1.22rc1") in the semver form golang/vulndb's records use
// ("1.21.0", "1.22.0-rc.1").
func queryVersion(d Dep) string {
	if !isGoToolchain(d) {
		return d.Version
	}
	return goToolchainSemver(strings.TrimPrefix(d.Version, "go"))
}

// goToolchainSemver converts a Go release version to semver as
// golang.org/x/vuln does: 1.21 -> 1.21.0, 1.21.3 -> 1.21.3,
// 1.22rc1 -> 1.22.0-rc.1, 1.18beta2 -> 1.18.0-beta.2.
func goToolchainSemver(v string) string {
	pre := ""
	for _, tag := range []string{"rc", "beta", "alpha"} {
		if i := strings.Index(v, tag); i > 0 {
			pre = "-" + tag + "." + v[i+len(tag):]
			v = v[:i]
			break
		}
	}
	if strings.Count(v, ".") == 1 {
		v += ".0"
	}
	return v + pre
}

var _ scan.Scanner = (*Scanner)(nil)
