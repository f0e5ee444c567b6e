package config

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/scan"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const fixtures = "testdata/fixtures"

// scanDir runs the scanner over a directory and returns its findings and
// problems in emitted order.
func scanDir(t testing.TB, dir string, opts Options) ([]scan.Finding, []scan.Problem) {
	t.Helper()
	target, err := scan.Walk(dir, scan.WalkOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var fs []scan.Finding
	var ps []scan.Problem
	if err := s.Scan(context.Background(), target, func(f scan.Finding) { fs = append(fs, f) }, func(p scan.Problem) { ps = append(ps, p) }); err != nil {
		t.Fatal(err)
	}
	return fs, ps
}

var (
	expectTrailing = regexp.MustCompile(`#\s*expect:\s*(VGL-[A-Z0-9]+-\d+)`)
	expectNext     = regexp.MustCompile(`^\s*#\s*expect-next:\s*(VGL-[A-Z0-9]+-\d+)`)
)

// expectations reads a fixture's markers: "# expect: RULE" at the end of
// the line a finding must point at, or "# expect-next: RULE" on its own line
// before it (Dockerfiles, heredocs). It returns the lines per rule.
func expectations(t *testing.T, path string) map[string][]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]int{}
	var pending []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if m := expectNext.FindStringSubmatch(l); m != nil {
			pending = append(pending, m[1])
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(l), "#") || strings.TrimSpace(l) == "" {
			continue
		}
		for _, r := range pending {
			out[r] = append(out[r], n)
		}
		pending = nil
		if m := expectTrailing.FindStringSubmatch(l); m != nil {
			out[m[1]] = append(out[m[1]], n)
		}
	}
	return out
}

