package triage

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGoldenTriage renders the fixture incident's dossier, next steps and blast
// radius as JSON and compares it with testdata/triage.golden.json (refresh with
// -update after checking the difference).
func TestGoldenTriage(t *testing.T) {
	st, inc := openFixture(t)
	ctx := context.Background()
	d, err := Gather(ctx, st, inc, GatherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := BuiltinPlaybooks()
	if err != nil {
		t.Fatal(err)
	}
	b, err := BlastRadius(ctx, st, inc, BlastOptions{Context: assetContext})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(struct {
		Dossier Dossier `json:"dossier"`
		Steps   []Step  `json:"steps"`
		Blast   Blast   `json:"blast"`
	}{d, Steps(inc, d, ps), b}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "triage.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("triage output differs from %s; run with -update and review the diff", path)
	}
	// Twice from the same store gives the same bytes.
	d2, err := Gather(ctx, st, inc, GatherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(d)
	c, _ := json.Marshal(d2)
	if !bytes.Equal(a, c) {
		t.Error("Gather is not deterministic")
	}
}
