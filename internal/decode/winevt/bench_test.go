package winevt

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/cputime"
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// countSink recycles one event, as a pipeline with an event pool would.
type countSink struct {
	e       event.Event
	n       int
	rejects int
}

func (s *countSink) Alloc() *event.Event        { s.e.Reset(); return &s.e }
func (s *countSink) Emit(*event.Event)          { s.n++ }
func (s *countSink) Reject(*decode.RecordError) { s.rejects++ }

// compactLines returns the fixture's JSON objects as NDJSON (one compact object per line).
func compactLines(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	var out []byte
	jr := decode.NewJSONReader(bytes.NewReader(data), decode.Limits{})
	var p fastjson.Parser
	for {
		rec, err := jr.Next()
		if err != nil {
			break
		}
		v, err := p.ParseBytes(rec.Bytes)
		if err != nil {
			tb.Fatal(err)
		}
		out = v.MarshalTo(out)
		out = append(out, '\n')
	}
	return out
}

func benchDecode(b *testing.B, d *Decoder, one []byte) { benchDecodeN(b, d, one, 1000) }

// benchDecodeN decodes copies copies of one per iteration.
func benchDecodeN(b *testing.B, d *Decoder, one []byte, copies int) {
	data := bytes.Repeat(one, copies)
	sink := &countSink{}
	if err := d.Decode(context.Background(), decode.Input{R: bytes.NewReader(one), Source: "bench"}, sink); err != nil || sink.rejects > 0 || sink.n == 0 {
		b.Fatalf("warm-up: err %v, %d rejects, %d events", err, sink.rejects, sink.n)
	}
	perCopy := sink.n
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		if err := d.Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: "bench"}, sink); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cputime.Process() - cpu0
	events := float64(b.N * copies * perCopy)
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	if cpu > 0 {
		b.ReportMetric(events/cpu.Seconds(), "events/cpu-s")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
}

// The cross_* fixtures hold a Sysmon 1 and a Security 4624 event in each shape.
func BenchmarkDecodeEvtxDump(b *testing.B) {
	benchDecode(b, NewEvtxDump(), compactLines(b, "cross_evtxdump.json"))
}

func BenchmarkDecodeEvtxDumpPretty(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "cross_evtxdump.json"))
	if err != nil {
		b.Fatal(err)
	}
	benchDecode(b, NewEvtxDump(), data)
}

func BenchmarkDecodeWinlogbeat(b *testing.B) {
	benchDecode(b, NewWinlogbeat(), compactLines(b, "cross_winlogbeat.ndjson"))
}

func BenchmarkDecodeFlat(b *testing.B) {
	benchDecode(b, NewFlat(), compactLines(b, "cross_flat.ndjson"))
}

func BenchmarkNormalize(b *testing.B) {
	s := decodeFixtureB(b, NewEvtxDump(), "cross_evtxdump.json")
	b.ReportAllocs()
	for b.Loop() {
		for _, src := range s {
			e := event.Event{Timestamp: src.Timestamp, Raw: src.Raw}
			Normalize(&e)
		}
	}
	b.ReportMetric(float64(b.N*len(s))/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkNormalizer is BenchmarkNormalize with a stream's caching Normalizer, as
// the decoders use it.
func BenchmarkNormalizer(b *testing.B) {
	s := decodeFixtureB(b, NewEvtxDump(), "cross_evtxdump.json")
	n := NewNormalizer()
	var e event.Event
	b.ReportAllocs()
	for b.Loop() {
		for _, src := range s {
			e.Reset()
			e.Timestamp, e.Raw = src.Timestamp, append(e.Raw, src.Raw...)
			n.Normalize(&e)
		}
	}
	b.ReportMetric(float64(b.N*len(s))/b.Elapsed().Seconds(), "events/s")
}

func decodeFixtureB(b *testing.B, d *Decoder, name string) []*event.Event {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		b.Fatal(err)
	}
	var evs []*event.Event
	sink := &collect{evs: &evs}
	if err := d.Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: name}, sink); err != nil {
		b.Fatal(err)
	}
	return evs
}

type collect struct{ evs *[]*event.Event }

func (c *collect) Alloc() *event.Event        { return new(event.Event) }
func (c *collect) Emit(e *event.Event)        { *c.evs = append(*c.evs, e) }
func (c *collect) Reject(*decode.RecordError) {}

// BenchmarkBaselineParse frames and parses the same NDJSON with fastjson and does
// nothing else: the floor a JSON decoder cannot go under, to read the decoders'
// figures against on a given machine.
func BenchmarkBaselineParse(b *testing.B) {
	one := compactLines(b, "cross_evtxdump.json")
	data := bytes.Repeat(one, 1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var p fastjson.Parser
	n := 0
	cpu0 := cputime.Process()
	for b.Loop() {
		jr := decode.NewJSONReader(bytes.NewReader(data), decode.Limits{})
		for {
			rec, err := jr.Next()
			if err != nil {
				break
			}
			if _, err := p.ParseBytes(rec.Bytes); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	if cpu := cputime.Process() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "events/cpu-s")
	}
}
