package sigma

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// corrBaseRules are the detection rules the correlation tests refer to, for
// product test (routed to every event by testMapping).
const corrBaseRules = `title: Failed logon
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
level: low
tags: [attack.credential-access, attack.t1110]
logsource: {product: test}
detection:
    selection: {EventID: 4625}
    condition: selection
---
title: Successful logon
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
name: successful_login
logsource: {product: test}
detection:
    selection: {EventID: 4624}
    condition: selection
---
title: Recon A
name: recon_a
logsource: {product: test}
detection:
    selection: {EventID: 1}
    condition: selection
---
title: Recon B
name: recon_b
logsource: {product: test}
detection:
    selection: {EventID: 2}
    condition: selection
---
title: Recon C
name: recon_c
logsource: {product: test}
detection:
    selection: {EventID: 3}
    condition: selection
---
title: Web access
name: web
logsource: {product: test}
detection:
    selection: {EventID: 80}
    condition: selection
---
title: Process creation
name: proc
logsource: {product: test}
detection:
    selection: {EventID: 5}
    condition: selection
---
title: Internal error
name: internal_error
logsource: {product: test}
detection:
    selection: {Status: 500}
    condition: selection
---
title: New network connection
name: new_network_connection
logsource: {product: test}
detection:
    selection: {EventID: 7}
    condition: selection
`

// t0 is the event time tests count from.
var corrT0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// cev is a test event: its time after t0 and its fields (name, value pairs).
type cev struct {
	at time.Duration
	kv []string
}

func cevAt(d time.Duration, kv ...string) cev { return cev{at: d, kv: kv} }

func failedAt(d time.Duration, user string) cev { return cevAt(d, "EventID", "4625", "User", user) }
func successAt(d time.Duration, user string) cev {
	return cevAt(d, "EventID", "4624", "User", user)
}

// corrYAML is a correlation document named c with the given correlation section
// (indented by four spaces) and extra top-level attributes.
func corrYAML(body string, extra ...string) string {
	return "title: C\nname: c\n" + strings.Join(extra, "\n") + "\ncorrelation:\n" + body
}

// harness runs a Detector with correlations over test events.
type corrHarness struct {
	t    testing.TB
	d    *Detector
	ce   *CorrelationEngine
	off  int64
	sigs []detect.Signal
}