// TestChecks runs every built-in check on its fixtures: the bad one must
// give the rule exactly on the lines its markers name, the good twin must
// not give it at all.
func TestChecks(t *testing.T) {
	fs, _ := scanDir(t, fixtures, Options{})
	byPath := map[string][]scan.Finding{}
	for _, f := range fs {
		byPath[f.Location.Path] = append(byPath[f.Location.Path], f)
	}
	k, d, tf := "k8s/", "docker/", "terraform/"
	table := []struct {
		rule string
		bad  string // the good twin is the same path with .good. or /good/
	}{
		{"VGL-K8S-001", k + "privileged.bad.yaml"},
		{"VGL-K8S-002", k + "escalation-allowed.bad.yaml"},
		{"VGL-K8S-003", k + "escalation-unset.bad.yaml"},
		{"VGL-K8S-004", k + "run-as-uid0.bad.yaml"},
		{"VGL-K8S-005", k + "run-as-nonroot-unset.bad.yaml"},
		{"VGL-K8S-006", k + "hostpath.bad.yaml"},
		{"VGL-K8S-007", k + "hostpath-docker-sock.bad.yaml"},
		{"VGL-K8S-008", k + "hostnetwork.bad.yaml"},
		{"VGL-K8S-009", k + "hostpid.bad.yaml"},
		{"VGL-K8S-010", k + "hostipc.bad.yaml"},
		{"VGL-K8S-011", k + "capabilities-added.bad.yaml"},
		{"VGL-K8S-012", k + "capabilities-not-dropped.bad.yaml"},
		{"VGL-K8S-013", k + "no-limits.bad.yaml"},
		{"VGL-K8S-014", k + "image-latest.bad.yaml"},
		{"VGL-K8S-015", k + "secret-env.bad.yaml"},
		{"VGL-K8S-016", k + "writable-rootfs.bad.yaml"},
		{"VGL-K8S-017", k + "no-seccomp.bad.yaml"},
		{"VGL-K8S-018", k + "seccomp-unconfined.bad.yaml"},
		{"VGL-K8S-019", k + "sa-token.bad.yaml"},
		{"VGL-K8S-020", k + "hostport.bad.yaml"},
		{"VGL-K8S-021", k + "rbac-wildcard.bad.yaml"},
		{"VGL-K8S-022", k + "rbac-secrets.bad.yaml"},
		{"VGL-K8S-023", k + "rbac-escalate.bad.yaml"},
		{"VGL-DOCKER-001", d + "root-user.bad.Dockerfile"},
		{"VGL-DOCKER-002", d + "no-user.bad.Dockerfile"},
		{"VGL-DOCKER-003", d + "add.bad.Dockerfile"},
		{"VGL-DOCKER-004", d + "add.bad.Dockerfile"},
		{"VGL-DOCKER-005", d + "secrets.bad.Dockerfile"},
		{"VGL-DOCKER-006", d + "secrets.bad.Dockerfile"},
		{"VGL-DOCKER-007", d + "base-tag.bad.Dockerfile"},
		{"VGL-DOCKER-008", d + "pipe.bad.Dockerfile"},
		{"VGL-TF-001", tf + "s3-public-acl/bad/main.tf"},
		{"VGL-TF-002", tf + "s3-public-access-block/bad/main.tf"},
		{"VGL-TF-003", tf + "gcs-public/bad/main.tf"},
		{"VGL-TF-004", tf + "azure-storage/bad/main.tf"},
		{"VGL-TF-005", tf + "azure-storage/bad/main.tf"},
		{"VGL-TF-006", tf + "network/bad/main.tf"},
		{"VGL-TF-007", tf + "network/bad/main.tf"},
		{"VGL-TF-008", tf + "encryption/bad/main.tf"},
		{"VGL-TF-009", tf + "encryption/bad/main.tf"},
		{"VGL-TF-010", tf + "encryption/bad/main.tf"},
		{"VGL-TF-011", tf + "azure-storage/bad/main.tf"},
		{"VGL-TF-012", tf + "azure-storage/bad/main.tf"},
		{"VGL-TF-013", tf + "azure-storage/bad/main.tf"},
		{"VGL-TF-014", tf + "encryption/bad/main.tf"},
		{"VGL-TF-015", tf + "databases/bad/main.tf"},
		{"VGL-TF-016", tf + "databases/bad/main.tf"},
		{"VGL-TF-017", tf + "databases/bad/main.tf"},
		{"VGL-TF-018", tf + "iam/bad/main.tf"},
		{"VGL-TF-019", tf + "imds/bad/main.tf"},
	}
	covered := map[string]bool{}
	for _, tc := range table {
		covered[tc.rule] = true
		t.Run(tc.rule, func(t *testing.T) {
			want := expectations(t, filepath.Join(fixtures, tc.bad))[tc.rule]
			if len(want) == 0 {
				t.Fatalf("%s has no marker for %s", tc.bad, tc.rule)
			}
			var got []int
			for _, f := range byPath[tc.bad] {
				if f.RuleID == tc.rule {
					got = append(got, f.Location.StartLine)
					if f.Key == "" || f.Title == "" || f.Message == "" || f.Remediation == "" || len(f.References) == 0 || f.Kind != scan.KindConfig {
						t.Errorf("incomplete finding %+v", f)
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s on lines %v, want %v", tc.bad, tc.rule, got, want)
			}
			good := strings.Replace(strings.Replace(tc.bad, ".bad.", ".good.", 1), "/bad/", "/good/", 1)
			if _, err := os.Stat(filepath.Join(fixtures, good)); err != nil {
				t.Fatalf("no good twin: %v", err)
			}
			for _, f := range byPath[good] {
				if f.RuleID == tc.rule {
					t.Errorf("%s:%d: %s on the good twin: %s", good, f.Location.StartLine, tc.rule, f.Message)
				}
			}
		})
	}
	for _, r := range Rules() {
		if !covered[r.ID] {
			t.Errorf("%s has no fixture", r.ID)
		}
	}
}

// TestGolden compares every finding and problem of the fixtures with
// testdata/fixtures.golden (go test -run TestGolden -update rewrites it).
func TestGolden(t *testing.T) {
	fs, ps := scanDir(t, fixtures, Options{PolicyDirs: []string{"testdata/policies"}})
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s:%d %s %s key=%q", f.Location.Path, f.Location.StartLine, f.RuleID, f.Severity, f.Key)
		if f.Subject.Workload != "" {
			fmt.Fprintf(&b, " workload=%s", f.Subject.Workload)
		}
		if f.Subject.Image != "" {
			fmt.Fprintf(&b, " image=%s", f.Subject.Image)
		}
		fmt.Fprintf(&b, "\n\t%s\n", f.Message)
	}
	for _, p := range ps {
		fmt.Fprintf(&b, "problem %s: %s\n", p.Path, p.Err)
	}
	golden := "testdata/fixtures.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("findings differ from %s (run with -update and review the diff):\n%s", golden, diff(string(want), b.String()))
	}
}

