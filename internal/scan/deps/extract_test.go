package deps

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/scan"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what was produced (run with -update and review the diff):\n%s", path, got)
	}
}

func TestInventory(t *testing.T) {
	var problems []scan.Problem
	deps := Inventory(context.Background(), fixtureTarget(t), func(p scan.Problem) { problems = append(problems, p) })
	if len(problems) != 0 {
		t.Fatalf("problems: %+v", problems)
	}
	golden(t, "inventory.golden.json", deps)

	find := func(path, name string) Dep {
		for _, d := range deps {
			if d.Path == path && d.Name == name {
				return d
			}
		}
		t.Fatalf("%s: no %s in %+v", path, name, deps)
		return Dep{}
	}
	for _, tc := range []struct {
		path, name, eco, version string
		line                     int
		rel                      Relation
	}{
		{"go/go.mod", "golang.org/x/net", "Go", "0.17.0", 6, RelationDirect},
		{"go/go.mod", "golang.org/x/text", "Go", "0.14.0", 7, RelationIndirect},
		{"go/go.mod", "stdlib", "Go", "1.22.1", 3, ""},
		{"npm/package-lock.json", "lodash", "npm", "4.17.20", 15, ""},
		{"yarn/yarn.lock", "minimist", "npm", "1.2.5", 10, ""},
		{"pnpm/pnpm-lock.yaml", "axios", "npm", "0.21.0", 0, ""},
		{"python/requirements.txt", "requests", "PyPI", "2.25.0", 2, ""},
		{"poetry/poetry.lock", "django", "PyPI", "3.2.0", 2, ""},
		{"pipenv/Pipfile.lock", "jinja2", "PyPI", "2.10", 0, ""},
		{"uv/uv.lock", "urllib3", "PyPI", "1.26.4", 0, ""},
		{"rust/Cargo.lock", "smallvec", "crates.io", "1.6.0", 0, ""},
		{"maven/pom.xml", "org.apache.logging.log4j:log4j-core", "Maven", "2.14.1", 11, RelationDirect},
		{"gradle/gradle.lockfile", "com.fasterxml.jackson.core:jackson-databind", "Maven", "2.9.8", 4, ""},
		{"ruby/Gemfile.lock", "rack", "RubyGems", "2.2.3", 4, ""},
		{"php/composer.lock", "guzzlehttp/guzzle", "Packagist", "7.4.0", 0, ""},
		{"sbom/app.cdx.json", "@babel/traverse", "npm", "7.22.0", 0, ""},
		{"sbom/app.cdx.json", "golang.org/x/crypto", "Go", "v0.31.0", 0, ""},
		{"sbom/app.spdx.json", "pyyaml", "PyPI", "5.3", 0, ""},
		{"sbom/app.spdx.json", "org.yaml:snakeyaml", "Maven", "2.0", 0, ""},
	} {
		d := find(tc.path, tc.name)
		if d.Ecosystem != tc.eco || d.Version != tc.version || d.Relation != tc.rel || (tc.line != 0 && d.Line != tc.line) {
			t.Errorf("%s %s: %+v, want %s %s line %d %q", tc.path, tc.name, d, tc.eco, tc.version, tc.line, tc.rel)
		}
	}
	if d := find("python/requirements.txt", "flask"); d.Constraint != ">=" {
		t.Errorf("flask>=2.0: %+v", d)
	}
	if d := find("npm/package-lock.json", "ms"); !slices.Equal(d.Groups, []string{"dev"}) {
		t.Errorf("dev dependency: %+v", d)
	}
	if d := find("maven/pom.xml", "junit:junit"); !slices.Equal(d.Groups, []string{"test"}) {
		t.Errorf("test scope: %+v", d)
	}
	files := map[string]bool{}
	for _, d := range deps {
		files[d.Path] = true
		if d.PURL == "" {
			t.Errorf("%s %s: no PURL", d.Path, d.Name)
		}
	}
	if len(files) != 15 {
		t.Errorf("dependencies from %d files, want the 15 fixtures: %v", len(files), files)
	}
}

