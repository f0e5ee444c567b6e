package app

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/eval"
	"github.com/vigilsec/vigil/internal/triage"
)

var trainVerdict = flag.String("train-verdict", "", "simulation dirs (separated by the OS list separator) with results.json from hunt --min-risk 0 --output json: fit the verdict model and write internal/triage/verdict_model.json")

// labelledRows turns a hunt's results and the simulation's truth into the
// verdict model's rows: an incident matching a campaign is true (1), any other
// false (0).
func labelledRows(t *testing.T, truthPath, resultsPath string) (rows [][]float64, y []float64) {
	t.Helper()
	tf, err := os.Open(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := eval.ReadTruth(tf, truthPath)
	tf.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(resultsPath)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Signals   []detect.Signal      `json:"signals"`
		Incidents []correlate.Incident `json:"incidents"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	rep := score(truth, eval.DefaultSlack, res.Signals, res.Incidents)
	isTrue := map[string]bool{}
	for _, m := range rep.Matches {
		isTrue[m.ID] = len(m.Campaigns) > 0
	}
	for _, inc := range res.Incidents {
		rows = append(rows, triage.Features(inc, res.Signals))
		if isTrue[inc.ID] {
			y = append(y, 1)
		} else {
			y = append(y, 0)
		}
	}
	return rows, y
}

// TestTrainVerdictModel fits the shipped verdict model when asked:
//
//	go test ./internal/app -run TestTrainVerdictModel -args -train-verdict DIR1:DIR2:...
//
// where each DIR holds truth.json and results.json (vigil hunt --min-risk 0
// --output json DIR > DIR/results.json).
func TestTrainVerdictModel(t *testing.T) {
	if *trainVerdict == "" {
		t.Skip("fits the shipped model only with -train-verdict")
	}
	var rows [][]float64
	var y []float64
	var dirs []string
	for _, d := range filepath.SplitList(*trainVerdict) {
		r, l := labelledRows(t, filepath.Join(d, "truth.json"), filepath.Join(d, "results.json"))
		rows, y = append(rows, r...), append(y, l...)
		dirs = append(dirs, filepath.Base(d))
	}
	pos := 0.0
	for _, v := range y {
		pos += v
	}
	m, err := triage.FitVerdictModel("logistic-v1", fmt.Sprintf("%d incidents (%.0f true) from simulations %v", len(y), pos, dirs), rows, y, 1.0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "triage", "verdict_model.json"), append(b, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("fitted on %d incidents (%.0f true): %s", len(y), pos, b)
}

// calibration is the Brier score and expected calibration error (10 bins) of
// probabilities p against outcomes y.
func calibration(p, y []float64) (brier, ece float64) {
	var bins [10]struct{ n, sp, sy float64 }
	for i := range p {
		brier += (p[i] - y[i]) * (p[i] - y[i])
		b := min(int(p[i]*10), 9)
		bins[b].n++
		bins[b].sp += p[i]
		bins[b].sy += y[i]
	}
	for _, b := range bins {
		if b.n > 0 {
			ece += b.n / float64(len(p)) * math.Abs(b.sp/b.n-b.sy/b.n)
		}
	}
	return brier / float64(len(p)), ece
}

var holdout = flag.String("verdict-holdout", "", "DIR:DIR...: report the shipped verdict model's calibration on these simulations (truth.json, results.json)")

// suggestedRows reads a hunt's suggested verdicts and the truth's labels.
func suggestedRows(t *testing.T, truthPath, resultsPath string) (p, y []float64) {
	t.Helper()
	rows, labels := labelledRows(t, truthPath, resultsPath)
	b, err := os.ReadFile(resultsPath)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Incidents []struct {
			Suggested *triage.Suggestion `json:"suggested_verdict"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Incidents) != len(rows) {
		t.Fatalf("%d incidents, %d rows", len(res.Incidents), len(rows))
	}
	for i, in := range res.Incidents {
		if in.Suggested == nil || in.Suggested.Verdict == "" || in.Suggested.Confidence < 0.5 || in.Suggested.Confidence > 1 || in.Suggested.Model == "" {
			t.Fatalf("incident %d: suggestion %+v", i, in.Suggested)
		}
		p = append(p, in.Suggested.PTrue)
	}
	return p, labels
}

// TestVerdictCalibration: on a simulation the model was not fitted on (another
// seed and size), the suggested verdicts beat the base rate (Brier score) and
// are calibrated (expected calibration error); every incident carries one.
func TestVerdictCalibration(t *testing.T) {
	dirs := filepath.SplitList(*holdout)
	if len(dirs) == 0 {
		dir, _ := simSignals(t)
		code, doc, errs := runCLI(t, "hunt", "--identities", filepath.Join(dir, "identities.csv"), "--min-risk", "0", "--output", "json", dir)
		if code != ExitOK {
			t.Fatalf("hunt: exit %d: %s", code, errs)
		}
		if err := os.WriteFile(filepath.Join(dir, "results.json"), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		dirs = []string{dir}
	}
	for _, d := range dirs {
		p, y := suggestedRows(t, filepath.Join(d, "truth.json"), filepath.Join(d, "results.json"))
		base := 0.0
		correct := 0
		for i := range y {
			base += y[i]
			if (p[i] >= 0.5) == (y[i] == 1) {
				correct++
			}
		}
		base /= float64(len(y))
		baseP := make([]float64, len(y))
		for i := range baseP {
			baseP[i] = base
		}
		brier, ece := calibration(p, y)
		baseBrier, _ := calibration(baseP, y)
		t.Logf("%s: %d incidents (%.0f%% true): accuracy %.2f, Brier %.3f (base rate %.3f), ECE %.3f",
			filepath.Base(d), len(y), 100*base, float64(correct)/float64(len(y)), brier, baseBrier, ece)
		if brier >= baseBrier || ece > 0.2 {
			t.Errorf("%s: Brier %.3f (base rate %.3f), ECE %.3f: not better than guessing the base rate, or not calibrated", d, brier, baseBrier, ece)
		}
	}
}