// diff returns the lines only in a or only in b.
func diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestFiles covers how files are recognised: content over extension,
// multi-document files with a broken document, JSON, Helm templates and
// kustomize patches skipped, problems for what cannot be parsed.
func TestFiles(t *testing.T) {
	fs, ps := scanDir(t, filepath.Join(fixtures, "misc"), Options{})
	rules := map[string][]string{}
	for _, f := range fs {
		rules[f.Location.Path] = append(rules[f.Location.Path], fmt.Sprintf("%s:%d", f.RuleID, f.Location.StartLine))
	}
	for _, tc := range []struct {
		path string
		has  string // a rule:line the file must give; "" for none at all
	}{
		{"multi.yaml", "VGL-K8S-008:22"}, // the Pod after the broken document
		{"pod.json", "VGL-K8S-009:6"},
		{"pod.json", "VGL-K8S-001:8"},
		{"manifest", "VGL-K8S-010:6"},
		{"package.json", ""},
		{"workflow.yml", ""},
		{"broken-not-k8s.yaml", ""},
		{"chart/Chart.yaml", ""},
		{"chart/templates/deployment.yaml", ""},
		{"kustomize/kustomization.yaml", ""},
		{"kustomize/limits-patch.yaml", ""},
		{"tf-broken/ok.tf", "VGL-TF-008:3"},
	} {
		got := rules[tc.path]
		if tc.has == "" && len(got) > 0 || tc.has != "" && !slices.Contains(got, tc.has) {
			t.Errorf("%s: %v, want %q", tc.path, got, tc.has)
		}
	}
	var probs []string
	for _, p := range ps {
		if p.Scanner != ID {
			t.Errorf("problem from scanner %q", p.Scanner)
		}
		probs = append(probs, p.Path+": "+p.Err)
	}
	want := []string{
		"multi.yaml: document at line 9: ",
		"nofrom/Dockerfile: no FROM instruction",
		"tf-broken/main.tf: line ",
	}
	if len(probs) != len(want) {
		t.Fatalf("problems %q, want %d", probs, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(probs[i], w) {
			t.Errorf("problem %q, want it to start with %q", probs[i], w)
		}
	}
}

func TestFileTooLarge(t *testing.T) {
	dir := t.TempDir()
	big := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n" + strings.Repeat("# padding\n", 200)
	for name, data := range map[string]string{"big.yaml": big, "big-data.json": "[" + strings.Repeat("1,", 1000) + "1]", "Dockerfile": "FROM alpine:3\n" + strings.Repeat("RUN true\n", 200)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, ps := scanDir(t, dir, Options{MaxFileSize: 1024})
	var paths []string
	for _, p := range ps {
		paths = append(paths, p.Path)
		if !strings.Contains(p.Err, "too large") {
			t.Errorf("%s: %s", p.Path, p.Err)
		}
	}
	// the large JSON array is not a manifest: no problem for it
	if !slices.Equal(paths, []string{"Dockerfile", "big.yaml"}) {
		t.Errorf("problems for %v", paths)
	}
}

func TestClassify(t *testing.T) {
	for p, want := range map[string]fileKind{
		"Dockerfile": kindDockerfile, "build/Containerfile": kindDockerfile, "api.Dockerfile": kindDockerfile,
		"Dockerfile.dev": kindDockerfile, "dockerfile": kindDockerfile, "Dockerfile.dockerignore": kindNone,
		"docs/Dockerfile.md": kindNone, "main.tf": kindTerraform, "main.tf.json": kindManifest,
		"deploy/app.yaml": kindManifest, "x.yml": kindManifest, "list.json": kindManifest, "README": kindManifest,
		"main.go": kindNone, "values.yaml.tpl": kindNone,
	} {
		if got := classify(p); got != want {
			t.Errorf("classify(%s) = %d, want %d", p, got, want)
		}
	}
}

func TestNewPolicyError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.rego"), []byte("package p\n\ndeny contains x if {\n\tx := nope(1)\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(context.Background(), Options{PolicyDirs: []string{dir}})
	if err == nil || !strings.Contains(err.Error(), "bad.rego:4:") {
		t.Fatalf("New = %v, want an error naming bad.rego:4", err)
	}
}

func TestCancel(t *testing.T) {
	target, err := scan.Walk(fixtures, scan.WalkOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	err = s.Scan(ctx, target, func(scan.Finding) { n++ }, nil)
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Fatalf("Scan on a cancelled context: %v, %d findings", err, n)
	}
	if s.ID() != "config" {
		t.Fatal(s.ID())
	}
}

// TestDeterministic: two scans emit the same findings in the same order,
// each file's findings by line.
func TestDeterministic(t *testing.T) {
	a, _ := scanDir(t, fixtures, Options{})
	b, _ := scanDir(t, fixtures, Options{})
	if len(a) != len(b) {
		t.Fatalf("%d then %d findings", len(a), len(b))
	}
	for i := range a {
		if a[i].RuleID != b[i].RuleID || a[i].Key != b[i].Key || a[i].Location != b[i].Location {
			t.Fatalf("finding %d differs: %+v / %+v", i, a[i], b[i])
		}
		if i > 0 && a[i].Location.Path == a[i-1].Location.Path && a[i].Location.StartLine < a[i-1].Location.StartLine {
			t.Fatalf("finding %d out of line order", i)
		}
		if a[i].ComputeFingerprint() == "" || a[i].Subject.Repository != "fixtures" {
			t.Fatalf("finding %d: %+v", i, a[i])
		}
	}
}
