package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate/risk"
	"github.com/vigilsec/vigil/internal/detect"
)

func TestEntityRiskOutput(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	sc, err := risk.New(risk.Config{})
	if err != nil {
		t.Fatal(err)
	}
	alice := detect.Entity{Kind: detect.EntityUser, Value: "alice@corp.example"}
	sigs := []detect.Signal{
		{ID: "s1", Time: t0, DetectorID: "sigma", RuleID: "r1", Title: "Password spraying", Severity: detect.SeverityMedium, Confidence: 0.8, Entities: []detect.Entity{alice}},
		{ID: "s2", Time: t0.Add(time.Hour), DetectorID: "behavior.first_seen", RuleID: "user_host", Title: "First host dc01 for alice@corp.example",
			Severity: detect.SeverityHigh, Confidence: 0.6, Entities: []detect.Entity{alice}},
		{ID: "s3", Time: t0.Add(time.Hour), DetectorID: "behavior.first_seen", RuleID: "user_host", Title: "First host ws-9 for bob@corp.example",
			Severity: detect.SeverityHigh, Confidence: 0.6, Entities: []detect.Entity{{Kind: detect.EntityUser, Value: "bob@corp.example"}}},
	}
	for _, s := range sigs[:2] {
		if err := sc.Add(risk.Contribution{Entity: alice, Time: s.Time, Severity: s.Severity, Confidence: s.Confidence,
			RuleID: s.DetectorID + "/" + s.RuleID, Privileged: true}); err != nil {
			t.Fatal(err)
		}
	}
	ents := EntityRisk(sc.Top(-1, t0.Add(time.Hour)), sigs)
	if len(ents) != 1 || len(ents[0].Rules) != 2 || ents[0].Rules[0].Title != "First host dc01 for alice@corp.example" ||
		ents[0].Rules[1].Title != "Password spraying" || len(ents[0].Modifiers) != 1 {
		t.Fatalf("entity risk: %+v", ents)
	}
	var buf bytes.Buffer
	if err := WriteRun(&buf, Table, Run{Signals: sigs, EntityRisk: ents}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"RISK  ENTITY", "user:alice@corp.example", "First host dc01 for alice@corp.example", "x1.5 privileged"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := WriteRun(&buf, JSON, Run{Signals: sigs, EntityRisk: ents}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		EntityRisk []EntityRiskOut `json:"entity_risk"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || len(doc.EntityRisk) != 1 || doc.EntityRisk[0].Score != ents[0].Score {
		t.Errorf("json: %v %+v", err, doc.EntityRisk)
	}
}