func newCorrHarness(t testing.TB, docs string, opts CorrelationOptions) *corrHarness {
	t.Helper()
	c := corrCollection(t, docs)
	rs, err := Compile(c, Options{Mapping: testMapping})
	if err != nil {
		t.Fatal(err)
	}
	opts.Mapping = testMapping
	ce, err := NewCorrelationEngine(c, rs, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ce.Rejected {
		t.Fatalf("rejected: %v", r)
	}
	return &corrHarness{t: t, d: NewDetector(rs).WithCorrelations(ce), ce: ce}
}

func corrCollection(t testing.TB, docs string) *Collection {
	t.Helper()
	var c Collection
	c.Add("t.yml", []byte(corrBaseRules+"---\n"+docs))
	c.Link()
	for _, r := range c.Rejected {
		t.Fatalf("load: %v", r)
	}
	return &c
}

// events builds the events of cevs; offsets number them from the harness's count.
func (h *corrHarness) events(cevs ...cev) []*event.Event {
	var out []*event.Event
	for _, c := range cevs {
		e := ev(c.kv...)
		e.Timestamp = corrT0.Add(c.at)
		h.off++
		e.Origin = event.Origin{Source: "test.log", Offset: h.off}
		out = append(out, e)
	}
	return out
}

func (h *corrHarness) feed(cevs ...cev) { h.detect(h.events(cevs...)) }

func (h *corrHarness) detect(batch []*event.Event) {
	h.t.Helper()
	if err := h.d.Detect(context.Background(), batch, func(s detect.Signal) { h.sigs = append(h.sigs, s) }); err != nil {
		h.t.Fatal(err)
	}
}

func (h *corrHarness) flush() { h.d.Flush(func(s detect.Signal) { h.sigs = append(h.sigs, s) }) }

// of returns the signals of a rule or correlation.
func (h *corrHarness) of(ref string) []detect.Signal {
	var out []detect.Signal
	for _, s := range h.sigs {
		if s.RuleID == ref {
			out = append(out, s)
		}
	}
	return out
}

// times returns when the signals of ref happened, after t0.
func (h *corrHarness) times(ref string) []time.Duration {
	var out []time.Duration
	for _, s := range h.of(ref) {
		out = append(out, s.Time.Sub(corrT0))
	}
	return out
}

func TestCorrelationTypes(t *testing.T) {
	const m = time.Minute
	eventCount := func(cond string) string {
		return corrYAML("    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 5m\n    condition: {" + cond + "}\n")
	}
	valueCount := corrYAML("    type: value_count\n    rules: [failed_login]\n    group-by: [Ip]\n    timespan: 10m\n    condition: {field: TargetUser, gte: 3}\n")
	temporal := corrYAML("    type: temporal\n    rules: [recon_a, recon_b, recon_c]\n    group-by: [Host, User]\n    timespan: 5m\n")
	ordered := corrYAML("    type: temporal_ordered\n    rules: [failed_login, successful_login]\n    group-by: [User]\n    timespan: 10m\n")
	ordered3 := corrYAML("    type: temporal_ordered\n    rules: [recon_a, recon_b, recon_c]\n    group-by: [User]\n    timespan: 10m\n")
	valueSum := corrYAML("    type: value_sum\n    rules: [web]\n    group-by: [User]\n    timespan: 1h\n    condition: {field: Bytes, gt: 1000}\n")
	valueAvg := func(cond string) string {
		return corrYAML("    type: value_avg\n    rules: [web]\n    group-by: [User]\n    timespan: 1h\n    condition: {field: Bytes, " + cond + "}\n")
	}
	recon := func(d time.Duration, id, host, user string) cev {
		return cevAt(d, "EventID", id, "Host", host, "User", user)
	}
	login := func(d time.Duration, ip, target string) cev {
		if target == "" {
			return cevAt(d, "EventID", "4625", "Ip", ip)
		}
		return cevAt(d, "EventID", "4625", "Ip", ip, "TargetUser", target)
	}
	web := func(d time.Duration, user, bytes string) cev {
		return cevAt(d, "EventID", "80", "User", user, "Bytes", bytes)
	}
	noUser := cevAt(m, "EventID", "4625")

	cases := []struct {
		name   string
		corr   string
		events []cev
		flush  bool
		want   []time.Duration
	}{
		{"event_count fires at the threshold", eventCount("gte: 3"), []cev{failedAt(0, "alice"), failedAt(m, "alice"), failedAt(2*m, "alice")}, false, []time.Duration{2 * m}},
		{"event_count below the threshold", eventCount("gte: 3"), []cev{failedAt(0, "alice"), failedAt(m, "alice")}, false, nil},
		{"gt is strict", eventCount("gt: 3"), []cev{failedAt(0, "alice"), failedAt(m, "alice"), failedAt(2*m, "alice")}, false, nil},
		{"gt above", eventCount("gt: 3"), []cev{failedAt(0, "alice"), failedAt(m, "alice"), failedAt(2*m, "alice"), failedAt(3*m, "alice")}, false, []time.Duration{3 * m}},
		{"window edge is inside", eventCount("gte: 3"), []cev{failedAt(0, "alice"), failedAt(150*time.Second, "alice"), failedAt(5*m, "alice")}, false, []time.Duration{5 * m}},
		{"event just outside the window", eventCount("gte: 3"), []cev{failedAt(0, "alice"), failedAt(2*m, "alice"), failedAt(5*m+time.Second, "alice")}, false, nil},
		{"window slides", eventCount("gte: 3"), []cev{failedAt(0, "alice"), failedAt(2*m, "alice"), failedAt(5*m+time.Second, "alice"), failedAt(6*m, "alice")}, false, []time.Duration{6 * m}},
		{"groups are apart", eventCount("gte: 3"), []cev{failedAt(0, "alice"), failedAt(m, "bob"), failedAt(2*m, "alice")}, false, nil},
		{"group values ignore case", eventCount("gte: 3"), []cev{failedAt(0, "alice"), failedAt(m, "ALICE"), failedAt(2*m, "Alice")}, false, []time.Duration{2 * m}},
		{"events without the group-by field do not count", eventCount("gte: 3"), []cev{failedAt(0, "alice"), noUser, failedAt(2*m, "alice")}, false, nil},
		{"one signal per group per timespan", eventCount("gte: 3"), []cev{
			failedAt(0, "alice"), failedAt(m, "alice"), failedAt(2*m, "alice"), failedAt(3*m, "alice"), failedAt(4*m, "alice"),
			failedAt(5*m, "alice"), failedAt(8*m, "alice"), failedAt(9*m, "alice"),
		}, false, []time.Duration{2 * m, 8 * m}},
		{"out of order within the window", eventCount("gte: 3"), []cev{failedAt(2*m, "alice"), failedAt(0, "alice"), failedAt(m, "alice")}, false, []time.Duration{m}},
		{"too late is dropped", eventCount("gte: 3"), []cev{failedAt(10*m, "alice"), failedAt(0, "alice"), failedAt(11*m, "alice")}, false, nil},
		{"too late is dropped, later ones count", eventCount("gte: 3"), []cev{failedAt(10*m, "alice"), failedAt(0, "alice"), failedAt(11*m, "alice"), failedAt(12*m, "alice")}, false, []time.Duration{12 * m}},
		{"rule by id", corrYAML("    type: event_count\n    rules: [53BA33FD-3a50-4468-a5ef-c583635cfa92]\n    group-by: [User]\n    timespan: 5m\n    condition: {gte: 2}\n"),
			[]cev{failedAt(0, "alice"), failedAt(m, "alice")}, false, []time.Duration{m}},
		{"group-by through the field mapping", corrYAML("    type: event_count\n    rules: [failed_login]\n    group-by: [Renamed]\n    timespan: 5m\n    condition: {gte: 2}\n"),
			[]cev{cevAt(0, "EventID", "4625", "Original", "x"), cevAt(m, "EventID", "4625", "Original", "x")}, false, []time.Duration{m}},
		{"group-by several fields", corrYAML("    type: event_count\n    rules: [failed_login]\n    group-by: [User, Host]\n    timespan: 5m\n    condition: {gte: 3}\n"),
			[]cev{
				cevAt(0, "EventID", "4625", "User", "alice", "Host", "h1"), cevAt(m, "EventID", "4625", "User", "alice", "Host", "h2"),
				cevAt(2*m, "EventID", "4625", "User", "alice", "Host", "h1"), cevAt(3*m, "EventID", "4625", "User", "bob", "Host", "h1"),
				cevAt(4*m, "EventID", "4625", "User", "alice", "Host", "h1"),
			}, false, []time.Duration{4 * m}},
		{"no group-by is one group", corrYAML("    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {gte: 3}\n"),
			[]cev{failedAt(0, "alice"), failedAt(m, "bob"), cevAt(2*m, "EventID", "4625")}, false, []time.Duration{2 * m}},

		{"value_count fires on the third distinct value", valueCount, []cev{login(0, "10.0.0.1", "a"), login(m, "10.0.0.1", "b"), login(2*m, "10.0.0.1", "a"), login(3*m, "10.0.0.1", "c")}, false, []time.Duration{3 * m}},
		{"value_count repeats are one value", valueCount, []cev{login(0, "10.0.0.1", "a"), login(m, "10.0.0.1", "a"), login(2*m, "10.0.0.1", "a"), login(3*m, "10.0.0.1", "a")}, false, nil},
		{"value_count ignores case", valueCount, []cev{login(0, "10.0.0.1", "A"), login(m, "10.0.0.1", "a"), login(2*m, "10.0.0.1", "B")}, false, nil},
		{"value_count window slides", valueCount, []cev{login(0, "10.0.0.1", "a"), login(5*m, "10.0.0.1", "b"), login(11*m, "10.0.0.1", "c"), login(12*m, "10.0.0.1", "d")}, false, []time.Duration{12 * m}},
		{"value_count skips events without the field", valueCount, []cev{login(0, "10.0.0.1", "a"), login(m, "10.0.0.1", ""), login(2*m, "10.0.0.1", "b"), login(3*m, "10.0.0.1", "c")}, false, []time.Duration{3 * m}},
		{"value_count per group", valueCount, []cev{login(0, "10.0.0.1", "a"), login(m, "10.0.0.2", "b"), login(2*m, "10.0.0.1", "c")}, false, nil},

		{"temporal in any order", temporal, []cev{recon(0, "3", "h1", "alice"), recon(m, "1", "h1", "alice"), recon(2*m, "2", "h1", "alice")}, false, []time.Duration{2 * m}},
		{"temporal needs the same group", temporal, []cev{recon(0, "3", "h1", "alice"), recon(m, "1", "h1", "alice"), recon(2*m, "2", "h1", "bob")}, false, nil},
		{"temporal within the timespan", temporal, []cev{recon(0, "1", "h1", "alice"), recon(m, "2", "h1", "alice"), recon(6*m, "3", "h1", "alice")}, false, nil},
		{"temporal repeats do not count twice", temporal, []cev{recon(0, "1", "h1", "alice"), recon(m, "1", "h1", "alice"), recon(2*m, "2", "h1", "alice")}, false, nil},
		{"temporal with a condition", corrYAML("    type: temporal\n    rules: [recon_a, recon_b, recon_c]\n    group-by: [User]\n    timespan: 5m\n    condition: {gte: 2}\n"),
			[]cev{recon(0, "1", "h1", "alice"), recon(m, "2", "h1", "alice")}, false, []time.Duration{m}},

		{"temporal_ordered in order", ordered, []cev{failedAt(0, "alice"), successAt(m, "alice")}, false, []time.Duration{m}},
		{"temporal_ordered out of order", ordered, []cev{successAt(0, "alice"), failedAt(m, "alice")}, false, nil},
		{"temporal_ordered by event time, not arrival", ordered, []cev{failedAt(2*m, "alice"), successAt(m, "alice")}, false, nil},
		{"temporal_ordered too far apart", ordered, []cev{failedAt(0, "alice"), successAt(10*m+time.Second, "alice")}, false, nil},
		{"temporal_ordered at the edge", ordered, []cev{failedAt(0, "alice"), successAt(10*m, "alice")}, false, []time.Duration{10 * m}},
		{"temporal_ordered same time", ordered, []cev{failedAt(0, "alice"), successAt(0, "alice")}, false, []time.Duration{0}},
		{"temporal_ordered three steps", ordered3, []cev{recon(0, "1", "h", "u"), recon(m, "3", "h", "u"), recon(2*m, "2", "h", "u"), recon(3*m, "3", "h", "u")}, false, []time.Duration{3 * m}},
		{"temporal_ordered later start wins", ordered3, []cev{recon(0, "1", "h", "u"), recon(m, "2", "h", "u"), recon(9*m, "1", "h", "u"), recon(10*m, "2", "h", "u"), recon(15*m, "3", "h", "u")}, false, []time.Duration{15 * m}},

		{"value_sum above", valueSum, []cev{web(0, "alice", "400"), web(m, "alice", "400"), web(2*m, "alice", "300")}, false, []time.Duration{2 * m}},
		{"value_sum at the bound", valueSum, []cev{web(0, "alice", "400"), web(m, "alice", "600")}, false, nil},
		{"value_sum skips non-numbers", valueSum, []cev{web(0, "alice", "400"), web(m, "alice", "lots"), web(2*m, "alice", "700")}, false, []time.Duration{2 * m}},
		{"value_sum decimals", valueSum, []cev{web(0, "alice", "500.5"), web(m, "alice", " 499.6 ")}, false, []time.Duration{m}},
		{"value_sum window slides", valueSum, []cev{web(0, "alice", "600"), web(time.Hour+time.Second, "alice", "600")}, false, nil},

		{"value_avg above", valueAvg("gt: 500"), []cev{web(0, "alice", "100"), web(m, "alice", "1000")}, false, []time.Duration{m}},
		{"value_avg below", valueAvg("gt: 500"), []cev{web(0, "alice", "100"), web(m, "alice", "200"), web(2*m, "alice", "300")}, false, nil},

		{"lt is decided at the end", eventCount("lt: 3"), []cev{failedAt(0, "alice"), failedAt(m, "alice")}, true, []time.Duration{m}},
		{"lt is not decided early", eventCount("lt: 3"), []cev{failedAt(0, "alice"), failedAt(m, "alice")}, false, nil},
		{"lt does not hold", eventCount("lt: 3"), []cev{failedAt(0, "alice"), failedAt(m, "alice"), failedAt(2*m, "alice")}, true, nil},
		{"eq", eventCount("eq: 2"), []cev{failedAt(0, "alice"), failedAt(m, "alice"), failedAt(0, "bob"), failedAt(m, "bob"), failedAt(2*m, "bob")}, true, []time.Duration{m}},
		{"range", eventCount("gt: 1, lte: 2"), []cev{failedAt(0, "alice"), failedAt(m, "alice"), failedAt(0, "bob")}, true, []time.Duration{m}},
		{"a later event closes the window", eventCount("lt: 3"), []cev{failedAt(0, "alice"), failedAt(6*m, "alice")}, false, []time.Duration{0}},
		{"the watermark closes the window", eventCount("lt: 3"), []cev{failedAt(0, "alice"), failedAt(time.Hour, "bob")}, false, []time.Duration{0}},
		{"value_avg lt at window close", valueAvg("lt: 100"), []cev{web(0, "alice", "50"), web(m, "alice", "60"), web(time.Hour+2*m, "alice", "200")}, true, []time.Duration{m}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newCorrHarness(t, tc.corr, CorrelationOptions{})
			h.feed(tc.events...)
			if tc.flush {
				h.flush()
			}
			if got := h.times("c"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("fired at %v, want %v", got, tc.want)
				for _, s := range h.of("c") {
					t.Logf("  %s", s.Explanation.Summary)
				}
			}
		})
	}
}

