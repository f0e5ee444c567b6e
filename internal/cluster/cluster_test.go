package cluster

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/replay"
	"github.com/vigilsec/vigil/internal/sim"
	"github.com/vigilsec/vigil/internal/store/sqlite"
	"github.com/vigilsec/vigil/internal/stream"
)

func TestOwnerSpreadsAndMovesLittle(t *testing.T) {
	const parts = 64
	three := []string{"a", "b", "c"}
	count := map[string]int{}
	for p := range parts {
		count[Owner(p, three)]++
	}
	for _, m := range three {
		if count[m] < parts/6 {
			t.Errorf("member %s owns %d of %d partitions: %v", m, count[m], parts, count)
		}
	}
	// A fourth member takes partitions only from the others, about a quarter.
	four := append(three, "d")
	moved := 0
	for p := range parts {
		before, after := Owner(p, three), Owner(p, four)
		if before != after {
			moved++
			if after != "d" {
				t.Errorf("partition %d moved from %s to %s, not to the new member", p, before, after)
			}
		}
	}
	if moved == 0 || moved > parts/2 {
		t.Errorf("%d of %d partitions moved when a fourth member joined", moved, parts)
	}
	// The order members are listed in does not matter.
	for p := range parts {
		if Owner(p, []string{"c", "a", "b"}) != Owner(p, three) {
			t.Fatalf("partition %d: the owner depends on the members' order", p)
		}
	}
	if Owner(0, nil) != "" {
		t.Error("a partition has an owner among no members")
	}
}

