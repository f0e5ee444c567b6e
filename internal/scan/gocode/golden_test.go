package gocode

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGolden pins every finding of the fixture (messages, traces, keys,
// fingerprints): go test ./internal/scan/gocode -run TestGolden -update
// rewrites testdata/vulnapp.golden.json.
func TestGolden(t *testing.T) {
	needGo(t)
	fs, ps := scanDir(t, filepath.Join("testdata", "vulnapp"), Options{})
	if len(ps) > 0 {
		t.Fatalf("problems: %+v", ps)
	}
	type golden struct {
		Finding any    `json:"finding"`
		Key     string `json:"key"`
	}
	out := make([]golden, 0, len(fs))
	for _, f := range fs {
		out = append(out, golden{Finding: f, Key: f.Key})
	}
	got, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	name := filepath.Join("testdata", "vulnapp.golden.json")
	if *update {
		if err := os.WriteFile(name, got, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("findings differ from %s (run with -update after checking the change):\n%s", name, firstDiff(string(got), string(want)))
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(got, want string) string {
	gl, wl := bytes.Split([]byte(got), []byte("\n")), bytes.Split([]byte(want), []byte("\n"))
	for i := range max(len(gl), len(wl)) {
		var g, w []byte
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if !bytes.Equal(g, w) {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, g, w)
		}
	}
	return ""
}
