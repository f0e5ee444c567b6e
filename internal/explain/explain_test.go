package explain

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/correlate/risk"
	"github.com/vigilsec/vigil/internal/detect"
)

var update = flag.Bool("update", false, "rewrite the golden file")

func fixture() (correlate.Incident, []detect.Signal) {
	t0 := time.Date(2026, 3, 9, 14, 35, 0, 0, time.UTC)
	alice := detect.Entity{Kind: detect.EntityUser, Value: "alice@corp.example"}
	ws := detect.Entity{Kind: detect.EntityHost, Value: "ws-042"}
	dc := detect.Entity{Kind: detect.EntityHost, Value: "dc01"}
	sigs := []detect.Signal{
		{ID: "s1", Time: t0, DetectorID: "sigma", RuleID: "spray", Title: "Password Spraying From One Address", Severity: detect.SeverityMedium,
			Confidence: 0.6, Tactics: []string{"credential-access"}, Techniques: []string{"t1110.003"}, Entities: []detect.Entity{alice, {Kind: detect.EntityIP, Value: "203.0.113.9"}},
			Explanation: detect.Explanation{Summary: `Sigma rule "Password Spraying" matched (selection)`, Matches: []detect.FieldMatch{{Field: "event.code", Value: "4625"}},
				BenignIf: []string{"A misconfigured service retrying an old password"}}},
		{ID: "s2", Time: t0.Add(2 * time.Minute), DetectorID: "sigma", RuleID: "spray", Title: "Password Spraying From One Address", Severity: detect.SeverityMedium,
			Confidence: 0.6, Tactics: []string{"credential-access"}, Entities: []detect.Entity{alice, {Kind: detect.EntityIP, Value: "203.0.113.9"}}},
		{ID: "s3", Time: t0.Add(40 * time.Minute), DetectorID: "behavior.first_seen", RuleID: "first_seen.user_host", Title: "First logon of alice@corp.example on dc01",
			Severity: detect.SeverityHigh, Confidence: 0.7, Tactics: []string{"lateral-movement"}, Techniques: []string{"T1021.002"}, Entities: []detect.Entity{alice, dc},
			Explanation: detect.Explanation{Summary: "alice@corp.example signed in to dc01 for the first time", Expected: "ws-042 (30 days)", Observed: "dc01"}},
		{ID: "s4", Time: t0.Add(3 * time.Hour), DetectorID: "sigma", RuleID: "lsass", Title: "LSASS Memory Read", Severity: detect.SeverityCritical,
			Confidence: 0.8, Tactics: []string{"credential-access"}, Techniques: []string{"T1003.001"}, Entities: []detect.Entity{alice, dc},
			Explanation: detect.Explanation{Summary: `Sigma rule "LSASS Memory Read" matched (selection)`}},
	}
	inc := correlate.Incident{ID: "inc-1", Title: "Credential access then Lateral movement from alice@corp.example on dc01 (4 signals, 3 distinct)",
		Risk: 41, Confidence: 0.976, Severity: detect.SeverityCritical, FirstSeen: t0, LastSeen: t0.Add(3 * time.Hour),
		Tactics: []string{"credential-access", "lateral-movement"}, Techniques: []string{"t1110.003", "T1021.002", "T1003.001"},
		Entities: []detect.Entity{alice, dc, {Kind: detect.EntityIP, Value: "203.0.113.9"}, ws}, SignalIDs: []string{"s1", "s2", "s3", "s4"}}
	return inc, sigs
}

func TestExplainGolden(t *testing.T) {
	inc, sigs := fixture()
	ctx := func(e detect.Entity) (risk.Criticality, bool) {
		switch e.Value {
		case "dc01":
			return risk.CriticalityExtreme, false
		case "alice@corp.example":
			return risk.CriticalityUnknown, true
		}
		return risk.CriticalityUnknown, false
	}
	got, err := json.MarshalIndent(Explain(inc, sigs, ctx), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "explain.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, append(got, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -args -update to create it)", err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
		t.Errorf("explanation differs from %s:\n%s", golden, got)
	}
}

func TestExplainContent(t *testing.T) {
	inc, sigs := fixture()
	ex := Explain(inc, sigs, nil)
	if len(ex.Reasons) != 3 || ex.Reasons[0].Title != "LSASS Memory Read" {
		t.Errorf("reasons: %+v", ex.Reasons)
	}
	for _, r := range ex.Reasons {
		if r.Rule == "spray" && r.Repeats != 1 {
			t.Errorf("spray repeats %d, want 1", r.Repeats)
		}
	}
	if len(ex.Timeline) != 2 || ex.Timeline[0].Name != "Credential Access" || ex.Timeline[1].Name != "Lateral Movement" {
		t.Errorf("timeline: %+v", ex.Timeline)
	}
	if len(ex.Attack) != 2 || len(ex.Attack[0].Techniques) != 2 || ex.Attack[1].Techniques[0].Name == "" {
		t.Errorf("attack: %+v", ex.Attack)
	}
	for _, want := range []string{"It moves through Credential Access, then Lateral Movement", "expected ws-042 (30 days); observed dc01",
		"Risk 41 of 100", "high (0.98: 3 distinct signals)", "benign if"} {
		if !strings.Contains(ex.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, ex.Text)
		}
	}
	if len(ex.BenignIf) != 2 {
		t.Errorf("benign causes: %q", ex.BenignIf)
	}
	// Signals the caller does not have are left out, not invented.
	if ex := Explain(inc, sigs[:1], nil); len(ex.Reasons) != 1 {
		t.Errorf("with one signal given: %d reasons", len(ex.Reasons))
	}
}
