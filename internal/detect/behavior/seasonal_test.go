package behavior

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

func TestEvidenceKeyRoundTrip(t *testing.T) {
	o := Obs{Time: t0 + 12345, Offset: 987654321, Record: 42, Source: intern("/var/log/windows/security.json")}
	r, ok := evidenceRef(evidenceKey(&o))
	if !ok || r != o.Evidence() {
		t.Fatalf("round trip: %+v, %v; want %+v", r, ok, o.Evidence())
	}
	for _, bad := range []string{"", "a|b|c", "z~|1|2|x", "1|!|2|x"} {
		if _, ok := evidenceRef(bad); ok {
			t.Errorf("evidenceRef(%q) accepted", bad)
		}
	}
}

// failedLogins is a week and more of a DC seeing a few failed logins an hour, then
// a spray hour.
func failedLogins(days int, spray bool) []Obs {
	var obs []Obs
	for d := range days {
		for h := range 24 {
			for i := range 1 + (h*7+d)%3 {
				tm := t0 + int64(d)*24*hour + int64(h)*hour + int64(i)*int64(time.Minute)
				obs = append(obs, Obs{Time: tm, Kind: KindAuth, Fail: true, User: intern(fmt.Sprintf("u%d@corp", i)), Host: intern("dc01"), Source: intern("sec"), Offset: tm})
			}
		}
	}
	if spray {
		for i := range 300 {
			tm := t0 + int64(days)*24*hour + 10*hour + int64(i)*int64(time.Second)
			obs = append(obs, Obs{Time: tm, Kind: KindAuth, Fail: true, User: intern(fmt.Sprintf("victim%d@corp", i)), Host: intern("dc01"), Source: intern("sec"), Offset: tm})
		}
	}
	return obs
}

func runSeasonal(t *testing.T, s *Seasonal, obs []Obs) []detect.Signal {
	t.Helper()
	e, err := NewEngine([]Model{s}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []detect.Signal
	emit := func(sig detect.Signal) { got = append(got, sig) }
	if err := e.Process(context.Background(), obs, emit); err != nil {
		t.Fatal(err)
	}
	e.Flush(emit)
	return got
}

func TestSeasonalSpray(t *testing.T) {
	s, err := NewSeasonal()
	if err != nil {
		t.Fatal(err)
	}
	got := runSeasonal(t, s, failedLogins(9, true))
	var dc []detect.Signal
	for _, sig := range got {
		if sig.RuleID == "seasonal.failed_logins.high" && sig.Entities[0] == (detect.Entity{Kind: detect.EntityHost, Value: "dc01"}) {
			dc = append(dc, sig)
		}
	}
	if len(dc) != 1 {
		t.Fatalf("%d failed-logins signals for dc01 (all: %+v)", len(dc), got)
	}
	sig := dc[0]
	if !strings.Contains(sig.Explanation.Summary, "dc01 had 300 failed logins") || len(sig.Evidence) == 0 || sig.Explanation.Probability >= 1e-5 || sig.Techniques[0] != "T1110" {
		t.Errorf("signal: %+v", sig)
	}
	quiet, err := NewSeasonal()
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range runSeasonal(t, quiet, failedLogins(9, false)) {
		if sig.RuleID == "seasonal.failed_logins.high" {
			t.Errorf("signal without a spray: %s", sig.Explanation.Summary)
		}
	}
}

func TestSeasonalSnapshotRestore(t *testing.T) {
	a, _ := NewSeasonal()
	all := failedLogins(9, true)
	runSeasonal(t, a, all[:300])
	var snap bytes.Buffer
	if err := a.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	b, _ := NewSeasonal()
	if err := b.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	rest := all[300:]
	x, y := runSeasonal(t, a, rest), runSeasonal(t, b, rest)
	if len(x) == 0 || fmt.Sprint(x) != fmt.Sprint(y) {
		t.Fatalf("original %d signals, restored %d", len(x), len(y))
	}
}
