package behavior

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/zeek"
	"github.com/vigilsec/vigil/internal/detect"
)

// ritaObs decodes the conn, open_conn, http and ssl logs of one day of RITA's
// "missing host" capture with the project's Zeek decoder and extracts the
// observations as the engine's collector does.
func ritaObs(t *testing.T, day string) []Obs {
	t.Helper()
	root := decodetest.Corpora(t, "zeek/rita-missing-host")
	var obs []Obs
	for _, lt := range []string{"conn", "open_conn", "http", "ssl"} {
		files, err := filepath.Glob(filepath.Join(root, day, lt+".*.log.gz"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 24 {
			t.Fatalf("%d %s logs for %s, want 24", len(files), lt, day)
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(fh)
			if err != nil {
				t.Fatalf("opening %s: %v", f, err)
			}
			b, err := io.ReadAll(zr)
			_ = fh.Close()
			if err != nil {
				t.Fatalf("reading %s: %v", f, err)
			}
			s, err := decodetest.Decode(t, zeek.NewTSV(), filepath.Base(f), b)
			if err != nil {
				t.Fatalf("decoding %s: %v", f, err)
			}
			var o Obs
			for _, e := range s.Events {
				if Extract(e, &o) {
					obs = append(obs, o)
				}
			}
		}
	}
	slices.SortFunc(obs, func(a, b Obs) int {
		if a.less(&b) {
			return -1
		}
		if b.less(&a) {
			return 1
		}
		return 0
	})
	return obs
}

// TestC2RITAMissingHost: the known answer of RITA's "missing host" sample (the
// README in the corpus folder) through the engine: the HTTP connection from
// 73.54.23.243 to 64.225.56.201 beaconing every 200-350 s with a blank Host
// header is the top beacon, and its "Modzilla/0.0001 (Atari 7800)" agent the top
// rare user agent. (The sensor faces the internet: scanners and NTP also look
// periodic and are reported below it, as RITA lists them.)
func TestC2RITAMissingHost(t *testing.T) {
	obs := ritaObs(t, "2024-04-21")
	var kinds [numKinds]int
	for i := range obs {
		kinds[obs[i].Kind]++
	}
	if kinds[KindConn] == 0 || kinds[KindHTTP] == 0 {
		t.Fatalf("extracted %d connections and %d HTTP requests", kinds[KindConn], kinds[KindHTTP])
	}
	sigs := runC2(t, DefaultC2(), obs, true)
	top := map[string]detect.Signal{}
	count := map[string]int{}
	for _, s := range sigs {
		t.Logf("%s %s score %.3f: %s", s.RuleID, s.Title, s.Explanation.Score, s.Explanation.Summary)
		count[s.RuleID]++
		if p, ok := top[s.RuleID]; !ok || s.Explanation.Score > p.Explanation.Score {
			top[s.RuleID] = s
		}
	}
	t.Logf("signals by rule: %v", count)
	b, ok := top["c2.beacon"]
	if !ok || !hasEntity(b, detect.EntityIP, "73.54.23.243") || !hasEntity(b, detect.EntityIP, "64.225.56.201") {
		t.Errorf("top beacon %q, want 73.54.23.243 -> 64.225.56.201", b.Title)
	}
	if len(b.Evidence) == 0 || b.Evidence[0].Source == "" || b.Evidence[0].Time.IsZero() {
		t.Errorf("beacon evidence %+v", b.Evidence)
	}
	if !slices.ContainsFunc(b.Explanation.Features, func(f detect.Feature) bool { return f.Name == "missing_host_modifier" }) {
		t.Errorf("beacon features %+v lack the blank Host modifier", b.Explanation.Features)
	}
	u, ok := top["c2.rare_user_agent"]
	if !ok || !hasEntity(u, "user_agent", "Modzilla/0.0001 (Atari 7800)") || !hasEntity(u, detect.EntityIP, "73.54.23.243") {
		t.Errorf("top rare user agent %q, want Modzilla/0.0001 (Atari 7800) from 73.54.23.243", u.Title)
	}
}