func TestCorrelationFlushStamps(t *testing.T) {
	h := newCorrHarness(t, corrYAML("    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 5m\n    condition: {lt: 3}\n"), CorrelationOptions{})
	h.feed(failedAt(0, "alice"))
	if len(h.sigs) != 0 {
		t.Fatalf("signals before Flush: %v", h.sigs)
	}
	h.flush()
	if len(h.sigs) != 1 {
		t.Fatalf("%d signals", len(h.sigs))
	}
	s := h.sigs[0]
	if s.DetectorID != DetectorID || s.DetectorVersion != h.d.Version() || !strings.Contains(s.DetectorVersion, "+c") ||
		s.ID != detect.SignalID(DetectorID, "c", s.Evidence) {
		t.Errorf("signal %+v", s)
	}
	h.flush() // state is gone: nothing fires twice
	if len(h.sigs) != 1 {
		t.Errorf("%d signals after a second Flush", len(h.sigs))
	}
}

func TestCorrelationEventByEvent(t *testing.T) {
	// The same cases fed one event per batch behave the same.
	h := newCorrHarness(t, corrYAML("    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 5m\n    condition: {gte: 3}\n"), CorrelationOptions{})
	for _, c := range []cev{failedAt(0, "alice"), failedAt(time.Minute, "alice"), failedAt(2*time.Minute, "alice")} {
		h.feed(c)
	}
	if got := h.times("c"); !reflect.DeepEqual(got, []time.Duration{2 * time.Minute}) {
		t.Errorf("fired at %v", got)
	}
}

func TestCorrelationStats(t *testing.T) {
	h := newCorrHarness(t, corrYAML("    type: value_sum\n    rules: [web]\n    group-by: [User]\n    timespan: 5m\n    condition: {field: Bytes, gt: 100}\n"), CorrelationOptions{})
	h.feed(cevAt(10*time.Minute, "EventID", "80", "User", "a", "Bytes", "1"),
		cevAt(0, "EventID", "80", "User", "a", "Bytes", "1"), // late
		cevAt(10*time.Minute, "EventID", "80", "Bytes", "1"), // no user
		cevAt(10*time.Minute, "EventID", "80", "User", "a", "Bytes", "x"))
	h.detect([]*event.Event{ev("EventID", "80", "User", "a", "Bytes", "1")}) // no time
	st := h.ce.Stats()["c"]
	want := CorrelationStats{Updates: 4, Late: 1, MissingGroupBy: 1, MissingValue: 1, NoTime: 1, Groups: 1}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}

