package secrets

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCorpora is a known answer on real third-party data: the shared corpora
// (SigmaHQ rules, EVTX attack samples, Zeek logs, Kubernetes manifests, OSV
// records, MaxMind test databases, ...) hold no credential, so every finding
// there is a false positive. (The CloudTrail records, which name AWS access key
// IDs, are zipped: binary, skipped.)
func TestCorpora(t *testing.T) {
	root := filepath.Join("..", "..", "..", "..", "shared", "corpora")
	if _, err := os.Stat(root); err != nil {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			t.Fatalf("corpora not found at %s: %v", root, err)
		}
		t.Skip("secrets: corpora not found")
	}
	if testing.Short() {
		t.Skip("reads 10,000 files")
	}
	fs, ps, st := scanDir(t, root, Options{})
	for _, f := range fs {
		t.Errorf("false positive: %s %s:%d %s", f.RuleID, f.Location.Path, f.Location.StartLine, f.Location.Snippet)
	}
	for _, p := range ps {
		t.Errorf("problem: %+v", p)
	}
	if st.Searched < 5000 {
		t.Errorf("only %d files searched: %+v", st.Searched, st)
	}
	t.Logf("%+v", st)
}
