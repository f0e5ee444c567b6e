package app

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// TestVerdictsReachBaselines is "this is normal" end to end: hunt a simulated
// organisation's first week with --data-dir, check that every behavioral signal
// names a baseline its model takes feedback for, give benign verdicts on them,
// and hunt the rest: the verdicts reach the models before the new events do,
// none of the marked findings comes back, and the registry shows each model's
// training window.
func TestVerdictsReachBaselines(t *testing.T) {
	geo := geoipDir(t)
	sim := t.TempDir()
	if code, _, errs := runCLI(t, "simulate", "--seed", "1", "--users", "60", "--days", "10", "--out", sim); code != ExitOK {
		t.Fatalf("simulate: exit %d: %s", code, errs)
	}
	ids := filepath.Join(sim, "identities.csv")
	data := t.TempDir()
	const split = "2026-03-09"
	code, out, errs := runCLI(t, "hunt", "--identities", ids, "--geoip", geo, "--until", split, "--data-dir", data, "--output", "jsonl", "--quiet", sim)
	if code != ExitOK {
		t.Fatalf("hunt --until: exit %d: %s", code, errs)
	}
	first := readSignals(t, out)
	type key struct{ detector, entity, attribute string }
	var behavioral []detect.Signal
	for _, s := range first {
		if !strings.HasPrefix(s.DetectorID, "behavior.") {
			if s.Baseline != (detect.Baseline{}) {
				t.Errorf("%s signal carries a baseline %+v", s.DetectorID, s.Baseline)
			}
			continue
		}
		if s.Baseline.LearnedFrom.IsZero() || s.Baseline.LearnedFrom.After(s.Time) {
			t.Errorf("%s %s: training window starts at %v", s.DetectorID, s.RuleID, s.Baseline.LearnedFrom)
		}
		if s.Baseline.Entity == "" && s.Baseline.Attribute == "" {
			t.Errorf("%s %s names no baseline to mark normal", s.DetectorID, s.RuleID)
			continue
		}
		behavioral = append(behavioral, s)
	}
	if len(behavioral) < 10 {
		t.Fatalf("only %d behavioral signals before %s", len(behavioral), split)
	}

	// Every key a signal names is one its model, restored from the store, takes.
	st, err := sqlite.Open(t.Context(), sqlite.Options{Dir: data})
	if err != nil {
		t.Fatal(err)
	}
	eng, closeBeh, err := buildBehavior(behaviorOptions{enabled: true, identities: ids, geoip: geo}, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := restoreBehavior(t.Context(), st, eng); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	marked := map[key]bool{}
	for _, s := range behavioral {
		known, taken := eng.MarkNormalFor(s.DetectorID, s.Baseline.Entity, s.Baseline.Attribute, s.Time)
		if !known || !taken {
			t.Errorf("%s %s: baseline %+v: model known %v, took the feedback %v", s.DetectorID, s.RuleID, s.Baseline, known, taken)
		}
		marked[key{s.DetectorID, s.Baseline.Entity, s.Baseline.Attribute}] = true
	}
	closeBeh()

	for _, s := range behavioral {
		if code, _, errs := runCLI(t, "feedback", "add", "--data-dir", data, "--signal", s.ID, "--verdict", "btp", "--reason", "expected here"); code != ExitOK {
			t.Fatalf("feedback add: exit %d: %s", code, errs)
		}
	}
	code, out, errs = runCLI(t, "hunt", "--identities", ids, "--geoip", geo, "--since", split, "--data-dir", data, "--output", "jsonl", sim)
	if code != ExitOK {
		t.Fatalf("hunt --since: exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "baselines marked normal by analysts' verdicts") {
		t.Errorf("the second run does not report the verdicts reaching the models:\n%s", errs)
	}
	if !strings.Contains(errs, "more events decoded outside --since/--until") {
		t.Errorf("the summary does not count the events outside the window:\n%s", errs)
	}
	since, err := time.Parse(time.DateOnly, split)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range readSignals(t, out) {
		if s.Time.Before(since) {
			t.Errorf("signal %s at %v: before --since", s.ID, s.Time)
		}
		if marked[key{s.DetectorID, s.Baseline.Entity, s.Baseline.Attribute}] {
			t.Errorf("%s %s on %+v reported again after a benign verdict", s.DetectorID, s.RuleID, s.Baseline)
		}
	}

	code, js, errs := runCLI(t, "models", "--data-dir", data, "--output", "json")
	if code != ExitOK {
		t.Fatalf("models: exit %d: %s", code, errs)
	}
	var entries []ModelEntry
	if err := json.Unmarshal([]byte(js), &entries); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Stored && strings.HasPrefix(e.ID, "behavior.") && (e.Since.IsZero() || !e.Since.Before(e.Learned)) {
			t.Errorf("model %s: training window %v to %v", e.ID, e.Since, e.Learned)
		}
	}
}

func readSignals(t *testing.T, jsonl string) []detect.Signal {
	t.Helper()
	var out []detect.Signal
	sc := bufio.NewScanner(strings.NewReader(jsonl))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var s detect.Signal
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		out = append(out, s)
	}
	return out
}
