package report

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/detect"
)

// ocsfGoldenFixture is the golden test's input: two signals (Sigma, behavioral)
// and one incident over them.
func ocsfGoldenFixture() ([]detect.Signal, []correlate.Incident) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	sigs := []detect.Signal{
		{ID: "s1", Time: t0, DetectorID: "sigma", DetectorVersion: "1+abc", RuleID: "r1", Title: "Password spraying",
			Severity: detect.SeverityMedium, Confidence: 0.6, Tactics: []string{"credential-access"}, Techniques: []string{"T1110.003"},
			Entities:    []detect.Entity{{Kind: detect.EntityIP, Value: "203.0.113.7"}, {Kind: detect.EntityUser, Value: "alice@corp.example"}},
			Explanation: detect.Explanation{Summary: "one address tried 40 accounts"},
			Evidence:    []detect.EvidenceRef{{EventID: "e1", Time: t0, Source: "sec.json", Offset: 10}}},
		{ID: "s2", Time: t0.Add(time.Hour), DetectorID: "behavior.first_seen", DetectorVersion: "1", RuleID: "first_seen.user_host",
			Title: "First host dc01 for alice", Severity: detect.SeverityHigh, Confidence: 0.8, Tactics: []string{"lateral-movement"},
			Entities: []detect.Entity{{Kind: detect.EntityUser, Value: "alice@corp.example"}, {Kind: detect.EntityHost, Value: "dc01"}}},
	}
	incs := []correlate.Incident{{ID: "inc-1", Title: "Credential access then Lateral movement from alice@corp.example on dc01 (2 signals)",
		Severity: detect.SeverityHigh, Confidence: 0.92, Risk: 42.4, FirstSeen: t0, LastSeen: t0.Add(time.Hour),
		Tactics: []string{"credential-access", "lateral-movement"}, Techniques: []string{"T1110.003"},
		Entities:  []detect.Entity{{Kind: detect.EntityUser, Value: "alice@corp.example"}, {Kind: detect.EntityHost, Value: "dc01"}},
		SignalIDs: []string{"s1", "s2"}}}
	return sigs, incs
}

func TestOCSF(t *testing.T) {
	sigs, incs := ocsfGoldenFixture()
	var buf bytes.Buffer
	if err := Results(&buf, OCSFL, sigs, incs, nil); err != nil {
		t.Fatal(err)
	}
	decodetest.Golden(t, "ocsf", buf.Bytes())
	// Every line is one finding with the fields OCSF requires of its class.
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 1 incident and 2 signals", len(lines))
	}
	for i, l := range lines {
		var f map[string]any
		if err := json.Unmarshal(l, &f); err != nil {
			t.Fatal(err)
		}
		wantClass := 2004.0
		if i == 0 {
			wantClass = 2005
		}
		for _, k := range []string{"activity_id", "category_uid", "class_uid", "type_uid", "severity_id", "time", "metadata"} {
			if _, ok := f[k]; !ok {
				t.Errorf("line %d lacks %s", i, k)
			}
		}
		if f["class_uid"] != wantClass || f["type_uid"] != wantClass*100+1 || f["category_uid"] != 2.0 {
			t.Errorf("line %d: class %v type %v category %v", i, f["class_uid"], f["type_uid"], f["category_uid"])
		}
	}
}
