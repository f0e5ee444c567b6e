// Package scan is Vigil's pre-production analysis: it looks at a repository,
// a directory of manifests or an SBOM before anything runs, and reports what
// is wrong with it as Findings. The scanners live in the packages under it
// (scan/deps: vulnerable dependencies; scan/config: Kubernetes, Dockerfile and
// Terraform misconfigurations and user Rego policies; scan/gocode: injection
// flaws in Go code by taint tracking, weak crypto, reachability of vulnerable
// symbols; scan/secrets: credentials in files and git history). This package
// holds what they share: the Finding, the Target they scan (the files walked
// once), the Scanner contract, and the reports (table, JSON, SARIF 2.1.0),
// baselines and severity gates over findings.
//
// Findings keyed by image, workload and repository (Finding.Subject) become
// runtime context: the correlator raises the risk of what those workloads do
// (see internal/enrich, posture).
package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Severity orders findings; the zero value is Unknown.
type Severity int

// Severities, lowest first.
const (
	SeverityUnknown Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"unknown", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name (case-insensitive; "moderate" is medium,
// as GitHub advisories say).
func ParseSeverity(s string) (Severity, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "moderate":
		return SeverityMedium, nil
	default:
		for i, n := range severityNames {
			if v == n {
				return Severity(i), nil
			}
		}
	}
	return SeverityUnknown, fmt.Errorf("unknown severity %q (want low, medium, high or critical)", s)
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Kind says which scanner family a finding comes from.
type Kind string

// Finding kinds.
const (
	KindDependency Kind = "dependency" // a vulnerable package version
	KindConfig     Kind = "config"     // a misconfiguration (Kubernetes, Dockerfile, Terraform, a Rego policy)
	KindCode       Kind = "code"       // a flaw in source code (injection, weak crypto, hard-coded credential)
	KindSecret     Kind = "secret"     // a credential in a file or in git history
)

// Location is where a finding is: a file relative to the target's root
// (slash-separated) and a line range (1-based; 0 when unknown). Commit is set
// for findings in git history.
type Location struct {
	Path      string `json:"path"`
	StartLine int    `json:"start_line,omitempty"`
	EndLine   int    `json:"end_line,omitempty"`
	StartCol  int    `json:"start_column,omitempty"`
	EndCol    int    `json:"end_column,omitempty"`
	Commit    string `json:"commit,omitempty"`
	// Snippet is the offending text, redacted by scanners that find secrets.
	Snippet string `json:"snippet,omitempty"`
}

func (l Location) String() string {
	s := l.Path
	if l.StartLine > 0 {
		s += fmt.Sprintf(":%d", l.StartLine)
	}
	if l.Commit != "" {
		s += "@" + l.Commit
	}
	return s
}

// Package is a dependency a finding is about.
type Package struct {
	Ecosystem string `json:"ecosystem"` // OSV ecosystem name: Go, npm, PyPI, Maven, crates.io, RubyGems, Packagist, ...
	Name      string `json:"name"`
	Version   string `json:"version"`
	PURL      string `json:"purl,omitempty"`
}

// Vulnerability is what a dependency finding says about the advisory.
type Vulnerability struct {
	ID      string   `json:"id"`                // the OSV id (GO-2023-2102, GHSA-..., PYSEC-...)
	Aliases []string `json:"aliases,omitempty"` // merged: CVE, GHSA and ecosystem ids of the same flaw
	// CVSS is the vector the severity came from, and Score its base score.
	CVSS  string  `json:"cvss,omitempty"`
	Score float64 `json:"score,omitempty"`
	// Fixed are the versions that fix it on the installed version's line
	// (the lowest first); empty when there is no fix.
	Fixed []string `json:"fixed,omitempty"`
	// Symbols are the vulnerable functions the record names (Go), and
	// Reachable says whether the scanned code calls one (nil: not analysed).
	Symbols   []string `json:"symbols,omitempty"`
	Reachable *bool    `json:"reachable,omitempty"`
	// Trace is a call path from the code to a vulnerable symbol, when reachable.
	Trace []string `json:"trace,omitempty"`
}

// Subject is the runtime thing a finding is about, so it can become runtime
// context: a container image, a Kubernetes workload ("namespace/Kind/name")
// or a repository. Scanners fill what they know.
type Subject struct {
	Image      string `json:"image,omitempty"`
	Workload   string `json:"workload,omitempty"`
	Repository string `json:"repository,omitempty"`
}

// Finding is one problem a scanner found.
type Finding struct {
	// RuleID is stable across versions: a check's id (VGL-K8S-001), an
	// advisory's id for dependencies, a policy's id for Rego rules.
	RuleID   string   `json:"rule_id"`
	Kind     Kind     `json:"kind"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	// Message says what is wrong here, in a sentence.
	Message     string   `json:"message"`
	Location    Location `json:"location"`
	Remediation string   `json:"remediation,omitempty"`
	// References: CIS/NSA benchmark sections, CWE ids, advisory URLs.
	References []string `json:"references,omitempty"`
	// Trace is a taint path for code findings: source first, sink last.
	Trace   []Location     `json:"trace,omitempty"`
	Package *Package       `json:"package,omitempty"`
	Vuln    *Vulnerability `json:"vulnerability,omitempty"`
	Subject Subject        `json:"subject,omitzero"`
	// Key tells two findings of one rule in one file apart without line
	// numbers (a container's name, a resource's address, a secret's hash), so
	// the fingerprint survives edits that move lines.
	Key string `json:"-"`
	// Fingerprint identifies the finding for baselines; Fingerprint() fills it.
	Fingerprint string `json:"fingerprint"`
}

// ComputeFingerprint returns the finding's fingerprint: a hash of the rule,
// the kind, the file (or commit) and the Key, the package and version; not
// the line, so moving code does not make a known finding new.
func (f *Finding) ComputeFingerprint() string {
	h := sha256.New()
	parts := []string{string(f.Kind), f.RuleID, f.Location.Path, f.Location.Commit, f.Key}
	if f.Package != nil {
		parts = append(parts, f.Package.Ecosystem, f.Package.Name, f.Package.Version)
	}
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// File is one file of a target.
type File struct {
	Path string // relative to Target.Root, slash-separated
	Size int64
}

// Target is what a scan looks at: a root directory and its files, walked
// once (internal/scan's Walk) and shared by every scanner.
type Target struct {
	Root  string
	Files []File
	// Repository names the target for runtime context (a git remote or the
	// directory's name); scanners copy it into Subject.Repository.
	Repository string
}

// Scanner is one family of checks. Scan reports each finding through emit, in
// a deterministic order; it returns on ctx's cancellation. A file it cannot
// read or parse is not an error for the scan: it is reported through
// Problems (the path and why) and the scan goes on.
type Scanner interface {
	ID() string // stable: "deps", "config", "gocode", "secrets"
	Scan(ctx context.Context, t *Target, emit func(Finding), problem func(Problem)) error
}

// Problem is a file a scanner could not use, and why.
type Problem struct {
	Scanner string `json:"scanner"`
	Path    string `json:"path"`
	Err     string `json:"error"`
}
