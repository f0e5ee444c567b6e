package bustest

import (
	"context"
	"fmt"
	"testing"

	"github.com/vigilsec/vigil/internal/bus"
)

// Sizes of the benchmarks: batches of BenchBatch messages of BenchSize bytes.
const (
	BenchBatch = 1000
	BenchSize  = 500
)

// benchMessages returns batch number n, with IDs of its own.
func benchMessages(n int) []bus.Message {
	data := make([]byte, BenchSize)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	msgs := make([]bus.Message, BenchBatch)
	for i := range msgs {
		msgs[i] = bus.Message{ID: fmt.Sprintf("bench-%d-%d", n, i), Data: data}
	}
	return msgs
}

// BenchPublish measures Publish of batches to one partition of an empty bus,
// in bytes/s (b.SetBytes) and msgs/s.
func BenchPublish(b *testing.B, m bus.Bus) {
	ctx := context.Background()
	if err := m.Ensure(ctx, bus.Topic{Name: "bench", Partitions: 1}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(BenchBatch * BenchSize)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		b.StopTimer()
		msgs := benchMessages(n)
		n++
		b.StartTimer()
		if err := m.Publish(ctx, "bench", 0, msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*BenchBatch)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchRead measures Reads of batches continuing one another on one
// partition of an empty bus, in bytes/s (b.SetBytes) and msgs/s. It reads 50
// batches over and over: one Read in 50 jumps back to the start.
func BenchRead(b *testing.B, m bus.Bus) {
	ctx := context.Background()
	if err := m.Ensure(ctx, bus.Topic{Name: "bench", Partitions: 1}); err != nil {
		b.Fatal(err)
	}
	const batches = 50
	for i := range batches {
		if err := m.Publish(ctx, "bench", 0, benchMessages(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(BenchBatch * BenchSize)
	b.ReportAllocs()
	from, n := uint64(1), 0
	for b.Loop() {
		got, err := m.Read(ctx, "bench", 0, from, BenchBatch, 0)
		if err != nil || len(got) != BenchBatch {
			b.Fatalf("Read from %d: %d messages, %v", from, len(got), err)
		}
		n += len(got)
		from = got[len(got)-1].Seq + 1
		if from > batches*BenchBatch {
			from = 1
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
