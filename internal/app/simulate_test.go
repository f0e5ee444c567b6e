package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/sim"
)

func TestSimulateUsage(t *testing.T) {
	for _, args := range [][]string{
		{"simulate"},
		{"simulate", "--out", t.TempDir(), "--users", "0"},
		{"simulate", "--out", t.TempDir(), "--days", "0"},
		{"simulate", "--out", t.TempDir(), "--days", "x"},
		{"simulate", "--out", t.TempDir(), "--start", "yesterday"},
		{"simulate", "--out", t.TempDir(), "--campaigns", "phishing"},
		{"simulate", "--out", t.TempDir(), "--campaigns", ","},
		{"simulate", "--out", t.TempDir(), "--servers", "0"},
		{"simulate", "--out", t.TempDir(), "--dcs", "21"},
		{"simulate", "--out", t.TempDir(), "--config", "/nonexistent/org.yaml"},
		{"simulate", "--out", t.TempDir(), "--config", writeTemp(t, "org.yaml", "users: 5\nusrs: 6\n")},
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
		"zeek/http.log": "zeek-tsv", "zeek/ssl.log": "zeek-tsv", "kubernetes/audit.log": "k8s-audit",
		"aws/cloudtrail.json": "cloudtrail", "okta/system.json": "okta", "entra/signins.json": "entra-signin",
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

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSimulateHuntEval is the documented loop end to end: simulate, hunt with the
// built-in rules only (no behavioral models), score against the truth. The built-in pack must find the
// signature-shaped campaigns (not the beaconing one: that is behavioral) with no
// medium-or-higher signal outside a labelled episode.
func TestSimulateHuntEval(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "signals.jsonl")
	if code, _, errs := runCLI(t, "simulate", "--seed", "1", "--users", "60", "--days", "10", "--out", dir); code != ExitOK {
		t.Fatalf("simulate: exit %d: %s", code, errs)
	}
	code, sigs, errs := runCLI(t, "hunt", "--behavior=false", "--min-level", "medium", "--output", "jsonl", "--quiet", dir)
	if code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	if err := os.WriteFile(out, []byte(sigs), 0o600); err != nil {
		t.Fatal(err)
	}
	code, js, errs := runCLI(t, "eval", "--truth", filepath.Join(dir, "truth.json"), "--output", "json", out)
	if code != ExitOK {
		t.Fatalf("eval: exit %d: %s", code, errs)
	}
	var rep struct {
		CampaignRecall    struct{ N, D int } `json:"campaign_recall"`
		IncidentPrecision struct{ N, D int } `json:"incident_precision"`
		Campaigns         []struct {
			ID       string `json:"id"`
			Detected bool   `json:"detected"`
		} `json:"campaigns"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	if rep.CampaignRecall.D != len(sim.CampaignKinds()) {
		t.Errorf("%d campaigns in the truth, want %d", rep.CampaignRecall.D, len(sim.CampaignKinds()))
	}
	for _, c := range rep.Campaigns {
		if want := c.ID != "c2http"; c.Detected != want {
			t.Errorf("campaign %s: detected %v, want %v", c.ID, c.Detected, want)
		}
	}
	if rep.IncidentPrecision.D == 0 || rep.IncidentPrecision.N != rep.IncidentPrecision.D {
		t.Errorf("precision %d/%d: medium+ built-in rules fired outside the campaigns", rep.IncidentPrecision.N, rep.IncidentPrecision.D)
	}
}
