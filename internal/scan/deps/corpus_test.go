package deps

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vigilsec/vigil/internal/scan"
	"github.com/vigilsec/vigil/internal/vulndb"
)

var corpusDB struct {
	once sync.Once
	dir  string
	err  error
}

// golangVulnDB imports golang/vulndb's 4,291 records once per test binary.
func golangVulnDB(tb testing.TB) *vulndb.DB {
	tb.Helper()
	src := filepath.Join("..", "..", "..", "..", "shared", "corpora", "osv", "golang-vulndb")
	if _, err := os.Stat(src); err != nil {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			tb.Fatalf("golang-vulndb: corpora not found: %v", err)
		}
		tb.Skip("golang-vulndb: corpora not found")
	}
	corpusDB.once.Do(func() {
		corpusDB.dir, corpusDB.err = os.MkdirTemp("", "vigil-deps-vulndb-")
		if corpusDB.err == nil {
			_, corpusDB.err = vulndb.Import(context.Background(), corpusDB.dir, src)
		}
	})
	if corpusDB.err != nil {
		tb.Fatal(corpusDB.err)
	}
	db, err := vulndb.Open(corpusDB.dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func TestMain(m *testing.M) {
	code := m.Run()
	if corpusDB.dir != "" {
		_ = os.RemoveAll(corpusDB.dir)
	}
	os.Exit(code)
}

// TestGolangVulnDBKnownAnswer: a go.mod requiring golang.org/x/net v0.17.0
// is affected by exactly the 14 records govulncheck reports at module level.
func TestGolangVulnDBKnownAnswer(t *testing.T) {
	db := golangVulnDB(t)
	dir := t.TempDir()
	gomod := "module example.com/app\n\nrequire golang.org/x/net v0.17.0\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o600); err != nil {
		t.Fatal(err)
	}
	tg, err := scan.Walk(dir, scan.WalkOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var first scan.Finding
	err = s.Scan(context.Background(), tg, func(f scan.Finding) {
		if len(got) == 0 {
			first = f
		}
		got = append(got, f.RuleID)
	}, func(p scan.Problem) { t.Errorf("problem %+v", p) })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GO-2024-2687", "GO-2024-3333", "GO-2025-3503", "GO-2025-3595", "GO-2026-4440",
		"GO-2026-4441", "GO-2026-4918", "GO-2026-5025", "GO-2026-5026", "GO-2026-5027",
		"GO-2026-5028", "GO-2026-5029", "GO-2026-5030", "GO-2026-5942",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%d findings %v\nwant %d %v", len(got), got, len(want), want)
	}
	if first.Message != "golang.org/x/net v0.17.0 is affected by GO-2024-2687 (CVE-2023-45288, GHSA-4v7x-pqxf-cx7m): HTTP/2 CONTINUATION flood in net/http" ||
		first.Remediation != "upgrade to v0.23.0" || first.Location.StartLine != 3 || first.References[0] != "https://pkg.go.dev/vuln/GO-2024-2687" {
		t.Errorf("first finding: %+v", first)
	}
}

// BenchmarkScanGoMod: the scanner's hot path on a go.mod requiring 1,000
// modules golang/vulndb knows (each at v0.1.0, or vN.0.0 for a /vN path), against that database;
// each op scans with a freshly opened DB.
func BenchmarkScanGoMod(b *testing.B) {
	golangVulnDB(b)
	src := filepath.Join("..", "..", "..", "..", "shared", "corpora", "osv", "golang-vulndb")
	names := map[string]bool{}
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if n, ok := strings.CutPrefix(line, `"name": "`); ok {
				n = strings.TrimSuffix(n, `",`)
				n = strings.TrimSuffix(n, `"`)
				if strings.Contains(n, ".") && !strings.Contains(n, " ") {
					names[n] = true
				}
			}
		}
	}
	var sb strings.Builder
	sb.WriteString("module example.com/big\n\ngo 1.21\n\nrequire (\n")
	n := 0
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range names {
			if !yield(k) {
				return
			}
		}
	}) {
		if n == 1000 {
			break
		}
		fmt.Fprintf(&sb, "\t%s %s\n", name, majorVersion(name))
		n++
	}
	sb.WriteString(")\n")
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	tg, err := scan.Walk(dir, scan.WalkOptions{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	findings := 0
	for b.Loop() {
		db, err := vulndb.Open(corpusDB.dir)
		if err != nil {
			b.Fatal(err)
		}
		s, err := New(Options{DB: db})
		if err != nil {
			b.Fatal(err)
		}
		findings = 0
		if err := s.Scan(context.Background(), tg, func(scan.Finding) { findings++ }, func(p scan.Problem) { b.Fatal(p) }); err != nil {
			b.Fatal(err)
		}
		_ = db.Close()
	}
	b.ReportMetric(float64(n), "deps")
	b.ReportMetric(float64(findings), "findings")
}

// majorVersion is a v0.1.0 or vN.0.0 version valid for a module path
// ending in /vN (or gopkg.in's .vN).
func majorVersion(path string) string {
	i := strings.LastIndexAny(path, "/.")
	if i >= 0 && len(path) > i+2 && path[i+1] == 'v' {
		if n, err := strconv.Atoi(path[i+2:]); err == nil && n >= 2 {
			return fmt.Sprintf("v%d.0.0", n)
		}
	}
	return "v0.1.0"
}

// BenchmarkScanFixtures: the 15 fixture files of testdata/repo.
func BenchmarkScanFixtures(b *testing.B) {
	db := fixtureDB(b)
	s, err := New(Options{DB: db})
	if err != nil {
		b.Fatal(err)
	}
	tg := fixtureTarget(b)
	for b.Loop() {
		if err := s.Scan(context.Background(), tg, func(scan.Finding) {}, func(p scan.Problem) { b.Fatal(p) }); err != nil {
			b.Fatal(err)
		}
	}
}
