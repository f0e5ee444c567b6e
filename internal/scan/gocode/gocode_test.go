package gocode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/scan"
)

func needGo(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go toolchain not in PATH")
	}
}

// scanDir scans a directory with the scanner and returns what it reported.
func scanDir(t testing.TB, dir string, opts Options) ([]scan.Finding, []scan.Problem) {
	t.Helper()
	tg, err := scan.Walk(dir, scan.WalkOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var fs []scan.Finding
	var ps []scan.Problem
	err = New(opts).Scan(context.Background(), tg, func(f scan.Finding) { fs = append(fs, f) }, func(p scan.Problem) { ps = append(ps, p) })
	if err != nil {
		t.Fatal(err)
	}
	return fs, ps
}

type fileLine struct {
	file string
	line int
}

func (l fileLine) String() string { return fmt.Sprintf("%s:%d", l.file, l.line) }

var (
	wantRe = regexp.MustCompile(`// want ((?:VGL-GO-\d{3}\s*)+)`)
	safeRe = regexp.MustCompile(`// safe\b`)
)

// annotations reads the "want RULE" and "safe" comments of a fixture.
func annotations(t *testing.T, root string) (map[fileLine][]string, map[fileLine]bool) {
	t.Helper()
	wants := map[fileLine][]string{}
	safes := map[fileLine]bool{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		rel, _ := filepath.Rel(root, p)
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			l := fileLine{filepath.ToSlash(rel), n}
			if m := wantRe.FindStringSubmatch(sc.Text()); m != nil {
				wants[l] = strings.Fields(m[1])
			}
			if safeRe.MatchString(sc.Text()) {
				safes[l] = true
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return wants, safes
}

// TestFixture: every planted flaw of testdata/vulnapp is found at its line
// with its rule, nothing else is reported, and no finding starts, passes or
// ends on a safe twin's line.
func TestFixture(t *testing.T) {
	needGo(t)
	root := filepath.Join("testdata", "vulnapp")
	fs, ps := scanDir(t, root, Options{})
	for _, p := range ps {
		t.Errorf("problem: %+v", p)
	}
	wants, safes := annotations(t, root)
	got := map[fileLine][]string{}
	for _, f := range fs {
		l := fileLine{f.Location.Path, f.Location.StartLine}
		got[l] = append(got[l], f.RuleID)
		if w := wants[l]; !slices.Contains(w, f.RuleID) {
			t.Errorf("unexpected %s at %s: %s", f.RuleID, l, f.Message)
		}
		for _, step := range append([]scan.Location{f.Location}, f.Trace...) {
			if sl := (fileLine{step.Path, step.StartLine}); safes[sl] {
				t.Errorf("%s at %s goes through safe line %s: %s", f.RuleID, l, sl, f.Message)
			}
		}
		if f.Fingerprint == "" || f.Kind != scan.KindCode || len(f.References) == 0 || f.Remediation == "" || f.Title == "" {
			t.Errorf("incomplete finding %+v", f)
		}
	}
	n := 0
	for l, rules := range wants {
		for _, r := range rules {
			n++
			if !slices.Contains(got[l], r) {
				t.Errorf("missed %s at %s", r, l)
			}
		}
	}
	byRule := map[string]int{}
	for _, f := range fs {
		byRule[f.RuleID]++
	}
	t.Logf("%d planted, %d findings: %v", n, len(fs), byRule)
	// at least two planted flaws per injection class
	for _, id := range []string{RuleSQLInjection, RuleCommandInjection, RulePathTraversal, RuleSSRF, RuleXSS} {
		if byRule[id] < 2 {
			t.Errorf("%s: %d findings, want at least 2", id, byRule[id])
		}
	}
	fps := map[string]bool{}
	for _, f := range fs {
		if fps[f.Fingerprint] {
			t.Errorf("duplicate fingerprint for %s at %s:%d", f.RuleID, f.Location.Path, f.Location.StartLine)
		}
		fps[f.Fingerprint] = true
	}
}

// TestMessagesAndTraces pins the wording and the trace of a direct and an
// interprocedural finding.
func TestMessagesAndTraces(t *testing.T) {
	needGo(t)
	fs, _ := scanDir(t, filepath.Join("testdata", "vulnapp"), Options{})
	find := func(path string, line int) *scan.Finding {
		for i := range fs {
			if fs[i].Location.Path == path && fs[i].Location.StartLine == line {
				return &fs[i]
			}
		}
		t.Fatalf("no finding at %s:%d", path, line)
		return nil
	}
	tests := []struct {
		path  string
		line  int
		msg   string
		trace []string
	}{
		{"sql.go", 15, `request parameter from r.FormValue("name") (sql.go:14) reaches s.db.Query (sql.go:15)`,
			[]string{"sql.go:14:46 r.FormValue", "sql.go:15:13 s.db.Query"}},
		{"internal/store/store.go", 14, `request parameter from r.FormValue("who") (sql.go:117) reaches s.db.Query (store.go:14) through 1 call`,
			[]string{"sql.go:117:28 r.FormValue", "sql.go:117:13 s.store.Lookup", "internal/store/store.go:14:9 s.db.Query"}},
		{"cmd.go", 15, `request URL from r.URL (cmd.go:14) reaches exec.CommandContext (cmd.go:15)`,
			[]string{"cmd.go:14:9 r.URL", "cmd.go:15:6 exec.CommandContext"}},
		{"main.go", 77, `command-line argument from os.Args (main.go:77) reaches exec.Command (main.go:77)`,
			[]string{"main.go:77:20 os.Args", "main.go:77:7 exec.Command"}},
	}
	for _, tt := range tests {
		f := find(tt.path, tt.line)
		if f.Message != tt.msg {
			t.Errorf("%s:%d message\n got %s\nwant %s", tt.path, tt.line, f.Message, tt.msg)
		}
		var tr []string
		for _, l := range f.Trace {
			tr = append(tr, fmt.Sprintf("%s:%d:%d %s", l.Path, l.StartLine, l.StartCol, l.Snippet))
		}
		if !slices.Equal(tr, tt.trace) {
			t.Errorf("%s:%d trace\n got %q\nwant %q", tt.path, tt.line, tr, tt.trace)
		}
	}
}

// TestModuleProblems: a module that does not build, or whose dependencies
// are not in the module cache, is a problem naming the module and the
// cause; its packages that load are still analysed and its syntax checked.
func TestModuleProblems(t *testing.T) {
	needGo(t)
	tests := []struct {
		dir     string
		problem []string // substrings of the one problem
		rules   []string // findings expected, in order
	}{
		{"broken", []string{"module example.com/broken", "1 of 2 packages did not load", `main.go:11:14: cannot use "not a number"`},
			[]string{"good/good.go:12 VGL-GO-002", "main.go:12 VGL-GO-010"}},
		{"missingdep", []string{"module example.com/missingdep", "example.com/nowhere", "missing go.sum entry"},
			[]string{"main.go:11 VGL-GO-010"}},
		{"nograph", []string{"module example.com/nograph: loading packages: go: example.com/nowhere@v1.2.3: missing go.sum entry"},
			[]string{"main.go:8 VGL-GO-010"}},
		{"newgo", []string{"module example.com/newgo: loading packages: go: go.mod requires go >= 1.99"},
			[]string{"main.go:8 VGL-GO-010"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			fs, ps := scanDir(t, filepath.Join("testdata", tt.dir), Options{})
			if len(ps) != 1 {
				t.Fatalf("problems = %+v, want 1", ps)
			}
			if ps[0].Scanner != ID || ps[0].Path != "go.mod" {
				t.Errorf("problem = %+v", ps[0])
			}
			for _, s := range tt.problem {
				if !strings.Contains(ps[0].Err, s) {
					t.Errorf("problem %q lacks %q", ps[0].Err, s)
				}
			}
			var got []string
			for _, f := range fs {
				got = append(got, fmt.Sprintf("%s:%d %s", f.Location.Path, f.Location.StartLine, f.RuleID))
			}
			if !slices.Equal(got, tt.rules) {
				t.Errorf("findings = %q, want %q", got, tt.rules)
			}
		})
	}
}

// TestNoToolchain: without the go command every module is a problem and
// only the syntax checks run.
func TestNoToolchain(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	fs, ps := scanDir(t, filepath.Join("testdata", "broken"), Options{})
	if len(ps) != 1 || !strings.Contains(ps[0].Err, "go toolchain not found") || !strings.Contains(ps[0].Err, "example.com/broken") {
		t.Fatalf("problems = %+v", ps)
	}
	if len(fs) != 1 || fs[0].RuleID != RuleWeakHash || fs[0].Location.Path != "main.go" || fs[0].Location.StartLine != 12 {
		t.Fatalf("findings = %+v, want the weak hash of main.go:12 only", fs)
	}
}

// TestManyModules: one scan over several modules reports the broken ones
// and goes on with the others.
func TestManyModules(t *testing.T) {
	needGo(t)
	fs, ps := scanDir(t, "testdata", Options{})
	var probs []string
	for _, p := range ps {
		probs = append(probs, p.Path)
	}
	slices.Sort(probs)
	if want := []string{"broken/go.mod", "missingdep/go.mod", "newgo/go.mod", "nograph/go.mod"}; !slices.Equal(probs, want) {
		t.Errorf("problems for %q, want %q", probs, want)
	}
	n := 0
	for _, f := range fs {
		if strings.HasPrefix(f.Location.Path, "vulnapp/") {
			n++
		}
	}
	if n < 50 {
		t.Errorf("%d findings in vulnapp/, want the fixture's", n)
	}
}

func TestFindModules(t *testing.T) {
	tg := &scan.Target{Root: t.TempDir(), Files: []scan.File{
		{Path: "a/go.mod"}, {Path: "a/vendor/x/go.mod"}, {Path: "b/testdata/c/go.mod"}, {Path: "go.mod"},
		{Path: "notgo.mod"}, {Path: "vendorish/go.mod"},
	}}
	var got []string
	for _, m := range findModules(tg) {
		got = append(got, m.rel)
	}
	if want := []string{"a/go.mod", "go.mod", "vendorish/go.mod"}; !slices.Equal(got, want) {
		t.Errorf("modules = %q, want %q", got, want)
	}
}

// TestOptionsTests: with Tests the test files are analysed too, but never
// for hard-coded credentials.
func TestOptionsTests(t *testing.T) {
	needGo(t)
	fs, ps := scanDir(t, filepath.Join("testdata", "vulnapp"), Options{Tests: true})
	if len(ps) > 0 {
		t.Fatalf("problems: %+v", ps)
	}
	base, _ := scanDir(t, filepath.Join("testdata", "vulnapp"), Options{})
	if len(fs) != len(base) {
		t.Errorf("with tests %d findings, without %d: want the same (creds_test.go holds only a test credential)", len(fs), len(base))
	}
	for _, f := range fs {
		if strings.HasSuffix(f.Location.Path, "_test.go") {
			t.Errorf("finding in a test file: %+v", f)
		}
	}
}

// TestBudget: a module whose analysis runs out of steps is a problem and
// keeps what was found; nothing crashes.
func TestBudget(t *testing.T) {
	needGo(t)
	fs, ps := scanDir(t, filepath.Join("testdata", "vulnapp"), Options{Limits: Limits{Steps: 200}})
	if len(ps) != 1 || !strings.Contains(ps[0].Err, "step budget exhausted") {
		t.Fatalf("problems = %+v, want the budget's", ps)
	}
	full, _ := scanDir(t, filepath.Join("testdata", "vulnapp"), Options{})
	if len(fs) >= len(full) {
		t.Errorf("%d findings with a tiny budget, %d without: want fewer", len(fs), len(full))
	}
}

func TestCancel(t *testing.T) {
	tg, err := scan.Walk(filepath.Join("testdata", "vulnapp"), scan.WalkOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = New(Options{}).Scan(ctx, tg, func(scan.Finding) { t.Error("finding after cancel") }, func(scan.Problem) {})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan = %v, want context.Canceled", err)
	}
}
