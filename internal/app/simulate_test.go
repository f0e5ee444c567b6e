package app

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

func TestSimulateUsage(t *testing.T) {
	for _, args := range [][]string{
		{"simulate"},
		{"simulate", "--out", t.TempDir(), "--users", "0"},
		{"simulate", "--out", t.TempDir(), "--days", "0"},
		{"simulate", "--out", t.TempDir(), "--days", "x"},
		{"simulate", "--out", t.TempDir(), "--start", "yesterday"},
	} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), Env{Stdout: &out, Stderr: &errb}, args); code != ExitUsage {
			t.Errorf("%q: exit %d, want %d (%s)", args, code, ExitUsage, errb.String())
		}
	}
}

// TestSimulateDecodes runs the format registry and every decoder (through hunt)
// over a simulated directory: every file detected as its format, nothing rejected.
func TestSimulateDecodes(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := Main(context.Background(), Env{Stdout: &out, Stderr: &errb},
		[]string{"simulate", "--seed", "2", "--users", "25", "--days", "3", "--out", dir}); code != ExitOK {
		t.Fatalf("simulate: exit %d: %s", code, errb.String())
	}
	code, sum, errs := huntJSON(t, dir)
	if code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	want := map[string]string{
		"windows/security.json": "winevt-evtxdump", "windows/sysmon.json": "winevt-evtxdump",
		"linux/auth.log": "syslog-rfc3164", "zeek/conn.log": "zeek-tsv", "zeek/dns.log": "zeek-tsv",
	}
	if sum.Rejected != 0 {
		t.Errorf("%d records rejected: %+v", sum.Rejected, sum.RejectedByReason)
	}
	seen := 0
	for _, s := range sum.PerStream {
		rel, err := filepath.Rel(dir, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		f, ok := want[filepath.ToSlash(rel)]
		if !ok {
			t.Errorf("unexpected stream %s", rel)
			continue
		}
		seen++
		if s.Format != f || s.Events == 0 || s.Rejected != 0 {
			t.Errorf("%s: format %s, %d events, %d rejected; want %s, >0, 0", rel, s.Format, s.Events, s.Rejected, f)
		}
	}
	if seen != len(want) {
		t.Errorf("%d of %d files decoded: %+v", seen, len(want), sum.PerStream)
	}
}
