package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func generate(t testing.TB, seed uint64, users, days int) (string, Truth) {
	t.Helper()
	dir := t.TempDir()
	if _, err := Run(Config{Seed: seed, Users: users, Days: days, Out: dir}); err != nil {
		t.Fatal(err)
	}
	var tr Truth
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return dir, tr
}

func TestDeterministic(t *testing.T) {
	a, _ := generate(t, 7, 30, 3)
	b, _ := generate(t, 7, 30, 3)
	c, _ := generate(t, 8, 30, 3)
	for _, n := range append(fileNames[:], "truth.json") {
		x, _ := os.ReadFile(filepath.Join(a, n))
		y, _ := os.ReadFile(filepath.Join(b, n))
		z, _ := os.ReadFile(filepath.Join(c, n))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s: not byte-identical for the same seed (%d vs %d bytes)", n, len(x), len(y))
		}
		if n != "truth.json" && n != "linux/auth.log" && bytes.Equal(x, z) {
			t.Errorf("%s: identical for different seeds", n)
		}
	}
}

// TestTruthOffsets reads every recorded event at its offset and line.
func TestTruthOffsets(t *testing.T) {
	dir, tr := generate(t, 1, 40, 7)
	if len(tr.Campaigns) != 1 || len(tr.Campaigns[0].Events) < 10 {
		t.Fatalf("campaigns: %+v", tr.Campaigns)
	}
	if len(tr.Benign) < 2 {
		t.Fatalf("benign: %d", len(tr.Benign))
	}
	check := func(evs []TruthEvent) {
		for _, ev := range evs {
			b, err := os.ReadFile(filepath.Join(dir, ev.File))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Offset < 0 || ev.Offset >= int64(len(b)) || (ev.Offset > 0 && b[ev.Offset-1] != '\n') {
				t.Fatalf("%+v: not at a line start", ev)
			}
			if got := int64(bytes.Count(b[:ev.Offset], []byte("\n"))) + 1; got != ev.Line {
				t.Fatalf("%+v: offset is on line %d", ev, got)
			}
			line := b[ev.Offset:]
			line = line[:bytes.IndexByte(line, '\n')]
			var ts string
			switch {
			case strings.HasSuffix(ev.File, ".json"):
				ts = ev.Time.UTC().Format("2006-01-02T15:04:05.000000Z")
			case strings.HasSuffix(ev.File, "auth.log"):
				ts = ev.Time.UTC().Format(time.Stamp)
			default:
				ts = strings.Split(string(appendTS(nil, ev.Time)), ".")[0]
			}
			if !bytes.Contains(line, []byte(ts)) {
				t.Fatalf("%+v: line does not carry the time %s: %s", ev, ts, line)
			}
		}
	}
	for _, c := range tr.Campaigns {
		check(c.Events)
		for _, want := range []string{"T1110.003", "T1078.002", "T1021.002", "T1003.001", "T1560.001", "T1048.002"} {
			if !slices.Contains(c.Techniques, want) {
				t.Errorf("technique %s missing", want)
			}
		}
	}
	for _, b := range tr.Benign {
		if len(b.Events) == 0 {
			t.Errorf("benign %s (%s) has no events in the logs", b.ID, b.Kind)
		}
		check(b.Events)
	}
}

// TestTexture checks weekly seasonality and heavy-tailed per-user volume.
func TestTexture(t *testing.T) {
	dir, _ := generate(t, 3, 150, 7) // Monday to Sunday
	f, err := os.Open(filepath.Join(dir, "windows/sysmon.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	perDay := map[time.Weekday]int{}
	perUser := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var doc struct {
			Event struct {
				System struct {
					TimeCreated struct {
						A struct{ SystemTime time.Time } `json:"#attributes"`
					}
				}
				EventData map[string]string
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		perDay[doc.Event.System.TimeCreated.A.SystemTime.Weekday()]++
		perUser[doc.Event.EventData["User"]]++
	}
	weekday := float64(perDay[time.Tuesday]+perDay[time.Wednesday]+perDay[time.Thursday]) / 3
	weekend := float64(perDay[time.Sunday]+1) / 1
	if weekday < 5*weekend {
		t.Errorf("weekday volume %.0f vs Sunday %.0f: no clear weekly seasonality", weekday, weekend)
	}
	counts := make([]int, 0, len(perUser))
	total := 0
	for _, n := range perUser {
		counts = append(counts, n)
		total += n
	}
	slices.Sort(counts)
	slices.Reverse(counts)
	top := 0
	for _, n := range counts[:len(counts)/10] {
		top += n
	}
	if share := float64(top) / float64(total); share < 0.25 {
		t.Errorf("top 10%% of users account for %.2f of Sysmon volume; want a heavy tail (>= 0.25)", share)
	}
}

func BenchmarkGenerate(b *testing.B) {
	var events int64
	for b.Loop() {
		st, err := Run(Config{Seed: 1, Users: 100, Days: 3, Out: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		events += st.Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// TestSprayVictimWasSprayed: the account that logs on afterwards is one of the sprayed ones.
func TestSprayVictimWasSprayed(t *testing.T) {
	dir, tr := generate(t, 5, 120, 6)
	c := tr.Campaigns[0]
	var victim string
	for _, e := range c.Entities {
		if e.Kind == "user" {
			victim = strings.TrimSuffix(e.Value, "@"+Domain)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "windows/security.json"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range c.Events {
		if ev.Technique != "T1110.003" {
			continue
		}
		line := b[ev.Offset:]
		line = line[:bytes.IndexByte(line, '\n')]
		if bytes.Contains(line, []byte(`"TargetUserName":"`+victim+`"`)) {
			found = true
		}
	}
	if victim == "" || !found {
		t.Fatalf("victim %q not among the sprayed accounts", victim)
	}
}