func TestValuePercentile(t *testing.T) {
	rarity := corrYAML("    type: value_percentile\n    rules: [proc]\n    group-by: [Computer]\n    timespan: 24h\n    condition: {field: Image, lte: 1}\n")
	proc := func(i int, image string) cev {
		return cevAt(time.Duration(i)*time.Second, "EventID", "5", "Computer", "ws1", "Image", image)
	}
	for _, tc := range []struct {
		common int
		want   int
	}{{150, 1}, {99, 1}, {98, 0}, {50, 0}} {
		t.Run(fmt.Sprintf("rare after %d", tc.common), func(t *testing.T) {
			h := newCorrHarness(t, rarity, CorrelationOptions{})
			var evs []cev
			for i := range tc.common {
				evs = append(evs, proc(i, `C:\Windows\svchost.exe`))
			}
			evs = append(evs, proc(tc.common, `C:\Temp\EVIL.exe`))
			h.feed(evs...)
			sigs := h.of("c")
			if len(sigs) != tc.want {
				t.Fatalf("%d signals, want %d", len(sigs), tc.want)
			}
			if tc.want == 1 && !strings.Contains(sigs[0].Explanation.Summary, `Image "C:\\Temp\\EVIL.exe" is at percentile`) {
				t.Errorf("summary %q", sigs[0].Explanation.Summary)
			}
		})
	}

	high := corrYAML("    type: value_percentile\n    rules: [web]\n    group-by: [User]\n    timespan: 1h\n    condition: {field: Bytes, gte: 99}\n")
	h := newCorrHarness(t, high, CorrelationOptions{})
	var evs []cev
	for i := range 100 {
		evs = append(evs, cevAt(time.Duration(i)*time.Second, "EventID", "80", "User", "alice", "Bytes", strconv.Itoa(10+i%3)))
	}
	h.feed(evs...)
	if n := len(h.of("c")); n != 0 {
		t.Fatalf("%d signals before the outlier", n)
	}
	h.feed(cevAt(200*time.Second, "EventID", "80", "User", "alice", "Bytes", "100000"))
	if got := h.times("c"); !reflect.DeepEqual(got, []time.Duration{200 * time.Second}) {
		t.Errorf("fired at %v", got)
	}
	// Another outlier within the timespan is not signalled again.
	h.feed(cevAt(201*time.Second, "EventID", "80", "User", "alice", "Bytes", "200000"))
	if n := len(h.of("c")); n != 1 {
		t.Errorf("%d signals, want 1", n)
	}
}

func TestCorrelationSignal(t *testing.T) {
	h := newCorrHarness(t, corrYAML("    type: event_count\n    rules: [failed_login]\n    group-by: [User, Ip]\n    timespan: 5m\n    condition: {gte: 3}\n", "id: 0e95725d-7320-415d-80f7-004da920fc11", "level: high", "status: stable"), CorrelationOptions{})
	var evs []cev
	for i := range 25 {
		evs = append(evs, cevAt(time.Duration(i)*time.Second, "EventID", "4625", "User", `CORP\Alice`, "Ip", "10.1.2.3"))
	}
	h.feed(evs[:2]...)
	h.feed(cevAt(0, "EventID", "4624", "User", "bob"))
	h.feed(evs[2])
	sigs := h.of("0e95725d-7320-415d-80f7-004da920fc11")
	if len(sigs) != 1 {
		t.Fatalf("%d signals", len(sigs))
	}
	s := sigs[0]
	if s.Title != "C" || s.Severity != detect.SeverityHigh || s.Confidence != 0.8 || !s.Time.Equal(corrT0.Add(2*time.Second)) {
		t.Errorf("signal %+v", s)
	}
	if !reflect.DeepEqual(s.Tactics, []string{"credential-access"}) || !reflect.DeepEqual(s.Techniques, []string{"T1110"}) {
		t.Errorf("tactics %v, techniques %v (from the referenced rule)", s.Tactics, s.Techniques)
	}
	wantEntities := []detect.Entity{{Kind: detect.EntityUser, Value: "alice@corp"}, {Kind: detect.EntityIP, Value: "10.1.2.3"}}
	if !reflect.DeepEqual(s.Entities, wantEntities) {
		t.Errorf("entities %v", s.Entities)
	}
	wantSummary := `3 events matching "Failed logon" for User=CORP\Alice, Ip=10.1.2.3 within 5m (event_count gte 3)`
	if s.Explanation.Summary != wantSummary {
		t.Errorf("summary %q\nwant    %q", s.Explanation.Summary, wantSummary)
	}
	if want := []detect.FieldMatch{{Field: "User", Value: `CORP\Alice`}, {Field: "Ip", Value: "10.1.2.3"}}; !reflect.DeepEqual(s.Explanation.Matches, want) {
		t.Errorf("matches %v", s.Explanation.Matches)
	}
	if len(s.Evidence) != 3 || s.Evidence[0].Offset != 1 || s.Evidence[1].Offset != 2 || s.Evidence[2].Offset != 4 {
		t.Errorf("evidence %+v", s.Evidence)
	}
	e := ev()
	e.Origin = event.Origin{Source: "test.log", Offset: 1}
	if s.Evidence[0].EventID != e.ID() || s.Evidence[0].Source != "test.log" || !s.Evidence[0].Time.Equal(corrT0) {
		t.Errorf("evidence[0] %+v, want id %s", s.Evidence[0], e.ID())
	}
	// Base signals: the rule used only by this correlation (generate false) is
	// suppressed, the other one is not.
	if n := len(h.of("53ba33fd-3a50-4468-a5ef-c583635cfa92")); n != 0 {
		t.Errorf("%d signals of the correlated rule", n)
	}
	if n := len(h.of("4d0a2c83-c62c-4ed4-b475-c7e23a9269b8")); n != 1 {
		t.Errorf("%d signals of the unrelated rule", n)
	}

	// Evidence is bounded: the most recent 20.
	h = newCorrHarness(t, corrYAML("    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 5m\n    condition: {gte: 25}\n"), CorrelationOptions{})
	h.feed(evs...)
	sigs = h.of("c")
	if len(sigs) != 1 || len(sigs[0].Evidence) != DefaultCorrelationEvidence || sigs[0].Evidence[19].Offset != 25 || sigs[0].Evidence[0].Offset != 6 {
		t.Fatalf("signals %+v", sigs)
	}
}

func TestCorrelationGenerate(t *testing.T) {
	const body = "    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 5m\n    condition: {gte: 2}\n"
	for _, tc := range []struct {
		name  string
		docs  string
		base  int
		corrs int
	}{
		{"generate false", corrYAML(body), 0, 1},
		{"generate true", corrYAML(body, "generate: true"), 2, 1},
		{"one of two generates", corrYAML(body) + "---\n" + strings.Replace(corrYAML(body, "generate: true"), "name: c", "name: c2", 1), 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newCorrHarness(t, tc.docs, CorrelationOptions{})
			h.feed(failedAt(0, "alice"), failedAt(time.Minute, "alice"))
			if n := len(h.of("53ba33fd-3a50-4468-a5ef-c583635cfa92")); n != tc.base {
				t.Errorf("%d base signals, want %d", n, tc.base)
			}
			if n := len(h.of("c")) + len(h.of("c2")); n != tc.corrs {
				t.Errorf("%d correlation signals, want %d", n, tc.corrs)
			}
		})
	}
}

