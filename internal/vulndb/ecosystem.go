package vulndb

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// canonicalEcosystems spells the OSV ecosystems Vigil knows as OSV does,
// keyed by their lower-case name.
var canonicalEcosystems = func() map[string]string {
	m := map[string]string{}
	for _, e := range []string{
		"Go", "npm", "PyPI", "Maven", "crates.io", "RubyGems", "Packagist", "NuGet", "Pub", "Hex",
		"Debian", "Ubuntu", "Alpine", "Wolfi", "Chainguard", "AlmaLinux", "Rocky Linux", "Red Hat",
		"SUSE", "openSUSE", "Mageia", "openEuler", "Alpaquita", "BellSoft Hardened Containers", "MinimOS",
		"Bitnami", "Bioconductor", "CRAN", "ConanCenter", "GHC", "Hackage", "Julia", "SwiftURL",
		"GitHub Actions", "Linux", "Android", "OSS-Fuzz", "GIT", "Docker Hardened Images", "opam",
	} {
		m[strings.ToLower(e)] = e
	}
	return m
}()

// canonicalEcosystem returns an affected package's ecosystem spelled as OSV
// does ("pypi" is "PyPI"), its suffix ("Debian:12") kept.
func canonicalEcosystem(eco string) (string, error) {
	eco = strings.TrimSpace(eco)
	if eco == "" {
		return "", errors.New("missing")
	}
	if len(eco) > maxEcosystemSz {
		return "", fmt.Errorf("longer than %d bytes", maxEcosystemSz)
	}
	if err := checkName(eco); err != nil {
		return "", err
	}
	base, suffix, hasSuffix := strings.Cut(eco, ":")
	if c, ok := canonicalEcosystems[strings.ToLower(base)]; ok {
		base = c
	}
	if hasSuffix {
		return base + ":" + suffix, nil
	}
	return base, nil
}

// baseEcosystem drops an ecosystem's suffix ("Debian:12" is "Debian").
func baseEcosystem(eco string) string {
	base, _, _ := strings.Cut(eco, ":")
	return base
}

var pep503 = regexp.MustCompile(`[-_.]+`)

// NormalizeName returns the name a package is indexed and looked up by in
// its ecosystem: PyPI's PEP 503 form ("Foo_Bar" is "foo-bar"); lower case
// where the ecosystem's registry ignores case (Packagist, NuGet, crates.io,
// Hex, Pub); the name as written elsewhere (Go module paths, npm and Maven
// names are case-sensitive).
func NormalizeName(ecosystem, name string) string {
	name = strings.TrimSpace(name)
	switch baseEcosystem(ecosystem) {
	case "PyPI":
		return strings.ToLower(pep503.ReplaceAllLiteralString(name, "-"))
	case "Packagist", "NuGet", "crates.io", "Hex", "Pub":
		return strings.ToLower(name)
	}
	return name
}

// CanonicalEcosystem spells an ecosystem name as OSV does ("pypi" is
// "PyPI"); a name Vigil does not know is returned as given.
func CanonicalEcosystem(eco string) string {
	c, err := canonicalEcosystem(eco)
	if err != nil {
		return eco
	}
	return c
}
