package triage

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

// Suggestion is the triage agent's suggested verdict for an incident. It never
// acts on it: closing, suppressing or escalating stays a person's decision (or
// an explicit policy's).
type Suggestion struct {
	Verdict string `json:"verdict"` // "true_positive" or "false_positive"
	// Confidence is the calibrated probability of the suggested verdict (at
	// least 0.5); PTrue the probability the incident is a true positive.
	Confidence float64 `json:"confidence"`
	PTrue      float64 `json:"p_true"`
	// Because lists the features that moved the probability most, strongest
	// first ("risk 41 (+1.9)").
	Because []string `json:"because"`
	Model   string   `json:"model"` // the model's name and training set
}

// VerdictModel is a logistic regression over an incident's features.
type VerdictModel struct {
	Name     string    `json:"name"`
	Trained  string    `json:"trained"` // on what, for the model registry
	Features []string  `json:"features"`
	Mean     []float64 `json:"mean"` // standardisation
	Scale    []float64 `json:"scale"`
	Weights  []float64 `json:"weights"`
	Bias     float64   `json:"bias"`
}

//go:embed verdict_model.json
var verdictModelJSON []byte

// BuiltinVerdictModel is the model shipped in the binary.
func BuiltinVerdictModel() (*VerdictModel, error) {
	var m VerdictModel
	if err := json.Unmarshal(verdictModelJSON, &m); err != nil {
		return nil, fmt.Errorf("loading the built-in verdict model: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks the model's shape.
func (m *VerdictModel) Validate() error {
	n := len(FeatureNames)
	if len(m.Features) != n || len(m.Mean) != n || len(m.Scale) != n || len(m.Weights) != n {
		return fmt.Errorf("verdict model %q: want %d features", m.Name, n)
	}
	for i, f := range m.Features {
		if f != FeatureNames[i] {
			return fmt.Errorf("verdict model %q: feature %d is %q, want %q", m.Name, i, f, FeatureNames[i])
		}
		if !(m.Scale[i] > 0) || math.IsNaN(m.Weights[i]) || math.IsInf(m.Weights[i], 0) || math.IsNaN(m.Mean[i]) {
			return fmt.Errorf("verdict model %q: feature %s has a bad scale or weight", m.Name, f)
		}
	}
	return nil
}

// FeatureNames are the incident features the verdict model reads, in order.
var FeatureNames = []string{
	"risk", "progression", "tactics", "distinct_signals", "detectors", "max_severity",
	"behavioral_share", "sigma_high", "confidence", "hours",
}

// Features measures an incident (from its signals among signals).
func Features(inc correlate.Incident, signals []detect.Signal) []float64 {
	byID := make(map[string]*detect.Signal, len(signals))
	for i := range signals {
		byID[signals[i].ID] = &signals[i]
	}
	detectors := map[string]bool{}
	distinct := map[string]bool{}
	var n, behavioral, sigmaHigh float64
	for _, id := range inc.SignalIDs {
		s := byID[id]
		if s == nil {
			continue
		}
		n++
		detectors[s.DetectorID] = true
		distinct[s.DetectorID+"\x00"+s.RuleID] = true
		if strings.HasPrefix(s.DetectorID, "behavior.") {
			behavioral++
		}
		if s.DetectorID == "sigma" && s.Severity >= detect.SeverityHigh {
			sigmaHigh = 1
		}
	}
	share := 0.0
	if n > 0 {
		share = behavioral / n
	}
	return []float64{
		inc.Risk / 100,
		inc.Progress.Score,
		float64(len(inc.Tactics)),
		math.Log1p(float64(len(distinct))),
		float64(len(detectors)),
		float64(inc.Severity) / 4,
		share,
		sigmaHigh,
		inc.Confidence,
		math.Log1p(inc.LastSeen.Sub(inc.FirstSeen).Hours()),
	}
}

// Suggest gives the suggested verdict for inc.
func (m *VerdictModel) Suggest(inc correlate.Incident, signals []detect.Signal) Suggestion {
	x := Features(inc, signals)
	z := m.Bias
	type part struct {
		name string
		raw  float64
		c    float64
	}
	parts := make([]part, len(x))
	for i := range x {
		c := m.Weights[i] * (x[i] - m.Mean[i]) / m.Scale[i]
		z += c
		parts[i] = part{m.Features[i], x[i], c}
	}
	p := 1 / (1 + math.Exp(-z))
	s := Suggestion{PTrue: p, Model: m.Name + " (" + m.Trained + ")"}
	if p >= 0.5 {
		s.Verdict, s.Confidence = "true_positive", p
	} else {
		s.Verdict, s.Confidence = "false_positive", 1-p
	}
	slices.SortStableFunc(parts, func(a, b part) int {
		return -cmpFloat(math.Abs(a.c), math.Abs(b.c))
	})
	for i, pt := range parts {
		if i == 3 || math.Abs(pt.c) < 0.05 {
			break
		}
		s.Because = append(s.Because, fmt.Sprintf("%s %s (%+.1f)", pt.name, formatFeature(pt.name, pt.raw), pt.c))
	}
	return s
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func formatFeature(name string, v float64) string {
	switch name {
	case "risk":
		return fmt.Sprintf("%.0f", 100*v)
	case "distinct_signals":
		return fmt.Sprintf("%.0f", math.Expm1(v))
	case "hours":
		return fmt.Sprintf("%.1fh", math.Expm1(v))
	case "tactics", "detectors", "sigma_high":
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// FitVerdictModel fits the logistic regression to labelled feature rows
// (y = 1 for a true incident) by Newton's method with a small ridge penalty,
// standardising each feature first. It is how verdict_model.json is made
// (see the app package's training test) and how a site could refit on its own
// analysts' verdicts.
func FitVerdictModel(name, trained string, rows [][]float64, y []float64, ridge float64) (*VerdictModel, error) {
	n, d := len(rows), len(FeatureNames)
	if n == 0 || len(y) != n {
		return nil, fmt.Errorf("fitting the verdict model: %d rows, %d labels", n, len(y))
	}
	m := &VerdictModel{Name: name, Trained: trained, Features: slices.Clone(FeatureNames),
		Mean: make([]float64, d), Scale: make([]float64, d), Weights: make([]float64, d)}
	for j := range d {
		for _, r := range rows {
			m.Mean[j] += r[j]
		}
		m.Mean[j] /= float64(n)
		for _, r := range rows {
			m.Scale[j] += (r[j] - m.Mean[j]) * (r[j] - m.Mean[j])
		}
		m.Scale[j] = math.Sqrt(m.Scale[j] / float64(n))
		if m.Scale[j] < 1e-9 {
			m.Scale[j] = 1
		}
	}
	z := make([][]float64, n)
	for i, r := range rows {
		z[i] = make([]float64, d+1)
		z[i][0] = 1
		for j := range d {
			z[i][j+1] = (r[j] - m.Mean[j]) / m.Scale[j]
		}
	}
	w := make([]float64, d+1)
	for iter := 0; iter < 50; iter++ {
		g := make([]float64, d+1)
		h := make([][]float64, d+1)
		for k := range h {
			h[k] = make([]float64, d+1)
		}
		for i := range z {
			var s float64
			for k := range w {
				s += w[k] * z[i][k]
			}
			p := 1 / (1 + math.Exp(-s))
			for k := range w {
				g[k] += (p - y[i]) * z[i][k]
				for l := range w {
					h[k][l] += p * (1 - p) * z[i][k] * z[i][l]
				}
			}
		}
		for k := 1; k <= d; k++ { // no penalty on the intercept
			g[k] += ridge * w[k]
			h[k][k] += ridge
		}
		step, err := solve(h, g)
		if err != nil {
			return nil, fmt.Errorf("fitting the verdict model: %w", err)
		}
		var size float64
		for k := range w {
			w[k] -= step[k]
			size += step[k] * step[k]
		}
		if size < 1e-16 {
			break
		}
	}
	m.Bias = w[0]
	copy(m.Weights, w[1:])
	return m, m.Validate()
}

// solve solves a x = b by Gaussian elimination with partial pivoting.
func solve(a [][]float64, b []float64) ([]float64, error) {
	n := len(b)
	m := make([][]float64, n)
	for i := range a {
		m[i] = append(slices.Clone(a[i]), b[i])
	}
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		if math.Abs(m[p][c]) < 1e-12 {
			return nil, fmt.Errorf("singular system at column %d", c)
		}
		m[c], m[p] = m[p], m[c]
		for r := c + 1; r < n; r++ {
			f := m[r][c] / m[c][c]
			for k := c; k <= n; k++ {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	x := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		s := m[r][n]
		for k := r + 1; k < n; k++ {
			s -= m[r][k] * x[k]
		}
		x[r] = s / m[r][r]
	}
	return x, nil
}
