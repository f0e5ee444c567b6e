package scan

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWalk(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"b/go.mod", "a.txt", ".git/config", "node_modules/x/package.json", "c/d/e.yaml"} {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "a.txt"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	tg, err := Walk(dir, WalkOptions{Skip: []string{"node_modules"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range tg.Files {
		got = append(got, f.Path)
	}
	want := []string{"a.txt", "b/go.mod", "c/d/e.yaml"}
	if len(got) != len(want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("files %v, want %v", got, want)
		}
	}
	one, err := Walk(filepath.Join(dir, "a.txt"), WalkOptions{}, nil)
	if err != nil || len(one.Files) != 1 || one.Files[0].Path != "a.txt" || one.Root != dir {
		t.Fatalf("one file: %+v, %v", one, err)
	}
	if _, err := Walk(filepath.Join(dir, "missing"), WalkOptions{}, nil); err == nil {
		t.Fatal("walking a missing path succeeded")
	}
}

func TestSeverity(t *testing.T) {
	for in, want := range map[string]Severity{"LOW": SeverityLow, "moderate": SeverityMedium, "critical": SeverityCritical, " high ": SeverityHigh} {
		if got, err := ParseSeverity(in); err != nil || got != want {
			t.Errorf("ParseSeverity(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseSeverity("urgent"); err == nil {
		t.Error("urgent parsed")
	}
}

func TestFingerprintIgnoresLines(t *testing.T) {
	a := Finding{RuleID: "R1", Kind: KindConfig, Location: Location{Path: "k8s/pod.yaml", StartLine: 3}, Key: "container app"}
	b := a
	b.Location.StartLine = 30
	if a.ComputeFingerprint() != b.ComputeFingerprint() {
		t.Error("moving a finding changed its fingerprint")
	}
	b.Key = "container sidecar"
	if a.ComputeFingerprint() == b.ComputeFingerprint() {
		t.Error("two containers share a fingerprint")
	}
}
