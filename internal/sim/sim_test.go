package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/event"
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

// decodeFile decodes one output file as vigil hunt would: the format detected from
// its content, year-less syslog dated by the file's time, failing on any reject
// (the simulator must write what Vigil reads). It returns the format id and the
// events, also by record offset.
func decodeFile(t testing.TB, dir, name string) (string, []*event.Event, map[int64]*event.Event) {
	t.Helper()
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	det, err := formats.Default().Detect(data[:min(len(data), decode.SniffSize)])
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	sink := &decodetest.Sink{}
	err = det.Format.New().Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: name, ModTime: st.ModTime()}, sink)
	if err != nil {
		t.Fatalf("%s (%s): %v", name, det.Format.ID, err)
	}
	if len(sink.Rejects) > 0 {
		t.Fatalf("%s (%s): %d rejects, first: %v", name, det.Format.ID, len(sink.Rejects), sink.Rejects[0])
	}
	byOff := make(map[int64]*event.Event, len(sink.Events))
	for _, e := range sink.Events {
		byOff[e.Origin.Offset] = e
	}
	return det.Format.ID, sink.Events, byOff
}

// decodeOutputs decodes every non-empty output file with decodeFile; it returns
// the events by file and record offset.
func decodeOutputs(t testing.TB, dir string) map[string]map[int64]*event.Event {
	t.Helper()
	out := map[string]map[int64]*event.Event{}
	for _, name := range fileNames {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		} else if st.Size() == 0 {
			continue
		}
		_, _, out[name] = decodeFile(t, dir, name)
	}
	return out
}

// TestTruthOffsets decodes every output file and finds each labelled record at
// its offset, at its line, with its time.
func TestTruthOffsets(t *testing.T) {
	dir, tr := generate(t, 1, 40, 7)
	dec := decodeOutputs(t, dir)
	if len(tr.Campaigns) < 2 {
		t.Fatalf("%d campaigns", len(tr.Campaigns))
	}
	if len(tr.Benign) < 2 {
		t.Fatalf("benign: %d", len(tr.Benign))
	}
	files := map[string][]byte{}
	check := func(id string, evs []TruthEvent) {
		for _, ev := range evs {
			b, ok := files[ev.File]
			if !ok {
				var err error
				if b, err = os.ReadFile(filepath.Join(dir, ev.File)); err != nil {
					t.Fatal(err)
				}
				files[ev.File] = b
			}
			if ev.Offset < 0 || ev.Offset >= int64(len(b)) || (ev.Offset > 0 && b[ev.Offset-1] != '\n') {
				t.Fatalf("%s: %s@%d: not at a line start", id, ev.File, ev.Offset)
			}
			if got := int64(bytes.Count(b[:ev.Offset], []byte("\n"))) + 1; got != ev.Line {
				t.Fatalf("%s: %s@%d: offset is on line %d, truth says %d", id, ev.File, ev.Offset, got, ev.Line)
			}
			e := dec[ev.File][ev.Offset]
			if e == nil {
				t.Fatalf("%s: %s@%d: no decoded event starts there", id, ev.File, ev.Offset)
			}
			if d := e.Timestamp.Sub(ev.Time); d < -time.Second || d > time.Second {
				t.Fatalf("%s: %s@%d: decoded time %s, truth %s", id, ev.File, ev.Offset, e.Timestamp, ev.Time)
			}
		}
	}
	for _, c := range tr.Campaigns {
		if len(c.Events) < 3 || len(c.Techniques) < 2 || len(c.Entities) == 0 {
			t.Errorf("campaign %s: %d events, techniques %v, %d entities", c.ID, len(c.Events), c.Techniques, len(c.Entities))
		}
		if c.Start.Before(tr.Start) || c.End.After(tr.End) || c.End.Before(c.Start) {
			t.Errorf("campaign %s: %s..%s outside the run", c.ID, c.Start, c.End)
		}
		for _, tech := range c.Techniques {
			if len(tech) < 5 || tech[0] != 'T' {
				t.Errorf("campaign %s: technique %q is not an ATT&CK id", c.ID, tech)
			}
		}
		check(c.ID, c.Events)
	}
	spray := tr.Campaigns[0]
	for _, want := range []string{"T1110.003", "T1078.002", "T1021.002", "T1003.001", "T1560.001", "T1048.002"} {
		if !slices.Contains(spray.Techniques, want) {
			t.Errorf("%s: technique %s missing", spray.ID, want)
		}
	}
	for _, b := range tr.Benign {
		if len(b.Events) == 0 {
			t.Errorf("benign %s (%s) has no events in the logs", b.ID, b.Kind)
		}
		check(b.ID, b.Events)
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

// TestRolloutWithinEpisode: the tool rollout happens on a working day before the
// episode ends, whatever day the draw lands on (a draw on the last Saturday once
// pushed it past the end, and eval rejected the truth file).
func TestRolloutWithinEpisode(t *testing.T) {
	org := &Org{}
	for seed := range uint64(200) {
		for _, days := range []int{2, 3, 7, 14} {
			start := time.Date(2026, 3, 2+int(seed%7), 0, 0, 0, 0, time.UTC) // every weekday
			r := newToolRollout("b", rand.New(rand.NewPCG(seed, 7)), org, start, days)
			tr := r.Truth()
			if tr.End.Before(tr.Start) {
				t.Fatalf("seed %d, %d days: rollout at %v, episode ends %v", seed, days, tr.Start, tr.End)
			}
			if wd := tr.Start.Weekday(); wd == time.Saturday || wd == time.Sunday {
				t.Fatalf("seed %d, %d days: rollout on a %v", seed, days, wd)
			}
		}
	}
}
