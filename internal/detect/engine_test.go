package detect

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilsec/vigil/internal/event"
)

type fakeDetector struct {
	id  string
	err error
	out int // signals per batch
}

func (f *fakeDetector) ID() string      { return f.id }
func (f *fakeDetector) Version() string { return "2.1.0" }
func (f *fakeDetector) Detect(_ context.Context, batch []*event.Event, emit func(Signal)) error {
	for i := 0; i < f.out && i < len(batch); i++ {
		emit(Signal{Time: batch[i].Timestamp, RuleID: "rule-" + f.id, Title: "t", Evidence: []EvidenceRef{Evidence(batch[i])},
			Entities: []Entity{{Kind: EntityUser, Value: ""}, {Kind: EntityHost, Value: "ws1"}, {Value: "x"}}})
	}
	return f.err
}

func batch(n int) []*event.Event {
	out := make([]*event.Event, n)
	for i := range out {
		e := &event.Event{Timestamp: time.Unix(1700000000+int64(i), 0).UTC()}
		e.Origin = event.Origin{Source: "s", Offset: int64(i)}
		out[i] = e
	}
	return out
}

func TestEngineStampsCountsAndIsolates(t *testing.T) {
	reg := prometheus.NewRegistry()
	good := &fakeDetector{id: "test.good", out: 2}
	failing := &fakeDetector{id: "test.failing", out: 1, err: errors.New("model not loaded")}
	eng, err := NewEngine([]Detector{failing, good}, EngineOptions{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var got []Signal
	if err := eng.Process(context.Background(), batch(5), func(s Signal) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d signals, want 3 (1 from the failing detector before its error, 2 from the good one)", len(got))
	}
	for _, s := range got {
		if len(s.Entities) != 1 || s.Entities[0].Value != "ws1" {
			t.Fatalf("empty entities kept: %+v", s.Entities)
		}
		if s.DetectorVersion != "2.1.0" || s.ID != SignalID(s.DetectorID, s.RuleID, s.Evidence) || len(s.ID) != 32 {
			t.Fatalf("signal not stamped: %+v", s)
		}
	}
	if v := testutil.ToFloat64(eng.errors.WithLabelValues("test.failing")); v != 1 {
		t.Fatalf("errors metric %v", v)
	}
	if v := testutil.ToFloat64(eng.events.WithLabelValues("test.good")); v != 5 {
		t.Fatalf("events metric %v", v)
	}
	if v := testutil.ToFloat64(eng.signals.WithLabelValues("test.good")); v != 2 {
		t.Fatalf("signals metric %v", v)
	}
	if _, err := NewEngine([]Detector{good, good}, EngineOptions{}); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("duplicate ids accepted: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := eng.Process(ctx, batch(1), func(Signal) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Process: %v", err)
	}
}

func TestSignalIDStable(t *testing.T) {
	ev := []EvidenceRef{{EventID: "a"}, {EventID: "b"}}
	first, again := SignalID("sigma", "r", ev), SignalID("sigma", "r", []EvidenceRef{{EventID: "a"}, {EventID: "b"}})
	if first != again {
		t.Fatal("unstable")
	}
	if SignalID("sigma", "r", ev) == SignalID("sigma", "r2", ev) || SignalID("sig", "mar", nil) == SignalID("sigma", "r", nil) {
		t.Fatal("ids collide across rules or on concatenation")
	}
}

func TestSeverity(t *testing.T) {
	for _, s := range []string{"informational", "info", "LOW", "medium", "high", "critical"} {
		if _, err := ParseSeverity(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("unknown severity accepted")
	}
	if SeverityCritical.String() != "critical" || Severity(9).String() != "severity(9)" {
		t.Error("String")
	}
}

func TestSignalJSONRoundTrip(t *testing.T) {
	in := Signal{ID: "x", Time: time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), DetectorID: "sigma", Severity: SeverityHigh,
		Entities: []Entity{{Kind: EntityUser, Value: "alice@corp"}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"severity":"high"`) {
		t.Fatalf("severity not by name: %s", b)
	}
	var out Signal
	if err := json.Unmarshal(b, &out); err != nil || out.Severity != SeverityHigh || !out.Time.Equal(in.Time) {
		t.Fatalf("round trip: %+v %v", out, err)
	}
}