func TestCorrelationAliases(t *testing.T) {
	// The specification's example: an internal server error and a connection
	// between the same two addresses, in opposite directions, within 10s.
	docs := corrYAML(`    type: temporal
    rules: [internal_error, new_network_connection]
    group-by: [internal_ip, remote_ip]
    timespan: 10s
    aliases:
        internal_ip:
            internal_error: destination.ip
            new_network_connection: source.ip
        remote_ip:
            internal_error: source.ip
            new_network_connection: destination.ip
`)
	h := newCorrHarness(t, docs, CorrelationOptions{})
	h.feed(cevAt(0, "Status", "500", "destination.ip", "10.0.0.5", "source.ip", "203.0.113.9"),
		cevAt(2*time.Second, "EventID", "7", "source.ip", "10.0.0.5", "destination.ip", "203.0.113.8"), // another remote
		cevAt(3*time.Second, "EventID", "7", "source.ip", "10.0.0.5", "destination.ip", "203.0.113.9"))
	sigs := h.of("c")
	if len(sigs) != 1 || !sigs[0].Time.Equal(corrT0.Add(3*time.Second)) {
		t.Fatalf("signals %+v", sigs)
	}
	want := []detect.Entity{{Kind: detect.EntityIP, Value: "10.0.0.5"}, {Kind: detect.EntityIP, Value: "203.0.113.9"}}
	if !reflect.DeepEqual(sigs[0].Entities, want) || len(sigs[0].Evidence) != 2 {
		t.Errorf("entities %v, evidence %v", sigs[0].Entities, sigs[0].Evidence)
	}
	if !strings.Contains(sigs[0].Explanation.Summary, "2 of 2 rules") {
		t.Errorf("summary %q", sigs[0].Explanation.Summary)
	}
}

func TestCorrelationChaining(t *testing.T) {
	// The specification's example: many failed logins followed by a successful one.
	docs := `title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
level: high
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 3
`
	const outer, inner = "b180ead8-d58f-40b2-ae54-c8940995b9b6", "a8418a5a-5fc4-46b5-b23b-6c73beb19d41"
	m := time.Minute
	h := newCorrHarness(t, docs, CorrelationOptions{})
	h.feed(successAt(0, "alice"), failedAt(m, "alice"), failedAt(2*m, "alice"), failedAt(2*m, "bob"), failedAt(3*m, "alice"), successAt(4*m, "bob"), successAt(5*m, "alice"))
	if got := h.times(outer); !reflect.DeepEqual(got, []time.Duration{5 * m}) {
		t.Fatalf("outer fired at %v", got)
	}
	if n := len(h.sigs); n != 1 {
		t.Errorf("%d signals, want only the outer correlation's (the inner one and the rules have generate false)", n)
	}
	s := h.of(outer)[0]
	if len(s.Evidence) != 4 || s.Evidence[0].Offset != 2 || s.Evidence[3].Offset != 7 {
		t.Errorf("evidence %+v", s.Evidence)
	}
	if s.Severity != detect.SeverityHigh || !strings.Contains(s.Explanation.Summary, `2 of 2 rules matched in order ("Multiple failed logons" then "Successful logon") for User=alice`) {
		t.Errorf("signal %+v", s)
	}
	if st := h.ce.Stats()[inner]; st.Fired != 1 {
		t.Errorf("inner stats %+v", st)
	}

	// Generate true on the outer one makes the inner one and the rules emit too.
	h = newCorrHarness(t, strings.Replace(docs, "level: high", "level: high\ngenerate: true", 1), CorrelationOptions{})
	h.feed(failedAt(m, "alice"), failedAt(2*m, "alice"), failedAt(3*m, "alice"), successAt(5*m, "alice"))
	if len(h.of(outer)) != 1 || len(h.of(inner)) != 1 || len(h.of("4d0a2c83-c62c-4ed4-b475-c7e23a9269b8")) != 1 || len(h.of("53ba33fd-3a50-4468-a5ef-c583635cfa92")) != 0 {
		t.Errorf("signals: outer %d, inner %d, success %d, failed %d", len(h.of(outer)), len(h.of(inner)),
			len(h.of("4d0a2c83-c62c-4ed4-b475-c7e23a9269b8")), len(h.of("53ba33fd-3a50-4468-a5ef-c583635cfa92")))
	}

	// The outer correlation may group by a field the inner one does not: it is
	// read from the event that completed the inner condition.
	docs2 := corrYAML("    type: event_count\n    rules: [per_host]\n    group-by: [User]\n    timespan: 1h\n    condition: {gte: 2}\n") + `---
title: Per host
name: per_host
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [Host]
    timespan: 10m
    condition: {gte: 2}
`
	h = newCorrHarness(t, docs2, CorrelationOptions{})
	h.feed(cevAt(0, "EventID", "4625", "Host", "h1", "User", "alice"), cevAt(m, "EventID", "4625", "Host", "h1", "User", "alice"),
		cevAt(2*m, "EventID", "4625", "Host", "h2", "User", "alice"), cevAt(3*m, "EventID", "4625", "Host", "h2", "User", "alice"))
	if got := h.times("c"); !reflect.DeepEqual(got, []time.Duration{3 * m}) {
		t.Errorf("fired at %v", got)
	}
}

func TestCorrelationRejects(t *testing.T) {
	ec := func(name, ref string) string {
		return "title: " + name + "\nname: " + name + "\ncorrelation:\n    type: event_count\n    rules: [" + ref + "]\n    group-by: [User]\n    timespan: 5m\n    condition: {gte: 2}\n"
	}
	docs := ec("a", "b") + "---\n" + ec("b", "a") + "---\n" + ec("self", "self") + "---\n" + ec("over", "a") + "---\n" + ec("fine", "failed_login") +
		"---\ntitle: sums\nname: sums\ncorrelation:\n    type: value_sum\n    rules: [web]\n    group-by: [User]\n    timespan: 5m\n    condition: {field: [A, B], gt: 1}\n" +
		"---\ntitle: many\nname: many\ncorrelation:\n    type: value_count\n    rules: [web]\n    group-by: [User]\n    timespan: 5m\n    condition: {field: A, gt: 100000}\n"
	c := corrCollection(t, docs)
	rs, err := Compile(c, Options{Mapping: testMapping})
	if err != nil {
		t.Fatal(err)
	}
	ce, err := NewCorrelationEngine(c, rs, CorrelationOptions{Mapping: testMapping})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range ce.Rejected {
		got[r.Title] = r.Reason + ": " + r.Err.Error()
	}
	want := map[string]string{
		"a":    "reference: correlation cycle: a -> b -> a",
		"b":    "reference: correlation cycle: a -> b -> a",
		"self": "reference: correlation cycle: self -> self",
		"over": "reference: correlation refers to correlation a, which was rejected",
		"sums": "unsupported: value_sum over several fields (A, B) is not supported: name one",
		"many": "unsupported: value_count over more than 65536 distinct values per group is not supported",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rejected:\n%v\nwant\n%v", got, want)
	}
	if len(ce.corrs) != 1 || ce.corrs[0].ref != "fine" {
		t.Errorf("accepted %d", len(ce.corrs))
	}

	// A correlation over a rule that did not compile is rejected.
	c = corrCollection(t, ec("x", "failed_login"))
	rs, err = Compile(c, Options{Mapping: testMapping})
	if err != nil {
		t.Fatal(err)
	}
	rs.Rejected = append(rs.Rejected, &LoadError{Source: c.Rules[0].Source, Reason: ReasonUnsupported})
	ce, err = NewCorrelationEngine(c, rs, CorrelationOptions{Mapping: testMapping})
	if err != nil || len(ce.Rejected) != 1 || !strings.Contains(ce.Rejected[0].Err.Error(), "did not compile") {
		t.Errorf("rejected %v, err %v", ce.Rejected, err)
	}
}

