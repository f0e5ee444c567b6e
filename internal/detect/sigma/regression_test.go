package sigma_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/evtx"
	"github.com/vigilsec/vigil/internal/decode/winevt"
	"github.com/vigilsec/vigil/internal/detect/sigma"
	"github.com/vigilsec/vigil/internal/event"
)

// ruleDirs are the SigmaHQ rule directories the regression data covers.
var ruleDirs = []string{"rules", "rules-emerging-threats", "rules-threat-hunting", "rules-compliance"}

var (
	corpusOnce sync.Once
	corpusRS   *sigma.Ruleset
	corpusErr  error
)

// sigmaHQ compiles the SigmaHQ rules once per test binary.
func sigmaHQ(t *testing.T) *sigma.Ruleset {
	t.Helper()
	var paths []string
	for _, d := range ruleDirs {
		paths = append(paths, decodetest.Corpora(t, "sigma/"+d))
	}
	corpusOnce.Do(func() {
		var c *sigma.Collection
		if c, corpusErr = sigma.Load(paths...); corpusErr == nil {
			corpusRS, corpusErr = sigma.Compile(c, sigma.Options{})
		}
	})
	if corpusErr != nil {
		t.Fatal(corpusErr)
	}
	return corpusRS
}

type regressionCase struct {
	dir     string
	ruleIDs []string
}

func regressionCases(t *testing.T) []regressionCase {
	root := decodetest.Corpora(t, "sigma/regression_data")
	var out []regressionCase
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "info.yml" {
			return err
		}
		var info struct {
			RuleMetadata []struct {
				ID string `yaml:"id"`
			} `yaml:"rule_metadata"`
		}
		data, err := readFile(p)
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(data, &info); err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		rc := regressionCase{dir: filepath.Dir(p)}
		for _, m := range info.RuleMetadata {
			rc.ruleIDs = append(rc.ruleIDs, m.ID)
		}
		out = append(out, rc)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRegressionData checks SigmaHQ's known answers: every regression sample fires
// the rule it was recorded for, from the .evtx file and from the evtx_dump .json file.
func TestRegressionData(t *testing.T) {
	rs := sigmaHQ(t)
	cases := regressionCases(t)
	m := rs.NewMatcher()
	total := map[string]int{}
	fired := map[string]int{}
	for _, rc := range cases {
		files, _ := filepath.Glob(filepath.Join(rc.dir, "*"))
		for _, f := range files {
			var d decode.Decoder
			kind := filepath.Ext(f)
			switch kind {
			case ".evtx":
				d = evtx.New()
			case ".json":
				d = winevt.NewEvtxDump()
			default:
				continue
			}
			total[kind]++
			s, err := decodetest.DecodeFile(t, d, f)
			if err != nil || len(s.Events) == 0 {
				t.Errorf("%s: %d events, err %v, rejects %v", f, len(s.Events), err, s.Reasons())
				continue
			}
			got := map[string]bool{}
			for _, e := range s.Events {
				m.Match(e, func(h *sigma.Hit) { got[h.Rule.ID] = true })
			}
			ok := true
			for _, id := range rc.ruleIDs {
				if !got[id] {
					ok = false
					t.Errorf("%s: rule %s did not fire (%s)", rel(f), id, describeEvents(s.Events))
				}
			}
			if ok {
				fired[kind]++
			}
		}
	}
	t.Logf("regression samples firing their rule: evtx %d/%d, json %d/%d",
		fired[".evtx"], total[".evtx"], fired[".json"], total[".json"])
	if total[".evtx"] < 190 || total[".json"] < 190 {
		t.Errorf("only %v samples found", total)
	}
}

func rel(p string) string {
	if i := strings.Index(p, "regression_data/"); i >= 0 {
		return p[i+len("regression_data/"):]
	}
	return p
}

func describeEvents(es []*event.Event) string {
	var parts []string
	for _, e := range es {
		ch, _ := event.Lookup("Channel").String(e)
		id, _ := event.Lookup("EventID").String(e)
		parts = append(parts, ch+"/"+id)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }
