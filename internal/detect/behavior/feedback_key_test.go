package behavior

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

// spray is a second password spray from 203.0.113.7, a day after signIns' one.
func spray(day int64) []Obs {
	var obs []Obs
	for i := range 40 {
		tm := t0 + day*24*hour + 5*int64(time.Minute) + int64(i)*6*int64(time.Second)
		obs = append(obs, Obs{Time: tm, Kind: KindAuth, Fail: true, User: intern(fmt.Sprintf("u%d@corp", i)),
			SrcIP: netip.MustParseAddr("203.0.113.7"), Source: intern("okta"), Offset: tm})
	}
	return obs
}

// TestMarkNormalFromSignal is the feedback loop's path into a model: a signal
// names its baseline; "this is normal" for it, passed to the model that emitted
// the signal, stops the same finding the next time, where an engine without the
// feedback reports it again.
func TestMarkNormalFromSignal(t *testing.T) {
	engines := map[string]*Engine{}
	var first detect.Signal
	for _, name := range []string{"control", "marked"} {
		m, err := NewEdgeStream(EdgeStreamConfig{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewEngine([]Model{m}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		engines[name] = e
		var got []detect.Signal
		if err := e.Process(t.Context(), signIns(true), func(s detect.Signal) { got = append(got, s) }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("%s: %d signals from the first spray, want 1", name, len(got))
		}
		first = got[0]
	}
	want := detect.Baseline{Entity: "203.0.113.7", LearnedFrom: time.Unix(0, t0).UTC()}
	if first.Baseline != want {
		t.Fatalf("baseline %+v, want %+v", first.Baseline, want)
	}
	if known, taken := engines["marked"].MarkNormalFor("behavior.no_such_model", "x", "", time.Time{}); known || taken {
		t.Error("an unknown model took feedback")
	}
	if known, taken := engines["marked"].MarkNormalFor(first.DetectorID, first.Baseline.Entity, first.Baseline.Attribute, time.Time{}); !known || !taken {
		t.Fatalf("MarkNormalFor(%s, %+v): known %v, taken %v", first.DetectorID, first.Baseline, known, taken)
	}
	for name, e := range engines {
		var got []detect.Signal
		if err := e.Process(t.Context(), spray(3), func(s detect.Signal) { got = append(got, s) }); err != nil {
			t.Fatal(err)
		}
		switch {
		case name == "control" && len(got) == 0:
			t.Error("control: the second spray went unreported (the test proves nothing)")
		case name == "marked" && len(got) != 0:
			t.Errorf("marked normal: %d signals from the second spray: %s", len(got), got[0].Title)
		}
	}
}

// TestTrainingWindowSurvivesRestore: the start of a model's training window is
// kept in its state, so signals after a restart still say since when it learned.
func TestTrainingWindowSurvivesRestore(t *testing.T) {
	newEngine := func() *Engine {
		m, err := NewEdgeStream(EdgeStreamConfig{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewEngine([]Model{m}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a := newEngine()
	all := signIns(true)
	if err := a.Process(t.Context(), all[:3000], func(detect.Signal) {}); err != nil {
		t.Fatal(err)
	}
	states, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got := states[0].Since; !got.Equal(time.Unix(0, t0)) {
		t.Fatalf("snapshot's training start %v, want %v", got, time.Unix(0, t0).UTC())
	}
	b := newEngine()
	if err := b.Restore(states); err != nil {
		t.Fatal(err)
	}
	var got []detect.Signal
	if err := b.Process(t.Context(), all[3000:], func(s detect.Signal) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Baseline.LearnedFrom.Equal(time.Unix(0, t0)) {
		t.Fatalf("after restore: %d signals, learned from %v", len(got), got)
	}
}