func TestCorrelationBounds(t *testing.T) {
	const s = time.Second
	t.Run("groups", func(t *testing.T) {
		h := newCorrHarness(t, corrYAML("    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 1h\n    condition: {gte: 2}\n"), CorrelationOptions{MaxGroups: 8})
		var evs []cev
		for i := range 100 {
			evs = append(evs, failedAt(time.Duration(i)*s, fmt.Sprint("user", i)))
		}
		h.feed(evs...)
		st := h.ce.Stats()["c"]
		if st.Groups > 8 || st.Evicted < 90 {
			t.Errorf("stats %+v", st)
		}
		// The most recent groups are kept: user99 fires with one more event, user0 does not.
		h.feed(failedAt(100*s, "user99"), failedAt(100*s, "user0"))
		if got := h.of("c"); len(got) != 1 || got[0].Explanation.Matches[0].Value != "user99" {
			t.Errorf("signals %v", got)
		}
	})
	t.Run("entries merge, counts stay", func(t *testing.T) {
		h := newCorrHarness(t, corrYAML("    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 1h\n    condition: {gte: 10}\n"), CorrelationOptions{MaxEntries: 4})
		var evs []cev
		for i := range 10 {
			evs = append(evs, failedAt(time.Duration(i)*s, "alice"))
		}
		h.feed(evs[:9]...)
		for _, g := range h.ce.corrs[0].groups {
			if g.Entries.n > 4 || g.Count != 9 {
				t.Errorf("entries %d, count %d", g.Entries.n, g.Count)
			}
		}
		h.feed(evs[9])
		if got := h.times("c"); !reflect.DeepEqual(got, []time.Duration{9 * s}) {
			t.Errorf("fired at %v", got)
		}
	})
	t.Run("distinct values", func(t *testing.T) {
		// The cap is raised to decide the condition exactly (gte 100: 101 values).
		h := newCorrHarness(t, corrYAML("    type: value_count\n    rules: [failed_login]\n    group-by: [Ip]\n    timespan: 1h\n    condition: {field: TargetUser, gte: 100}\n"), CorrelationOptions{MaxEntries: 16})
		var evs []cev
		for i := range 300 {
			evs = append(evs, cevAt(time.Duration(i)*s, "EventID", "4625", "Ip", "10.0.0.1", "TargetUser", fmt.Sprint("u", i)))
		}
		h.feed(evs...)
		if got := h.times("c"); !reflect.DeepEqual(got, []time.Duration{99 * s}) {
			t.Errorf("fired at %v", got)
		}
		for _, g := range h.ce.corrs[0].groups {
			if len(g.Distinct) > 101 {
				t.Errorf("%d distinct values kept", len(g.Distinct))
			}
		}
		// Otherwise MaxEntries holds.
		h = newCorrHarness(t, corrYAML("    type: value_count\n    rules: [failed_login]\n    group-by: [Ip]\n    timespan: 1h\n    condition: {field: TargetUser, gte: 3}\n"), CorrelationOptions{MaxEntries: 16})
		h.feed(evs...)
		for _, g := range h.ce.corrs[0].groups {
			if len(g.Distinct) > 16 {
				t.Errorf("%d distinct values kept", len(g.Distinct))
			}
		}
	})
	t.Run("expiry", func(t *testing.T) {
		h := newCorrHarness(t, corrYAML("    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 5m\n    condition: {gte: 3}\n"), CorrelationOptions{})
		h.feed(failedAt(0, "alice"), failedAt(time.Minute, "bob"), failedAt(time.Hour, "carol"))
		if st := h.ce.Stats()["c"]; st.Groups != 1 || st.Expired != 2 {
			t.Errorf("stats %+v", st)
		}
		// Negative lateness keeps them.
		h = newCorrHarness(t, corrYAML("    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 5m\n    condition: {gte: 3}\n"), CorrelationOptions{Lateness: -1})
		h.feed(failedAt(0, "alice"), failedAt(time.Minute, "bob"), failedAt(time.Hour, "carol"), failedAt(time.Minute, "alice"), failedAt(2*time.Minute, "alice"))
		if got := h.times("c"); !reflect.DeepEqual(got, []time.Duration{2 * time.Minute}) {
			t.Errorf("fired at %v", got)
		}
	})
	t.Run("percentile values", func(t *testing.T) {
		h := newCorrHarness(t, corrYAML("    type: value_percentile\n    rules: [proc]\n    group-by: [Computer]\n    timespan: 24h\n    condition: {field: Image, lte: 1}\n"), CorrelationOptions{MaxEntries: 32})
		var evs []cev
		for i := range 100 {
			evs = append(evs, cevAt(time.Duration(i)*s, "EventID", "5", "Computer", "ws1", "Image", fmt.Sprint("p", i%7)))
		}
		h.feed(evs...)
		for _, g := range h.ce.corrs[0].groups {
			if g.Pct.n > 32 {
				t.Errorf("%d values kept", g.Pct.n)
			}
		}
	})
}

// mixedCorrelations exercises every type and both evaluation modes.
const corrMixed = `title: Brute force
name: brute
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [User]
    timespan: 5m
    condition: {gte: 4}
---
title: Spray
name: spray
correlation:
    type: value_count
    rules: [failed_login]
    group-by: [Ip]
    timespan: 10m
    condition: {field: User, gte: 3}
---
title: Compromise
name: compromise
correlation:
    type: temporal_ordered
    rules: [brute, successful_login]
    group-by: [User]
    timespan: 10m
---
title: Recon
name: recon
generate: true
correlation:
    type: temporal
    rules: [recon_a, recon_b, recon_c]
    group-by: [Host]
    timespan: 3m
---
title: Exfil
name: exfil
correlation:
    type: value_sum
    rules: [web]
    group-by: [User]
    timespan: 10m
    condition: {field: Bytes, gt: 1500}
---
title: Quiet
name: quiet
correlation:
    type: value_avg
    rules: [web]
    group-by: [Host]
    timespan: 5m
    condition: {field: Bytes, lt: 300}
---
title: Rare process
name: rare
correlation:
    type: value_percentile
    rules: [proc]
    group-by: [Host]
    timespan: 1h
    condition: {field: Image, lte: 15}
`

// randomEvents is a reproducible stream of events for the correlations above,
// mostly in time order with some out of order.
func corrRandomEvents(seed uint64, n int) []cev {
	r := rand.New(rand.NewPCG(seed, 1))
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"}
	hosts := []string{"h1", "h2", "h3"}
	ids := []string{"4625", "4625", "4625", "4624", "1", "2", "3", "80", "80", "5"}
	var out []cev
	now := time.Duration(0)
	for range n {
		now += time.Duration(r.IntN(10)) * time.Second
		ts := now
		if r.IntN(10) == 0 {
			ts -= time.Duration(r.IntN(600)) * time.Second
		}
		kv := []string{"EventID", ids[r.IntN(len(ids))], "Host", hosts[r.IntN(len(hosts))], "Ip", fmt.Sprint("10.0.0.", r.IntN(3))}
		if r.IntN(20) != 0 {
			kv = append(kv, "User", users[r.IntN(len(users))])
		}
		image := "p0"
		if r.IntN(4) == 0 {
			image = fmt.Sprint("p", r.IntN(30))
		}
		kv = append(kv, "Bytes", strconv.Itoa(r.IntN(1000)), "Image", image)
		out = append(out, cevAt(ts, kv...))
	}
	return out
}

