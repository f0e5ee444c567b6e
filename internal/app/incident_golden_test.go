package app

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite internal/app/testdata/incidents.golden")

// TestHuntIncidentContentGolden pins what an analyst reads for each incident of
// a small simulated organisation: title, risk, suggested verdict, the plain
// explanation and the next steps. Regenerate with -args -update-golden after a
// deliberate change to correlation, explanations, playbooks or the verdict model.
func TestHuntIncidentContentGolden(t *testing.T) {
	dir, _ := simSignals(t)
	code, doc, errs := runCLI(t, "hunt", "--identities", filepath.Join(dir, "identities.csv"), "--output", "json", dir)
	if code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	var res struct {
		Incidents []struct {
			Title       string  `json:"title"`
			Risk        float64 `json:"risk"`
			Explanation struct {
				Text     string   `json:"text"`
				BenignIf []string `json:"benign_if"`
			} `json:"explanation"`
			Suggested struct {
				Verdict    string   `json:"verdict"`
				Confidence float64  `json:"confidence"`
				Because    []string `json:"because"`
			} `json:"suggested_verdict"`
			NextSteps []struct {
				Title  string `json:"title"`
				LookAt string `json:"look_at"`
			} `json:"next_steps"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(doc), &res); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i, in := range res.Incidents {
		fmt.Fprintf(&b, "## %d. %s\nrisk %.1f; suggested %s (%.2f) because %s\n\n%s\n\nbenign if:\n", i+1, in.Title, in.Risk,
			in.Suggested.Verdict, in.Suggested.Confidence, strings.Join(in.Suggested.Because, "; "), in.Explanation.Text)
		for _, bi := range in.Explanation.BenignIf {
			fmt.Fprintf(&b, "- %s\n", bi)
		}
		b.WriteString("\nnext steps:\n")
		for j, st := range in.NextSteps {
			fmt.Fprintf(&b, "%d. %s: %s\n", j+1, st.Title, st.LookAt)
		}
		b.WriteString("\n")
	}
	golden := filepath.Join("testdata", "incidents.golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -args -update-golden to create it)", err)
	}
	if string(want) != b.String() {
		_ = os.WriteFile(filepath.Join(t.TempDir(), "got"), []byte(b.String()), 0o600)
		if d := os.Getenv("VIGIL_GOLDEN_GOT"); d != "" {
			_ = os.WriteFile(d, []byte(b.String()), 0o600)
		}
		t.Errorf("incident content differs from %s (rerun with -args -update-golden if deliberate):\n%s", golden, b.String())
	}
}
