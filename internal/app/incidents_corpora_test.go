package app

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/detect"
)

// TestEVTXIncidentTactics is issue 6's known answer on real data: hunting the
// EVTX attack samples (one folder per ATT&CK tactic) with SigmaHQ's rules, the
// incidents touching a folder's files carry that folder's tactic. The floors are
// the measured shares (docs/CORRELATION.md) with a little slack; the misses are
// samples whose matching SigmaHQ rules are tagged with another tactic (a
// lateral-movement sample caught by an execution rule), not grouping errors:
// inferring tactics from the rules' technique tags adds none of them.
func TestEVTXIncidentTactics(t *testing.T) {
	root := decodetest.Corpora(t, "")
	samples := filepath.Join(root, "evtx-attack-samples")
	code, doc, errs := runCLI(t, "hunt", "--rules", filepath.Join(root, "sigma", "rules"), "--min-risk", "0", "--output", "json", samples)
	if code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	var res struct {
		Signals   []detect.Signal      `json:"signals"`
		Incidents []correlate.Incident `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(doc), &res); err != nil {
		t.Fatal(err)
	}
	folderOf := func(source string) string {
		rel, err := filepath.Rel(samples, source)
		if err != nil || strings.HasPrefix(rel, "..") {
			return ""
		}
		folder, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		return folder
	}
	// ATT&CK v18 split Defense Evasion into Stealth and Defense Impairment;
	// SigmaHQ tags the new ones, the sample folders keep the old name.
	tactics := map[string][]string{
		"Command and Control":  {"command-and-control"},
		"Credential Access":    {"credential-access"},
		"Defense Evasion":      {"defense-evasion", "stealth", "defense-impairment"},
		"Discovery":            {"discovery"},
		"Execution":            {"execution"},
		"Lateral Movement":     {"lateral-movement"},
		"Persistence":          {"persistence"},
		"Privilege Escalation": {"privilege-escalation"},
	}
	floor := map[string]float64{
		"Command and Control": 0.4, "Credential Access": 0.6, "Defense Evasion": 0.75, "Discovery": 0.5,
		"Execution": 0.85, "Lateral Movement": 0.45, "Persistence": 0.75, "Privilege Escalation": 0.7,
	}
	byID := make(map[string]*detect.Signal, len(res.Signals))
	for i := range res.Signals {
		byID[res.Signals[i].ID] = &res.Signals[i]
	}
	match, touch := map[string]int{}, map[string]int{}
	for _, inc := range res.Incidents {
		folders := map[string]bool{}
		for _, id := range inc.SignalIDs {
			s := byID[id]
			if s == nil {
				t.Fatalf("incident %s cites signal %s, which the output does not hold", inc.ID, id)
			}
			for _, ev := range s.Evidence {
				if f := folderOf(ev.Source); tactics[f] != nil {
					folders[f] = true
				}
			}
		}
		for f := range folders {
			touch[f]++
			if slices.ContainsFunc(tactics[f], func(tc string) bool { return slices.Contains(inc.Tactics, tc) }) {
				match[f]++
			}
		}
	}
	var m, n int
	for f := range tactics {
		share := float64(match[f]) / float64(max(touch[f], 1))
		t.Logf("%-21s %2d of %2d incidents carry the tactic (%.2f, floor %.2f)", f, match[f], touch[f], share, floor[f])
		if touch[f] == 0 || share < floor[f] {
			t.Errorf("%s: %d of %d incidents carry its tactic, below the floor %.2f", f, match[f], touch[f], floor[f])
		}
		m, n = m+match[f], n+touch[f]
	}
	t.Logf("%d signals into %d incidents; %d of %d folder incidents carry the folder's tactic", len(res.Signals), len(res.Incidents), m, n)
	if float64(m) < 0.68*float64(n) || len(res.Signals) < 8*len(res.Incidents) {
		t.Errorf("%d of %d incidents carry their folder's tactic (want >= 68%%); %d signals into %d incidents (want >= 8x)",
			m, n, len(res.Signals), len(res.Incidents))
	}
}