func TestCorrelationSnapshotRestore(t *testing.T) {
	events := corrRandomEvents(7, 3000)
	for _, split := range []int{1, 700, 1500, 2999} {
		t.Run(fmt.Sprint("split ", split), func(t *testing.T) {
			opts := CorrelationOptions{MaxGroups: 6, MaxEntries: 8}
			whole := newCorrHarness(t, corrMixed, opts)
			for i := 0; i < len(events); i += 100 {
				whole.feed(events[i:min(i+100, len(events))]...)
			}
			var wantSnap bytes.Buffer
			if err := whole.ce.Snapshot(&wantSnap); err != nil {
				t.Fatal(err)
			}
			whole.flush()

			first := newCorrHarness(t, corrMixed, opts)
			corrFeedChunks(first, events[:split])
			var snap bytes.Buffer
			if err := first.ce.Snapshot(&snap); err != nil {
				t.Fatal(err)
			}
			second := newCorrHarness(t, corrMixed, opts)
			second.off = first.off
			skipped, err := second.ce.Restore(&snap)
			if err != nil || len(skipped) != 0 {
				t.Fatalf("restore: %v, skipped %v", err, skipped)
			}
			corrFeedChunks(second, events[split:])
			var gotSnap bytes.Buffer
			if err := second.ce.Snapshot(&gotSnap); err != nil {
				t.Fatal(err)
			}
			second.flush()
			got := append(first.sigs, second.sigs...)
			for _, ref := range []string{"spray", "compromise", "recon", "exfil", "quiet", "rare"} {
				if len(whole.of(ref)) == 0 { // brute only feeds compromise
					t.Fatalf("%s never fired: the stream does not exercise it", ref)
				}
			}
			if st := whole.ce.Stats()["brute"]; st.Evicted == 0 || st.Fired == 0 {
				t.Fatalf("brute %+v: the stream does not exercise eviction", st)
			}
			if !reflect.DeepEqual(got, whole.sigs) {
				t.Errorf("signals differ: %d interrupted, %d whole", len(got), len(whole.sigs))
				for i := range min(len(got), len(whole.sigs)) {
					if !reflect.DeepEqual(got[i], whole.sigs[i]) {
						t.Logf("first difference at %d:\n%+v\n%+v", i, got[i], whole.sigs[i])
						break
					}
				}
			}
			if !bytes.Equal(gotSnap.Bytes(), wantSnap.Bytes()) {
				t.Errorf("final state differs")
			}
		})
	}
}

// feedChunks feeds events in batches of 100 counted from the start of the whole
// stream, so that an interrupted run batches like the whole one.
func corrFeedChunks(h *corrHarness, evs []cev) {
	for len(evs) > 0 {
		n := 100 - int(h.off%100)
		n = min(n, len(evs))
		h.feed(evs[:n]...)
		evs = evs[n:]
	}
}

func TestCorrelationSnapshotBytes(t *testing.T) {
	// Group values and sources that are not UTF-8 survive a snapshot (JSON).
	body := corrYAML("    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 5m\n    condition: {gte: 3}\n")
	feed := func(h *corrHarness, i int) {
		evs := h.events(failedAt(time.Duration(i)*time.Minute, "al\xffice"))
		evs[0].Origin.Source = "logs/\xfe.log"
		h.detect(evs)
	}
	whole := newCorrHarness(t, body, CorrelationOptions{})
	for i := range 3 {
		feed(whole, i)
	}
	first := newCorrHarness(t, body, CorrelationOptions{})
	feed(first, 0)
	feed(first, 1)
	var snap bytes.Buffer
	if err := first.ce.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	second := newCorrHarness(t, body, CorrelationOptions{})
	second.off = first.off
	if _, err := second.ce.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	feed(second, 2)
	want, got := whole.of("c"), second.of("c")
	if len(want) != 1 || !reflect.DeepEqual(got, want) {
		t.Fatalf("restored run %+v\nwhole run %+v", got, want)
	}
	e := ev()
	e.Origin = event.Origin{Source: "logs/\xfe.log", Offset: 1}
	if want[0].Evidence[0].EventID != e.ID() {
		t.Errorf("evidence id %s, want the event's %s", want[0].Evidence[0].EventID, e.ID())
	}
}

func TestCorrelationRestoreRejects(t *testing.T) {
	h := newCorrHarness(t, corrMixed, CorrelationOptions{})
	h.feed(corrRandomEvents(3, 200)...)
	var snap bytes.Buffer
	if err := h.ce.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	// A changed definition is skipped, the others restored.
	changed := newCorrHarness(t, strings.Replace(corrMixed, "condition: {gte: 4}", "condition: {gte: 5}", 1), CorrelationOptions{})
	skipped, err := changed.ce.Restore(bytes.NewReader(snap.Bytes()))
	if err != nil || !reflect.DeepEqual(skipped, []string{"brute"}) {
		t.Errorf("skipped %v, err %v", skipped, err)
	}
	for _, bad := range []string{"", "{", `{"version":2}`, `{"version":1,"correlations":[{"ref":"spray","def":"` + h.ce.corrs[1].defFP + `","groups":[{"key":"x","vals":[]}]}]}`} {
		if _, err := changed.ce.Restore(strings.NewReader(bad)); err == nil {
			t.Errorf("restored %q", bad)
		}
	}
}