// TestScanFixtures: every fixture file has one vulnerable and one safe
// package; exactly the vulnerable ones are reported.
func TestScanFixtures(t *testing.T) {
	s, err := New(Options{DB: fixtureDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	var got []scan.Finding
	var problems []scan.Problem
	tg := fixtureTarget(t)
	tg.Repository = "example/app"
	if err := s.Scan(context.Background(), tg, func(f scan.Finding) { got = append(got, f) }, func(p scan.Problem) { problems = append(problems, p) }); err != nil {
		t.Fatal(err)
	}
	if len(problems) != 0 {
		t.Fatalf("problems: %+v", problems)
	}
	golden(t, "findings.golden.json", got)

	var keys []string
	for _, f := range got {
		keys = append(keys, fmt.Sprintf("%s %s@%s %s", f.Location.Path, f.Package.Name, f.Package.Version, f.RuleID))
	}
	want := []string{
		"go/go.mod stdlib@go1.22.1 GO-TEST-0003",
		"go/go.mod toolchain@go1.22.1 GO-TEST-0005",
		"go/go.mod golang.org/x/net@v0.17.0 GO-TEST-0001",
		"gradle/gradle.lockfile com.fasterxml.jackson.core:jackson-databind@2.9.8 GHSA-test-jack-son0",
		"maven/pom.xml org.apache.logging.log4j:log4j-core@2.14.1 GHSA-test-log4-j000",
		"npm/package-lock.json lodash@4.17.20 GHSA-test-loda-sh00",
		"php/composer.lock guzzlehttp/guzzle@7.4.0 GHSA-test-guzz-le00",
		"pipenv/Pipfile.lock jinja2@2.10 PYSEC-TEST-0006",
		"pnpm/pnpm-lock.yaml axios@0.21.0 GHSA-test-axio-s000",
		"poetry/poetry.lock django@3.2.0 PYSEC-TEST-0004",
		"python/requirements.txt requests@2.25.0 PYSEC-TEST-0001",
		"ruby/Gemfile.lock rack@2.2.3 GHSA-test-rack-0000",
		"rust/Cargo.lock smallvec@1.6.0 RUSTSEC-TEST-0001",
		"sbom/app.cdx.json @babel/traverse@7.22.0 GHSA-test-babe-l000",
		"sbom/app.spdx.json pyyaml@5.3 PYSEC-TEST-0010",
		"uv/uv.lock urllib3@1.26.4 PYSEC-TEST-0008",
		"yarn/yarn.lock minimist@1.2.5 GHSA-test-mini-mist",
	}
	if !slices.Equal(keys, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(keys, "\n"), strings.Join(want, "\n"))
	}

	byRule := map[string]scan.Finding{}
	for _, f := range got {
		byRule[f.RuleID] = f
		if f.Kind != scan.KindDependency || f.Subject.Repository != "example/app" || f.Fingerprint == "" || len(f.References) == 0 {
			t.Errorf("%s: %+v", f.RuleID, f)
		}
	}
	xnet := byRule["GO-TEST-0001"]
	if xnet.Message != "golang.org/x/net v0.17.0 is affected by GO-TEST-0001 (CVE-TEST-0001, GHSA-test-go01-aaaa): HTTP/2 CONTINUATION flood in net/http" ||
		xnet.Remediation != "upgrade to v0.23.0" || xnet.Location.StartLine != 6 ||
		xnet.Severity != scan.SeverityMedium || xnet.Vuln.Score != 5.3 || // from the merged GHSA record
		!slices.Equal(xnet.Vuln.Symbols, []string{"golang.org/x/net/http2.Framer.ReadFrame", "golang.org/x/net/http2.Server.ServeConn"}) ||
		xnet.Key != "Go/golang.org/x/net@0.17.0/GO-TEST-0001" || xnet.References[0] != "https://example.org/advisories/GO-TEST-0001" {
		t.Errorf("x/net finding: %+v %+v", xnet, xnet.Vuln)
	}
	if f := byRule["GO-TEST-0003"]; f.Remediation != "upgrade to go1.22.2" || !slices.Equal(f.Vuln.Fixed, []string{"go1.22.2"}) {
		t.Errorf("stdlib finding: %+v", f)
	}
	if f := byRule["GO-TEST-0005"]; f.Remediation != "upgrade to go1.22.4" || f.Package.PURL != "" || !slices.Equal(f.Vuln.Symbols, []string{"cmd/go"}) {
		t.Errorf("toolchain finding: %+v %+v", f, f.Vuln)
	}
	if f := byRule["GHSA-test-axio-s000"]; f.Severity != scan.SeverityMedium || f.Vuln.Score != 6.9 || !strings.HasPrefix(f.Vuln.CVSS, "CVSS:4.0/") {
		t.Errorf("CVSS 4.0 finding: %+v", f.Vuln)
	}
	if f := byRule["PYSEC-TEST-0001"]; !slices.Equal(f.Vuln.Aliases, []string{"CVE-TEST-0201", "GHSA-test-requ-ests"}) || f.Severity != scan.SeverityMedium {
		t.Errorf("merged PyPI finding: %+v %+v", f, f.Vuln)
	}
	if f := byRule["GHSA-test-jack-son0"]; f.Severity != scan.SeverityCritical || f.Vuln.CVSS != "" {
		t.Errorf("severity word: %+v", f)
	}
}

// TestHostileFiles: files an extractor cannot read are problems naming
// them; the other files are still scanned.
func TestHostileFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a/package-lock.json": `{"packages": {"node_modules/x": {"version": 12}}`,
		"b/go.mod":            "module x\nrequire (\n\tfoo bar baz\n",
		"c/Cargo.lock":        "[[package]\nname=",
		"d/bom.json":          `{"bomFormat": 7}`,
		"e/go.mod":            "module example.com/ok\n\nrequire golang.org/x/net v0.17.0\n",
		"f/requirements.txt":  strings.Repeat("x", 2048),
	}
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tg, err := scan.Walk(dir, scan.WalkOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{DB: fixtureDB(t), MaxFileBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	var got []scan.Finding
	bad := map[string]string{}
	if err := s.Scan(context.Background(), tg, func(f scan.Finding) { got = append(got, f) }, func(p scan.Problem) { bad[p.Path] = p.Err }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/package-lock.json", "b/go.mod", "c/Cargo.lock", "d/bom.json", "f/requirements.txt"} {
		if bad[p] == "" {
			t.Errorf("%s: no problem reported (problems: %v)", p, bad)
		}
	}
	if !strings.Contains(bad["f/requirements.txt"], "limit") {
		t.Errorf("oversized file: %q", bad["f/requirements.txt"])
	}
	if len(got) != 1 || got[0].Location.Path != "e/go.mod" || got[0].RuleID != "GO-TEST-0001" {
		t.Errorf("findings %+v", got)
	}
}

// TestStaysInsideTarget: a requirements file including a file outside the
// target, directly or through a symbolic link, does not read it.
func TestStaysInsideTarget(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "evil-requirements.txt"), []byte("evil==1.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(outside, "evil-requirements.txt"), filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(dir, filepath.Join(outside, "evil-requirements.txt"))
	req := "good==1.0\n-r link.txt\n-r " + filepath.ToSlash(rel) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte(req), 0o600); err != nil {
		t.Fatal(err)
	}
	tg, err := scan.Walk(dir, scan.WalkOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deps := Inventory(context.Background(), tg, nil)
	var names []string
	for _, d := range deps {
		names = append(names, d.Name)
	}
	if !slices.Equal(names, []string{"good"}) {
		t.Errorf("dependencies %v, want only good", names)
	}
}
