package travel

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unique"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior"
	"github.com/vigilsec/vigil/internal/sim"
)

// TestEngineObserve: the adapter turns a travel finding into a signal with both
// sign-ins as evidence.
func TestEngineObserve(t *testing.T) {
	em, err := NewEngineModel(Config{}, table)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := behavior.NewEngine([]behavior.Model{em}, behavior.Options{})
	if err != nil {
		t.Fatal(err)
	}
	obs := []behavior.Obs{
		{Time: t0.UnixNano(), Kind: behavior.KindAuth, User: unique.Make("alice"), SrcIP: london, Source: unique.Make("okta"), Offset: 10},
		{Time: t0.Add(5 * time.Minute).UnixNano(), Kind: behavior.KindAuth, Fail: true, User: unique.Make("alice"), SrcIP: milton, Source: unique.Make("okta"), Offset: 20},
		{Time: t0.Add(38 * time.Minute).UnixNano(), Kind: behavior.KindAuth, User: unique.Make("alice"), SrcIP: milton, Source: unique.Make("okta"), Offset: 30},
		{Time: t0.Add(40 * time.Minute).UnixNano(), Kind: behavior.KindAuth, User: unique.Make("alice"), SrcIP: vpn, Source: unique.Make("okta"), Offset: 40},
	}
	var sigs []detect.Signal
	if err := eng.Process(context.Background(), obs, func(s detect.Signal) { sigs = append(sigs, s) }); err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 {
		t.Fatalf("%d signals: %+v", len(sigs), sigs)
	}
	s := sigs[0]
	if s.DetectorID != EngineID || s.DetectorVersion != Version || s.RuleID != "impossible_travel.speed" || s.Severity != detect.SeverityHigh ||
		len(s.Evidence) != 2 || s.Evidence[0].EventID != obs[0].EventID() || s.Evidence[1].EventID != obs[2].EventID() ||
		!strings.HasPrefix(s.Explanation.Summary, "alice signed in from London, GB at 09:02 and from Milton, US at 09:40") {
		t.Errorf("travel signal %+v", s)
	}
	if a := sigs[1]; a.RuleID != "impossible_travel.anonymizer" || a.Severity != detect.SeverityLow || len(a.Evidence) != 1 {
		t.Errorf("anonymizer signal %+v", a)
	}
	if st := em.Stats(); st.Entities != 1 || st.Bytes < placeBytes*2 {
		t.Errorf("stats %+v", st)
	}
	if !em.MarkNormal("alice", "US", time.Time{}) || em.MarkNormal("alice", "not a country", time.Time{}) {
		t.Error("MarkNormal")
	}
	var buf bytes.Buffer
	if err := em.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if err := em.Restore(&buf); err != nil {
		t.Fatal(err)
	}
}

// TestEngineSimulatedOrg: the simulated organisation's sign-in logs through the
// behavioral engine's own extraction (behavior.Extract via the collector) and the
// adapter: the takeover is signalled, the trip is not.
func TestEngineSimulatedOrg(t *testing.T) {
	geo := openGeo(t, false)
	dir := t.TempDir()
	if _, err := sim.Run(sim.Config{Seed: 1, Users: 20, Days: 7, Out: dir, Campaigns: []string{"account-takeover"}}); err != nil {
		t.Fatal(err)
	}
	em, err := NewEngineModel(Config{}, geo)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := behavior.NewEngine([]behavior.Model{em}, behavior.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"okta/system.json", "entra/signins.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		det, err := formats.Default().Detect(data[:min(len(data), decode.SniffSize)])
		if err != nil {
			t.Fatal(err)
		}
		sink := &decodetest.Sink{}
		if err := det.Format.New().Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: name}, sink); err != nil {
			t.Fatal(err)
		}
		if err := eng.Collector().Detect(context.Background(), sink.Events, nil); err != nil {
			t.Fatal(err)
		}
	}
	var sigs []detect.Signal
	if err := eng.Finish(context.Background(), func(s detect.Signal) { sigs = append(sigs, s) }); err != nil {
		t.Fatal(err)
	}
	tr := readTruth(t, dir)
	var victim, attacker string
	for _, c := range tr.Campaigns {
		if c.ID == "ato1" {
			victim, attacker = entityValues(c.Entities, "user")[0], entityValues(c.Entities, "ip")[0]
		}
	}
	found := 0
	for _, s := range sigs {
		if s.RuleID != "impossible_travel.speed" {
			continue
		}
		if slices.Contains(s.Entities, detect.Entity{Kind: detect.EntityIP, Value: attacker}) {
			found++
			if !slices.ContainsFunc(s.Entities, func(e detect.Entity) bool { return e.Kind == detect.EntityUser && strings.EqualFold(e.Value, victim) }) {
				t.Errorf("takeover signal for another user: %+v", s.Entities)
			}
		} else {
			t.Errorf("unexpected signal: %s", s.Explanation.Summary)
		}
	}
	if found == 0 {
		t.Errorf("takeover of %s from %s not signalled (%d signals)", victim, attacker, len(sigs))
	}
}
