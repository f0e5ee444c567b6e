package decodetest

import (
	"bytes"
	"context"
	"testing"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// Discard is a sink that recycles one event, as the pipeline's pool does, and
// counts what it is given.
type Discard struct {
	e        event.Event
	Emitted  int
	Rejected int
}

// Alloc implements decode.Sink.
func (s *Discard) Alloc() *event.Event { s.e.Reset(); return &s.e }

// Emit implements decode.Sink.
func (s *Discard) Emit(*event.Event) { s.Emitted++ }

// Reject implements decode.Sink.
func (s *Discard) Reject(*decode.RecordError) { s.Rejected++ }

// Bench decodes data with d once per iteration, reports bytes/s, allocations and
// events/s, and fails unless every iteration emitted wantEvents events.
func Bench(b *testing.B, d decode.Decoder, data []byte, wantEvents int) {
	b.Helper()
	s := &Discard{}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: "bench"}, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(wantEvents*b.N)/b.Elapsed().Seconds(), "events/s")
	if s.Emitted != wantEvents*b.N {
		b.Fatalf("emitted %d, want %d", s.Emitted, wantEvents*b.N)
	}
}