func TestCorrelationConcurrent(t *testing.T) {
	h := newCorrHarness(t, corrMixed, CorrelationOptions{MaxGroups: 50})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprint("user", w)
			var batch []*event.Event
			for i := range 10 {
				e := ev("EventID", "4625", "User", user, "Ip", "10.9.9.9")
				e.Timestamp = corrT0.Add(time.Duration(i) * time.Second)
				e.Origin = event.Origin{Source: user, Offset: int64(i)}
				batch = append(batch, e)
			}
			if err := h.d.Detect(context.Background(), batch, func(detect.Signal) {}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Each user: 10 events within 10s, threshold 4, one firing per timespan.
	// (brute feeds compromise, which has generate false: it emits nothing itself.)
	if st := h.ce.Stats()["brute"]; st.Fired != 8 || st.Updates != 80 || st.Groups != 8 {
		t.Errorf("brute stats %+v, want one firing per user", st)
	}
	if st := h.ce.Stats()["spray"]; st.Fired != 1 {
		t.Errorf("spray stats %+v, want one firing (8 users from one address)", st)
	}
}

func TestCorrelationRing(t *testing.T) {
	var r corrRing[int]
	for i := range 10 {
		r.insert(r.n, i, 16)
	}
	r.popFront()
	r.popFront()
	r.insert(3, 100, 16)
	r.insert(0, -1, 16)
	var got []int
	for i := 0; i < r.n; i++ {
		got = append(got, *r.at(i))
	}
	if want := []int{-1, 2, 3, 4, 100, 5, 6, 7, 8, 9}; !reflect.DeepEqual(got, want) {
		t.Errorf("ring %v, want %v", got, want)
	}
	r.pushEvict([]int{10, 11, 12}, 10)
	if r.n != 10 || *r.at(0) != 4 || *r.at(9) != 12 {
		t.Errorf("after pushEvict: n %d, front %d", r.n, *r.at(0))
	}
}

func FuzzCorrelation(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"))
	f.Add(bytes.Repeat([]byte{0x10, 0x22, 0x83, 0xf4, 0x05}, 40))
	c := corrCollection(f, corrMixed)
	rs, err := Compile(c, Options{Mapping: testMapping})
	if err != nil {
		f.Fatal(err)
	}
	ids := []string{"4625", "4624", "1", "2", "3", "80", "5"}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := CorrelationOptions{Mapping: testMapping, MaxGroups: 4, MaxEntries: 4, MaxEvidence: 3, Lateness: time.Duration(len(data)%3-1) * time.Minute}
		ce, err := NewCorrelationEngine(c, rs, opts)
		if err != nil {
			t.Fatal(err)
		}
		d := NewDetector(rs).WithCorrelations(ce)
		now := time.Duration(0)
		var batch []*event.Event
		for i := 0; i+4 < len(data); i += 5 {
			b := data[i : i+5]
			now += time.Duration(int8(b[0])) * time.Second * 7
			e := ev("EventID", ids[int(b[1])%len(ids)], "User", fmt.Sprint("u", b[2]%5), "Host", fmt.Sprint("h", b[2]/64),
				"Ip", fmt.Sprint("10.0.0.", b[3]%6), "Bytes", strconv.Itoa(int(int8(b[4]))*100), "Image", fmt.Sprint("p", b[4]%9))
			if b[3] > 250 {
				e = ev("EventID", ids[int(b[1])%len(ids)], "Bytes", "NaN", "Image", "")
			}
			e.Timestamp = corrT0.Add(now)
			e.Origin.Offset = int64(i)
			batch = append(batch, e)
		}
		emit := func(s detect.Signal) {
			if len(s.Evidence) > 3 || s.RuleID == "" {
				t.Fatalf("signal %+v", s)
			}
		}
		half := len(batch) / 2
		if err := d.Detect(context.Background(), batch[:half], emit); err != nil {
			t.Fatal(err)
		}
		var snap bytes.Buffer
		if err := ce.Snapshot(&snap); err != nil {
			t.Fatal(err)
		}
		if _, err := ce.Restore(&snap); err != nil {
			t.Fatal(err)
		}
		if err := d.Detect(context.Background(), batch[half:], emit); err != nil {
			t.Fatal(err)
		}
		for _, cs := range ce.corrs {
			if len(cs.groups) > 4 {
				t.Fatalf("%s: %d groups", cs.ref, len(cs.groups))
			}
			for _, g := range cs.groups {
				if g.Entries.n > 4 || g.Pct.n > 4 || len(g.Distinct) > cs.maxDistinct || g.Ev.n > 3 {
					t.Fatalf("%s: group %q over its bounds", cs.ref, g.Key)
				}
			}
		}
		d.Flush(emit)
	})
}

func FuzzCorrelationRestore(f *testing.F) {
	opts := CorrelationOptions{Mapping: testMapping, MaxGroups: 4, MaxEntries: 4, MaxEvidence: 3}
	h := newCorrHarness(f, corrMixed, opts)
	h.feed(corrRandomEvents(5, 300)...)
	var snap bytes.Buffer
	if err := h.ce.Snapshot(&snap); err != nil {
		f.Fatal(err)
	}
	f.Add(snap.Bytes())
	f.Add([]byte(`{"version":1,"correlations":[{"ref":"brute","def":"x"}]}`))
	c := corrCollection(f, corrMixed)
	rs, err := Compile(c, Options{Mapping: testMapping})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ce, err := NewCorrelationEngine(c, rs, opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ce.Restore(bytes.NewReader(data)); err != nil {
			return
		}
		d := NewDetector(rs).WithCorrelations(ce)
		batch := (&corrHarness{}).events(corrRandomEvents(uint64(len(data)), 100)...)
		if err := d.Detect(context.Background(), batch, func(detect.Signal) {}); err != nil {
			t.Fatal(err)
		}
		for _, cs := range ce.corrs {
			if len(cs.groups) > 4 {
				t.Fatalf("%s: %d groups", cs.ref, len(cs.groups))
			}
			for _, g := range cs.groups {
				if g.Entries.n > 4 || g.Pct.n > 4 || len(g.Distinct) > cs.maxDistinct || g.Ev.n > 3 {
					t.Fatalf("%s: group %q over its bounds", cs.ref, g.Key)
				}
			}
		}
		if err := ce.Snapshot(io.Discard); err != nil {
			t.Fatal(err)
		}
		d.Flush(func(detect.Signal) {})
	})
}

// BenchmarkCorrelationUpdate measures correlation state updates: one rule hit
// applied to one correlation (group-by user, 1,000 users, events 1ms apart in
// time order, so each group sees one event a second and fires now and then).
func BenchmarkCorrelationUpdate(b *testing.B) {
	for _, tc := range []struct{ name, body string }{
		{"event_count", "    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 5m\n    condition: {gte: 50}\n"},
		{"value_count", "    type: value_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 5m\n    condition: {field: Ip, gte: 50}\n"},
		{"temporal_ordered", "    type: temporal_ordered\n    rules: [failed_login, failed_login]\n    group-by: [User]\n    timespan: 5m\n"},
		{"value_sum", "    type: value_sum\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 5m\n    condition: {field: Bytes, gt: 1000000}\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			benchCorrelation(b, tc.body, 1000, CorrelationOptions{})
		})
	}
	// Group churn: 100,000 users cycling through at most 10,000 groups, so
	// nearly every update creates a group and the eviction path runs.
	b.Run("event_count_churn", func(b *testing.B) {
		benchCorrelation(b, "    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 1h\n    condition: {gte: 50}\n", 100000, CorrelationOptions{MaxGroups: 10000})
	})
}

// benchCorrelation applies b.N hits of failed_login to the correlation of body,
// on events of users users 1ms apart.
func benchCorrelation(b *testing.B, body string, users int, opts CorrelationOptions) {
	h := newCorrHarness(b, corrYAML(body), opts)
	var rule *Rule
	for r := range h.ce.byRule {
		rule = r
	}
	hit := &Hit{Rule: rule}
	evs := make([]*event.Event, users)
	for i := range evs {
		evs[i] = ev("EventID", "4625", "User", fmt.Sprint("user", i), "Ip", "10.0.0.0", "Bytes", strconv.Itoa(4000+i))
		evs[i].Origin = event.Origin{Source: "bench.log", Offset: int64(i)}
	}
	ips := make([]string, 64)
	for i := range ips {
		ips[i] = fmt.Sprint("10.0.0.", i)
	}
	fired := 0
	emit := func(detect.Signal) { fired++ }
	b.ReportAllocs()
	b.ResetTimer()
	ipKey := event.MakeKey("Ip")
	for i := range b.N {
		e := evs[i%users]
		e.Timestamp = corrT0.Add(time.Duration(i) * time.Millisecond)
		for k := range e.Raw { // value_count: a new address now and then
			if e.Raw[k].Key == ipKey {
				e.Raw[k].Value = ips[(i/users)%len(ips)]
			}
		}
		h.ce.observe(hit, e, emit)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	if b.N > 100*users && fired == 0 {
		b.Fatal("never fired")
	}
}