func TestEntityKey(t *testing.T) {
	tests := []struct {
		name string
		set  func(e *event.Event)
		want string
	}{
		{"logon goes by user", func(e *event.Event) {
			e.Category = event.CatAuthentication
			e.SetUser(event.UserRef{Name: "alice", Domain: "corp"})
			e.SetHost("dc01.corp.example")
		}, "user:alice@corp"},
		{"process goes by host", func(e *event.Event) {
			e.SetUser(event.UserRef{Name: "alice"})
			e.SetHost("WS-042.corp.example")
		}, "host:ws-042"},
		{"flow goes by source", func(e *event.Event) {
			e.SetIP(event.SourceIP, event.ParseIP("10.0.0.7"))
			e.SetIP(event.DestinationIP, event.ParseIP("8.8.8.8"))
		}, "ip:10.0.0.7"},
		{"logon without user goes by host", func(e *event.Event) {
			e.Category = event.CatAuthentication
			e.SetHost("srv1")
		}, "host:srv1"},
		{"only a destination", func(e *event.Event) { e.SetIP(event.DestinationIP, event.ParseIP("8.8.4.4")) }, "ip:8.8.4.4"},
		{"nothing", func(*event.Event) {}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e event.Event
			tt.set(&e)
			if got := EntityKey(&e); got != tt.want {
				t.Errorf("EntityKey = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeyerDecodesRecords(t *testing.T) {
	k := NewKeyer(formats.Default(), decode.Limits{})
	ctx := context.Background()
	// Zeek conn logs: a TSV header as the record's context, by source address.
	header := "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n" +
		"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\n"
	zeek := ingest.Record{Source: "tail:/var/log/zeek/conn.log", Context: []byte(header),
		Data: []byte("1700000000.000000\tCx1\t10.1.2.3\t51000\t93.184.216.34\t443\ttcp")}
	if got := k.Key(ctx, &zeek); got != "ip:10.1.2.3" {
		t.Errorf("zeek conn record: key %q", got)
	}
	// The same again comes from the cache of detected formats.
	if got := k.Key(ctx, &zeek); got != "ip:10.1.2.3" {
		t.Errorf("zeek conn record, second time: key %q", got)
	}
	garbage := ingest.Record{Source: "http:ndjson", Data: []byte{0xff, 0xfe, 0}}
	if got := k.Key(ctx, &garbage); got != "source:http:ndjson" {
		t.Errorf("a record no decoder knows: key %q, want its source", got)
	}
	named := ingest.Record{Source: "hec:x", Format: "no-such-format", Data: []byte("{}")}
	if got := k.Key(ctx, &named); got != "source:hec:x" {
		t.Errorf("a record of an unknown format: key %q, want its source", got)
	}
}

func FuzzKeyer(f *testing.F) {
	f.Add("http:ndjson", "", []byte(`{"@timestamp":"2024-01-01T00:00:00Z","host":{"name":"a"}}`), []byte(nil))
	f.Add("tail:x", "zeek-tsv", []byte("1\t2\t3"), []byte("#fields\tts\tuid\tid.orig_h\n"))
	f.Add("syslog:udp", "", []byte("<34>Oct 11 22:14:15 mymachine su: 'su root' failed"), []byte(nil))
	f.Add("http:ndjson", "", []byte("{\"@timestamp\":\"2024-01-01T00:00:00Z\",\"host\":{\"name\":\"a\"},\"event\":{\"kind\":\"event\"}}\x1e{\"a\":\x1e1}\x1e{\"source\":{\"ip\":\"10.0.0.1\"}}"), []byte(nil))
	k := NewKeyer(formats.Default(), decode.Limits{MaxLine: 1 << 16, MaxRecord: 1 << 16})
	f.Fuzz(func(t *testing.T, source, format string, data, context []byte) {
		r := ingest.Record{Source: source, Format: format, Data: data, Context: context}
		if key := k.Key(t.Context(), &r); key == "" {
			t.Fatal("a record got no key")
		}
		// The same bytes cut at 0x1e into records of one stream and of a
		// second source, interleaved: a batch keyed stream by stream.
		var recs []ingest.Record
		for i, part := range bytes.Split(data, []byte{0x1e}) {
			src := source
			if i%2 == 1 {
				src += "#2"
			}
			recs = append(recs, ingest.Record{Source: src, Format: format, Data: part, Context: context})
		}
		keys := k.Keys(t.Context(), recs)
		if len(keys) != len(recs) {
			t.Fatalf("%d keys for %d records", len(keys), len(recs))
		}
		for i, key := range keys {
			if key == "" {
				t.Fatalf("record %d of a batch got no key", i)
			}
		}
	})
}

func TestBatchRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 5, 10, 0, 0, 123, time.UTC)
	b := Batch{Partition: 2, Watermark: at.UnixNano(), Signals: []Released{{
		Signal:   detect.Signal{ID: "s1", Time: at, DetectorID: "sigma", Title: "x", Confidence: 0.7, Entities: []detect.Entity{{Kind: detect.EntityIP, Value: "10.0.0.1"}}},
		Resolved: []Resolution{{From: detect.Entity{Kind: detect.EntityIP, Value: "10.0.0.1"}, To: detect.Entity{Kind: detect.EntityHost, Value: "ws1"}}},
	}}}
	m, err := EncodeBatch(&b, "id-1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBatch(m.Data, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got.Partition != 2 || got.Watermark != b.Watermark || len(got.Signals) != 1 || !got.Signals[0].Signal.Time.Equal(at) ||
		got.Signals[0].Resolved[0].To.Value != "ws1" || m.ID != "id-1" {
		t.Fatalf("round trip: %+v", got)
	}
	for name, bad := range map[string]string{
		"partition out of range": `{"v":1,"p":4,"wm":0}`,
		"negative partition":     `{"v":1,"p":-1,"wm":0}`,
		"other version":          `{"v":2,"p":0,"wm":0}`,
		"unknown field":          `{"v":1,"p":0,"wm":0,"x":1}`,
		"signal without id":      `{"v":1,"p":0,"wm":0,"signals":[{"signal":{"time":"2026-01-01T00:00:00Z"}}]}`,
		"signal without time":    `{"v":1,"p":0,"wm":0,"signals":[{"signal":{"id":"a"}}]}`,
		"trailing data":          `{"v":1,"p":0,"wm":0} {}`,
		"not json":               `v=1`,
	} {
		if _, err := DecodeBatch([]byte(bad), 4); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"v":1,"p":0,"wm":5,"idle":true}`))
	f.Add([]byte(`{"v":1,"p":1,"wm":0,"signals":[{"signal":{"id":"a","time":"2026-01-01T00:00:00Z"},"resolved":[{"from":{"kind":"ip","value":"1"},"to":{"kind":"host","value":"h"}}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBatch(data, 3)
		if err != nil {
			return
		}
		if b.Partition < 0 || b.Partition >= 3 {
			t.Fatalf("partition %d accepted", b.Partition)
		}
		for _, s := range b.Signals {
			if s.Signal.ID == "" || s.Signal.Time.IsZero() {
				t.Fatal("a signal without id or time accepted")
			}
		}
	})
}

func FuzzDecodeCorrCheckpoint(f *testing.F) {
	f.Add([]byte(corrMagic + "\x30" + `{"next":3,"watermarks":[1],"idle":[false],"reported":[true],"released":0,"last_expire":0,"pending":[]}` + "{}"))
	f.Add([]byte(corrMagic + "\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, _, err := decodeCorrCheckpoint(data, 1)
		if err == nil && (len(h.WM) != 1 || len(h.Idle) != 1 || len(h.Reported) != 1) {
			t.Fatalf("a checkpoint of another partition count accepted: %+v", h)
		}
	})
}

// correlatorFixture is a correlator run over an in-process bus and store.
func correlatorFixture(t *testing.T, parts int) (*correlatorRun, *bus.Memory) {
	t.Helper()
	ctx := t.Context()
	b := bus.NewMemory(bus.MemoryOptions{})
	t.Cleanup(func() { _ = b.Close() })
	if err := Ensure(ctx, b, parts); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	r, err := newCorrelatorRun(ctx, correlatorOptions{Bus: b, Store: st, Partitions: parts,
		Checkpoints: stream.StoreCheckpoints{Store: st, Key: CorrelatorCheckpointID},
		NewCorrelator: func(override func(detect.Entity) (detect.Entity, bool)) *correlate.Correlator {
			return correlate.New(correlate.Options{Resolve: func(e detect.Entity, _ time.Time) detect.Entity {
				if to, ok := override(e); ok {
					return to
				}
				return e
			}})
		},
		CheckpointEvery: time.Hour, IncidentFlush: time.Millisecond, ExpireEvery: time.Minute, Now: time.Now, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	return r, b
}

var t0 = time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC)

func sig(id string, sec int, ip string) Released {
	return Released{Signal: detect.Signal{ID: id, Time: t0.Add(time.Duration(sec) * time.Second), DetectorID: "test", Title: id,
		Severity: detect.SeverityMedium, Confidence: 0.5, Entities: []detect.Entity{{Kind: detect.EntityIP, Value: ip}}}}
}

func publish(t *testing.T, b bus.Bus, seq *int, batch Batch) {
	t.Helper()
	*seq++
	m, err := EncodeBatch(&batch, fmt.Sprint(*seq))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), SignalsTopic, 0, []bus.Message{m}); err != nil {
		t.Fatal(err)
	}
}

func TestCorrelatorWaitsForEveryPartition(t *testing.T) {
	r, b := correlatorFixture(t, 2)
	ctx := t.Context()
	seq := 0
	wm := func(sec int) int64 { return t0.Add(time.Duration(sec) * time.Second).UnixNano() }
	publish(t, b, &seq, Batch{Partition: 0, Watermark: wm(10), Signals: []Released{sig("a", 5, "10.0.0.1"), sig("b", 9, "10.0.0.2")}})
	if err := r.step(ctx); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Correlated != 0 || s.Pending != 2 || len(s.Waiting) != 1 || s.Waiting[0] != 1 {
		t.Fatalf("partition 1 not heard of: %+v", s)
	}
	// Partition 1 is at 6 s: only what is at or before it goes.
	publish(t, b, &seq, Batch{Partition: 1, Watermark: wm(6), Signals: []Released{sig("c", 4, "10.0.0.1")}})
	if err := r.step(ctx); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Correlated != 2 || s.Pending != 1 {
		t.Fatalf("after partition 1 at 6 s: %+v", s)
	}
	// a and c share an address: one incident, created by c (the earlier).
	incs := r.corr.Incidents()
	if len(incs) != 1 || len(incs[0].SignalIDs) != 2 {
		t.Fatalf("incidents: %+v", incs)
	}
	// A redelivered signal (a worker replaying after a takeover) changes nothing.
	publish(t, b, &seq, Batch{Partition: 0, Watermark: wm(10), Signals: []Released{sig("a", 5, "10.0.0.1"), sig("b", 9, "10.0.0.2")}})
	// Partition 1 goes idle: the rest goes.
	publish(t, b, &seq, Batch{Partition: 1, Watermark: wm(6), Idle: true})
	if err := r.step(ctx); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Correlated != 3 || s.Pending != 0 || s.Idle != 1 {
		t.Fatalf("after partition 1 went idle: %+v", s)
	}
	if n := len(r.corr.Incidents()); n != 2 {
		t.Fatalf("%d incidents, want 2", n)
	}
	// A late signal (before what was released) goes at once, resolved as its
	// partition said: 10.0.0.9 is host ws1, as is b's 10.0.0.2.
	late := sig("d", 1, "10.0.0.9")
	late.Resolved = []Resolution{{From: detect.Entity{Kind: detect.EntityIP, Value: "10.0.0.9"}, To: detect.Entity{Kind: detect.EntityIP, Value: "10.0.0.2"}}}
	publish(t, b, &seq, Batch{Partition: 0, Watermark: wm(10), Signals: []Released{late}})
	if err := r.step(ctx); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Correlated != 4 || s.Pending != 0 {
		t.Fatalf("after a late signal: %+v", s)
	}
	joined := false
	for _, inc := range r.corr.Incidents() {
		if strings.Contains(strings.Join(inc.SignalIDs, ","), "d") && len(inc.SignalIDs) == 2 {
			joined = true
		}
	}
	if !joined {
		t.Errorf("the late signal's resolution was not applied: %+v", r.corr.Incidents())
	}
}

func TestCorrelatorCheckpointRestores(t *testing.T) {
	r, b := correlatorFixture(t, 2)
	ctx := t.Context()
	seq := 0
	wm := t0.Add(10 * time.Second).UnixNano()
	publish(t, b, &seq, Batch{Partition: 0, Watermark: wm, Signals: []Released{sig("a", 5, "10.0.0.1"), sig("b", 20, "10.0.0.1")}})
	publish(t, b, &seq, Batch{Partition: 1, Watermark: wm})
	if err := r.step(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	// A new run (another member took the role over) resumes with b pending.
	r2, err := newCorrelatorRun(ctx, r.o)
	if err != nil {
		t.Fatal(err)
	}
	if r2.next != r.next || len(r2.pending) != 1 || r2.pending[0].Signal.ID != "b" || r2.released != r.released {
		t.Fatalf("restored: next %d pending %d released %d; want next %d, b pending, released %d", r2.next, len(r2.pending), r2.released, r.next, r.released)
	}
	if n := len(r2.corr.Incidents()); n != 1 {
		t.Fatalf("restored correlator has %d incidents", n)
	}
	// The signals it covers are trimmed.
	msgs, err := b.Read(ctx, SignalsTopic, 0, 1, 10, 0)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("after the checkpoint, %d signals messages left (%v)", len(msgs), err)
	}
	// A checkpoint of another partition count is refused.
	r.o.Partitions = 3
	if _, err := newCorrelatorRun(ctx, r.o); err == nil {
		t.Fatal("a checkpoint of 2 partitions restored into 3")
	}
}

func TestPartitionLogKeepsPositions(t *testing.T) {
	ctx := t.Context()
	b := bus.NewMemory(bus.MemoryOptions{})
	defer b.Close()
	if err := Ensure(ctx, b, 1); err != nil {
		t.Fatal(err)
	}
	good := ingest.Record{Source: "s", Data: []byte("x")}
	msgs := []bus.Message{{ID: "1", Data: ingest.AppendRecord(nil, &good)}, {ID: "2", Data: []byte{0xff, 1, 2}}, {ID: "3", Data: ingest.AppendRecord(nil, &good)}}
	if err := b.Publish(ctx, EventsTopic, 0, msgs); err != nil {
		t.Fatal(err)
	}
	var bad atomicCounter
	l := partitionLog{bus: b, partition: 0, bad: &bad.n, log: discard()}
	es, err := l.Read(ctx, 1, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || es[1].Seq != 2 || es[1].Record.Source != undecodableSource || !bytes.Equal(es[2].Record.Data, []byte("x")) || bad.n.Load() != 1 {
		t.Fatalf("entries %+v, bad %d", es, bad.n.Load())
	}
	if err := l.Commit(2); err != nil {
		t.Fatal(err)
	}
	if es, _ := l.Read(ctx, 1, 10, 0); len(es) != 1 || es[0].Seq != 3 {
		t.Fatalf("after commit at 2: %+v", es)
	}
}

// TestKeysMatchKey: keying a batch, its streams decoded together, gives each
// record the key it gets alone, over a simulated organisation's interleaved
// logs with hostile records among them.
func TestKeysMatchKey(t *testing.T) {
	timed := simTimed(t, 10, 1)
	var recs []ingest.Record
	sources := map[string]bool{}
	for i, r := range timed {
		recs = append(recs, r.Record)
		sources[r.Record.Source] = true
		if i%97 == 0 { // a record of the same stream that decodes to nothing
			bad := r.Record
			bad.Data = []byte{0xff, '{', 0}
			recs = append(recs, bad)
		}
	}
	if len(recs) < 1000 || len(sources) < 3 {
		t.Fatalf("%d records of %d sources: the test proves nothing", len(recs), len(sources))
	}
	k := NewKeyer(formats.Default(), decode.Limits{})
	keyed := 0
	for start := 0; start < len(recs); start += 500 {
		batch := recs[start:min(start+500, len(recs))]
		keys := k.Keys(t.Context(), batch)
		for i := range batch {
			want := k.Key(t.Context(), &batch[i])
			if keys[i] != want {
				t.Fatalf("record %d (%s %q): batch key %q, alone %q", start+i, batch[i].Source, batch[i].Data, keys[i], want)
			}
			if !strings.HasPrefix(want, "source:") {
				keyed++
			}
		}
	}
	if keyed < len(recs)*3/4 {
		t.Errorf("only %d of %d records keyed by an entity", keyed, len(recs))
	}
}

// simTimed is a simulated organisation's logs in event-time order: records of
// many sources interleaved, as an ingest node receives them.
func simTimed(tb testing.TB, users, days int) []replay.Timed {
	tb.Helper()
	dir := tb.TempDir()
	if _, err := sim.Run(sim.Config{Seed: 5, Users: users, Days: days, Out: dir}); err != nil {
		tb.Fatal(err)
	}
	timed, _, err := replay.Load(context.Background(), dir, formats.Default())
	if err != nil {
		tb.Fatal(err)
	}
	return timed
}

// BenchmarkKeys is an ingest node's keying: records/s per core of
// Keyer.Keys over batches of 1,000 interleaved records (what decoding each
// record once more for its partition costs).
//
//	go test ./internal/cluster -run '^$' -bench Keys -benchmem -cpu 1
func BenchmarkKeys(b *testing.B) {
	timed := simTimed(b, 30, 2)
	recs := make([]ingest.Record, len(timed))
	for i, r := range timed {
		recs[i] = r.Record
	}
	k := NewKeyer(formats.Default(), decode.Limits{})
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		for start := 0; start < len(recs); start += 1000 {
			k.Keys(ctx, recs[start:min(start+1000, len(recs))])
		}
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
