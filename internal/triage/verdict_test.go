package triage

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

func TestBuiltinVerdictModel(t *testing.T) {
	m, err := BuiltinVerdictModel()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	sigs := []detect.Signal{
		{ID: "a", Time: t0, DetectorID: "sigma", RuleID: "r1", Severity: detect.SeverityCritical},
		{ID: "b", Time: t0.Add(time.Hour), DetectorID: "behavior.first_seen", RuleID: "x", Severity: detect.SeverityHigh},
		{ID: "c", Time: t0.Add(2 * time.Hour), DetectorID: "behavior.c2", RuleID: "y", Severity: detect.SeverityHigh},
	}
	attackLike := correlate.Incident{Risk: 35, Confidence: 0.95, Severity: detect.SeverityCritical, Tactics: []string{"execution", "credential-access", "lateral-movement"},
		FirstSeen: t0, LastSeen: t0.Add(2 * time.Hour), SignalIDs: []string{"a", "b", "c"}}
	attackLike.Progress.Score = 0.2
	noise := correlate.Incident{Risk: 3, Confidence: 0.3, Severity: detect.SeverityLow, FirstSeen: t0, LastSeen: t0, SignalIDs: []string{"b"}}
	if s := m.Suggest(attackLike, sigs); s.Verdict != "true_positive" || len(s.Because) == 0 || s.Model == "" {
		t.Errorf("attack-like incident: %+v", s)
	}
	if s := m.Suggest(noise, sigs); s.Verdict != "false_positive" || s.Confidence < 0.5 {
		t.Errorf("one weak signal: %+v", s)
	}
}

func TestFitRecoversSeparation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var rows [][]float64
	var y []float64
	for range 400 {
		row := make([]float64, len(FeatureNames))
		for j := range row {
			row[j] = r.NormFloat64()
		}
		p := 1 / (1 + math.Exp(-(2*row[0] - 1.5*row[5])))
		label := 0.0
		if r.Float64() < p {
			label = 1
		}
		rows, y = append(rows, row), append(y, label)
	}
	m, err := FitVerdictModel("test", "synthetic", rows, y, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if !(m.Weights[0] > 1 && m.Weights[5] < -0.7) {
		t.Errorf("weights %v: want risk strongly positive, severity strongly negative", m.Weights)
	}
	for j, w := range m.Weights {
		if j != 0 && j != 5 && math.Abs(w) > 0.5 {
			t.Errorf("noise feature %s got weight %.2f", FeatureNames[j], w)
		}
	}
	if _, err := FitVerdictModel("x", "y", nil, nil, 1); err == nil {
		t.Error("fitted nothing")
	}
}
