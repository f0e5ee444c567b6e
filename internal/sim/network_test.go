package sim

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/zeek"
	"github.com/vigilsec/vigil/internal/event"
)

// netRun is one generated run shared by the network tests (generation dominates).
func netRun(t *testing.T) (string, Truth) {
	t.Helper()
	return generate(t, 1, 40, 14)
}

func campaign(t *testing.T, tr Truth, id string) TruthCampaign {
	t.Helper()
	for _, c := range tr.Campaigns {
		if c.ID == id {
			if len(c.Events) == 0 {
				t.Fatalf("campaign %s has no events in the logs", id)
			}
			return c
		}
	}
	t.Fatalf("campaign %s not in the truth", id)
	return TruthCampaign{}
}

func entity(c TruthCampaign, kind string) string {
	for _, e := range c.Entities {
		if e.Kind == kind {
			return e.Value
		}
	}
	return ""
}

// zeekRows returns the data lines of a Zeek TSV log split into columns by name.
func zeekRows(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fields []string
	var rows []map[string]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if rest, ok := strings.CutPrefix(l, "#fields\t"); ok {
			fields = strings.Split(rest, "\t")
			continue
		}
		if strings.HasPrefix(l, "#") {
			continue
		}
		cols := strings.Split(l, "\t")
		if len(cols) != len(fields) {
			t.Fatalf("%s: %d columns, header has %d: %s", path, len(cols), len(fields), l)
		}
		r := make(map[string]string, len(fields))
		for i, c := range cols {
			r[fields[i]] = c
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func tsOf(t *testing.T, s string) time.Time {
	t.Helper()
	sec, frac, _ := strings.Cut(s, ".")
	var x, y int64
	for _, c := range sec {
		x = x*10 + int64(c-'0')
	}
	for _, c := range frac {
		y = y*10 + int64(c-'0')
	}
	return time.Unix(x, y*1000).UTC()
}

// cv is the coefficient of variation of the gaps between sorted times, and their mean.
func cv(ts []time.Time) (mean, cv float64) {
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	var s, ss float64
	n := float64(len(ts) - 1)
	for i := 1; i < len(ts); i++ {
		d := ts[i].Sub(ts[i-1]).Seconds()
		s += d
		ss += d * d
	}
	mean = s / n
	return mean, math.Sqrt(max(ss/n-mean*mean, 0)) / mean
}

// TestZeekLogsDecode decodes every Zeek log with the Zeek decoder: no rejects, and
// every http.log and ssl.log record belongs to a conn.log connection.
func TestZeekLogsDecode(t *testing.T) {
	dir, _ := netRun(t)
	uids := map[string]bool{}
	counts := map[string]int{}
	for _, n := range []string{"conn", "dns", "http", "ssl"} {
		s, err := decodetest.DecodeFile(t, zeek.NewTSV(), filepath.Join(dir, "zeek", n+".log"))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if len(s.Rejects) > 0 {
			t.Fatalf("%s.log: %d rejected, first: %v", n, len(s.Rejects), s.Rejects[0])
		}
		counts[n] = len(s.Events)
		for _, e := range s.Events {
			uid := e.Str(event.EventID)
			switch n {
			case "conn":
				uids[uid] = true
			case "http", "ssl":
				if !uids[uid] {
					t.Fatalf("%s.log record with uid %q has no conn.log record", n, uid)
				}
				if n == "ssl" && e.Str(event.TLSServerName) == "" {
					t.Fatalf("ssl.log record %s without server_name", uid)
				}
			}
		}
	}
	if r := float64(counts["http"]) / float64(counts["conn"]); r < 0.01 || r > 0.12 {
		t.Errorf("http.log has %d records for %d connections (%.3f); want a few percent", counts["http"], counts["conn"], r)
	}
	if counts["ssl"] < counts["conn"]/2 {
		t.Errorf("ssl.log has %d records for %d connections; every HTTPS connection should have one", counts["ssl"], counts["conn"])
	}
}

// TestBeaconRegularity: the C2 beacons have the configured period and jitter, and
// benign connections to a destination are far less regular.
func TestBeaconRegularity(t *testing.T) {
	dir, tr := netRun(t)
	c := campaign(t, tr, "c2http")
	dom := entity(c, "domain")
	var beacons []time.Time
	for _, r := range zeekRows(t, filepath.Join(dir, "zeek/http.log")) {
		if r["host"] == dom && r["method"] == "GET" {
			beacons = append(beacons, tsOf(t, r["ts"]))
		}
	}
	if len(beacons) < 500 {
		t.Fatalf("%d beacons to %s", len(beacons), dom)
	}
	b := NewBeaconCampaign("x")
	mean, v := cv(beacons)
	if want := b.Interval.Seconds(); math.Abs(mean-want) > 0.05*want {
		t.Errorf("beacon mean interval %.1fs, want %.0fs", mean, want)
	}
	// Uniform jitter of ±j has a coefficient of variation of j/√3.
	if want := b.Jitter / math.Sqrt(3); math.Abs(v-want) > 0.03 {
		t.Errorf("beacon interval CV %.3f, want about %.3f", v, want)
	}
	perPair := map[string][]time.Time{}
	for _, r := range zeekRows(t, filepath.Join(dir, "zeek/conn.log")) {
		if r["id.resp_p"] == "443" && !strings.HasPrefix(r["id.resp_h"], "10.") {
			k := r["id.orig_h"] + ">" + r["id.resp_h"]
			perPair[k] = append(perPair[k], tsOf(t, r["ts"]))
		}
	}
	var cvs []float64
	for _, ts := range perPair {
		if len(ts) >= 30 {
			_, v := cv(ts)
			cvs = append(cvs, v)
		}
	}
	if len(cvs) < 10 {
		t.Fatalf("only %d busy benign host-destination pairs", len(cvs))
	}
	slices.Sort(cvs)
	if cvs[0] < 4*v {
		t.Errorf("the most regular benign pair has CV %.3f, close to the beacon's %.3f", cvs[0], v)
	}
}

// TestTunnelQueries: the tunnel's query names are long, high-entropy and unique.
func TestTunnelQueries(t *testing.T) {
	dir, tr := netRun(t)
	c := campaign(t, tr, "c2dns")
	dom := entity(c, "domain")
	seen := map[string]bool{}
	payload := 0
	for _, r := range zeekRows(t, filepath.Join(dir, "zeek/dns.log")) {
		q := r["query"]
		if !strings.HasSuffix(q, "."+dom) {
			continue
		}
		if seen[q] {
			t.Fatalf("query %s repeated", q)
		}
		seen[q] = true
		labels := strings.Split(strings.TrimSuffix(q, "."+dom), ".")
		for _, l := range labels {
			if len(l) < 40 || len(l) > 63 {
				t.Fatalf("label of %d characters in %s", len(l), q)
			}
			payload += len(l)
		}
		if r["qtype_name"] != "TXT" && r["qtype_name"] != "CNAME" {
			t.Fatalf("tunnel query of type %s", r["qtype_name"])
		}
	}
	if len(seen) < 10000 {
		t.Fatalf("%d tunnel queries", len(seen))
	}
	// base32 carries 5 bits a character.
	if mb := float64(payload) * 5 / 8 / 1e6; mb < 1 {
		t.Errorf("tunnel carried %.2f MB", mb)
	}
	if n := len(c.Events); n < len(seen) {
		t.Errorf("truth has %d events for %d queries", n, len(seen))
	}
}

// TestInsiderHoarding: during the campaign the insider's share accesses are far
// above their own earlier working days, and the upload is large.
func TestInsiderHoarding(t *testing.T) {
	dir, tr := netRun(t)
	c := campaign(t, tr, "insider1")
	user := strings.TrimSuffix(entity(c, "user"), "@"+Domain)
	campDays := map[string]bool{}
	for _, ev := range c.Events {
		if ev.Technique == "T1039" {
			campDays[ev.Time.Format(time.DateOnly)] = true
		}
	}
	f, err := os.Open(filepath.Join(dir, "windows/security.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	perDay := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	key := []byte(`"SubjectUserName":"` + user + `"`)
	for sc.Scan() {
		l := sc.Bytes()
		if !bytes.Contains(l, []byte(`"EventID":5145`)) || !bytes.Contains(l, key) {
			continue
		}
		i := bytes.Index(l, []byte(`"SystemTime":"`))
		perDay[string(l[i+14:i+24])]++
	}
	first := c.Start.Format(time.DateOnly)
	var before, during []int
	for d := tr.Start; d.Before(tr.End); d = d.Add(24 * time.Hour) {
		ds := d.Format(time.DateOnly)
		switch {
		case campDays[ds]:
			during = append(during, perDay[ds])
		case ds < first && d.Weekday() != time.Saturday && d.Weekday() != time.Sunday:
			before = append(before, perDay[ds])
		}
	}
	mean := func(xs []int) float64 {
		s := 0
		for _, x := range xs {
			s += x
		}
		return float64(s) / float64(max(len(xs), 1))
	}
	if len(before) < 3 || mean(before) == 0 {
		t.Fatalf("no baseline of share access for %s before the campaign: %v", user, before)
	}
	if mean(during) < 10*mean(before) {
		t.Errorf("share accesses per day: %.1f during the campaign vs %.1f before; want ≥10×", mean(during), mean(before))
	}
	var up int64
	var store string // the external address among the entities
	for _, e := range c.Entities {
		if e.Kind == "ip" && !strings.HasPrefix(e.Value, "10.") {
			store = e.Value
		}
	}
	for _, r := range zeekRows(t, filepath.Join(dir, "zeek/conn.log")) {
		if r["id.resp_h"] == store {
			var n int64
			for _, ch := range r["orig_bytes"] {
				n = n*10 + int64(ch-'0')
			}
			up += n
		}
	}
	if up < 2e9 {
		t.Errorf("%d bytes uploaded to %s", up, store)
	}
}
