package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

func TestResults(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	sigs := []detect.Signal{
		{ID: "s1", Time: t0, DetectorID: "sigma", RuleID: "r1", Title: "Password spraying", Severity: detect.SeverityMedium},
		{ID: "s2", Time: t0.Add(time.Minute), DetectorID: "sigma", RuleID: "r1", Title: "Password spraying", Severity: detect.SeverityMedium},
		{ID: "s3", Time: t0.Add(time.Hour), DetectorID: "behavior.first_seen", RuleID: "x", Title: "First host dc01 for alice", Severity: detect.SeverityHigh},
	}
	incs := []correlate.Incident{
		{ID: "inc-b", Title: "Low", Risk: 12, FirstSeen: t0, LastSeen: t0, SignalIDs: []string{"s1"}},
		{ID: "inc-a", Title: "Credential access then Lateral movement from alice", Risk: 30, Severity: detect.SeverityHigh,
			FirstSeen: t0, LastSeen: t0.Add(time.Hour), SignalIDs: []string{"s1", "s2", "s3"}},
	}
	SortIncidents(incs)
	if incs[0].ID != "inc-a" {
		t.Fatalf("ranked %s first, want the riskier inc-a", incs[0].ID)
	}
	var buf bytes.Buffer
	if err := Results(&buf, JSON, sigs, incs, nil); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Signals   []detect.Signal `json:"signals"`
		Incidents []struct {
			ID    string    `json:"id"`
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
			Why   string    `json:"why"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	in := doc.Incidents[0]
	if len(doc.Signals) != 3 || in.ID != "inc-a" || !in.Start.Equal(t0) || !in.End.Equal(t0.Add(time.Hour)) ||
		in.Why != "First host dc01 for alice (high); Password spraying (medium)" {
		t.Errorf("document: %+v", doc.Incidents)
	}
	buf.Reset()
	if err := Results(&buf, Table, sigs, incs, nil); err != nil {
		t.Fatal(err)
	}
	table := buf.String()
	for _, want := range []string{"RISK  SEVERITY", "30    high", "Credential access then Lateral movement from alice", "TIME  "} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	buf.Reset()
	if err := Results(&buf, JSONL, sigs, incs, nil); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 3 || strings.Contains(buf.String(), "inc-a") {
		t.Errorf("jsonl: %d lines, incidents included: %s", n, buf.String())
	}
}
