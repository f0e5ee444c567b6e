package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const evalTruth = `{"version": 1, "generator": "test",
 "campaigns": [
  {"id": "c1", "name": "spray", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T20:00:00Z", "techniques": ["T1110.003"],
   "entities": [{"kind": "user", "value": "alice@corp.example"}],
   "events": [{"file": "windows/security.json", "offset": 10, "technique": "T1110.003"}]},
  {"id": "c2", "name": "beacon", "start": "2026-01-06T10:00:00Z", "end": "2026-01-06T20:00:00Z",
   "entities": [{"kind": "ip", "value": "203.0.113.7"}]}]}`

const evalSignals = `{"id":"s1","time":"2026-01-05T11:00:00Z","detector_id":"sigma","rule_id":"r1","title":"x","severity":"high","confidence":0.5,"explanation":{"summary":"x"},"evidence":[{"event_id":"e","time":"2026-01-05T11:00:00Z","source":"/ds/windows/security.json","offset":10}]}
{"id":"s2","time":"2026-01-09T11:00:00Z","detector_id":"sigma","rule_id":"r2","title":"y","severity":"low","confidence":0.5,"explanation":{"summary":"y"}}
`

func TestEvalCommand(t *testing.T) {
	dir := t.TempDir()
	truth := filepath.Join(dir, "truth.json")
	results := filepath.Join(dir, "signals.jsonl")
	bad := filepath.Join(dir, "bad.jsonl")
	for p, s := range map[string]string{truth: evalTruth, results: evalSignals, bad: evalSignals + "{oops\n"} {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := runCLI(t, "eval", "--truth", truth, results)
	if code != ExitOK || !strings.Contains(out, "0.500 (1/2)") || !strings.Contains(out, "each signal counted as one incident") {
		t.Fatalf("table: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "eval", results, "--output", "json", "--truth", truth, "--slack", "30m")
	var rep struct {
		SlackSeconds   float64 `json:"slack_seconds"`
		CampaignRecall struct {
			N, D int
		} `json:"campaign_recall"`
		IncidentPrecision struct{ N, D int } `json:"incident_precision"`
		Detectors         []struct{ Detector, Rule string }
	}
	if code != ExitOK {
		t.Fatalf("json: exit %d: %s", code, errs)
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.SlackSeconds != 1800 || rep.CampaignRecall.N != 1 || rep.CampaignRecall.D != 2 || rep.IncidentPrecision.D != 2 || len(rep.Detectors) != 3 {
		t.Errorf("%+v", rep)
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"eval", results}, ExitUsage, "--truth is required"},
		{[]string{"eval", "--truth", truth}, ExitUsage, "want one RESULTS"},
		{[]string{"eval", "--truth", truth, "--output", "xml", results}, ExitUsage, "want table or json"},
		{[]string{"eval", "--truth", truth, "--slack", "-1h", results}, ExitUsage, "negative"},
		{[]string{"eval", "--truth", filepath.Join(dir, "nope.json"), results}, ExitUsage, "no such file"},
		{[]string{"eval", "--truth", results, results}, ExitFailure, "ground truth " + results},
		{[]string{"eval", "--truth", truth, bad}, ExitFailure, bad + ":3"},
		{[]string{"help", "eval"}, ExitOK, "Usage: vigil eval"},
	} {
		code, out, errs := runCLI(t, tt.args...)
		if code != tt.code || !strings.Contains(out+errs, tt.want) {
			t.Errorf("vigil %v: exit %d (want %d), output lacks %q:\n%s%s", tt.args, code, tt.code, tt.want, out, errs)
		}
	}
}
