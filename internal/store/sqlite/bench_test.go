package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/cputime"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/storetest"
)

// BenchmarkPutSignals inserts new signals in batches of 1,000, as the pipeline
// does, into a table that starts empty (Empty) or holds 300,000 signals
// (Prefilled300k). Target: at least 50,000 signals/s. Throughput falls as the
// table grows, because the id index and the entity index take random inserts:
// each batch dirties more of their pages, and every dirty page is written to the
// WAL and checkpointed.
func BenchmarkPutSignals(b *testing.B) {
	b.Run("Empty", func(b *testing.B) { benchPutSignals(b, 0) })
	b.Run("Prefilled300k", func(b *testing.B) { benchPutSignals(b, 300) })
}

func benchPutSignals(b *testing.B, prefillBatches int) {
	s := openTemp(b, b.TempDir())
	defer s.Close()
	ctx := context.Background() // no per-statement cancellation watcher
	const batch = 1000
	sigs := make([]detect.Signal, batch)
	n := 0
	next := func() {
		for i := range sigs {
			sigs[i] = storetest.BenchSignal(n)
			n++
		}
	}
	for range prefillBatches {
		next()
		if err := s.PutSignals(ctx, sigs); err != nil {
			b.Fatal(err)
		}
	}
	start := n
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		next()
		b.StartTimer()
		c0 := cputime.Process()
		if err := s.PutSignals(ctx, sigs); err != nil {
			b.Fatal(err)
		}
		cpu += cputime.Process() - c0
	}
	reportRates(b, n-start, cpu, "signals")
}

// reportRates reports items per wall-clock second and, where the platform tells,
// per CPU second of the whole process (GC and SQLite included).
func reportRates(b *testing.B, n int, cpu time.Duration, unit string) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), unit+"/s")
	if cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), unit+"/cpu-s")
	}
}

// BenchmarkPutSignalsRedelivered re-puts a batch that is already stored.
func BenchmarkPutSignalsRedelivered(b *testing.B) {
	s := openTemp(b, b.TempDir())
	defer s.Close()
	ctx := b.Context()
	sigs := make([]detect.Signal, 1000)
	for i := range sigs {
		sigs[i] = storetest.BenchSignal(i)
	}
	if err := s.PutSignals(ctx, sigs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := s.PutSignals(ctx, sigs); err != nil {
			b.Fatal(err)
		}
		n += len(sigs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "signals/s")
}

// BenchmarkPutEvidence inserts evidence events of about 1 KiB in batches of 1,000.
func BenchmarkPutEvidence(b *testing.B) {
	s := openTemp(b, b.TempDir())
	defer s.Close()
	ctx := b.Context()
	doc := json.RawMessage(fmt.Sprintf(`{"@timestamp":"2024-03-01T12:00:00Z","event":{"code":"4688"},"raw":{"CommandLine":%q}}`, strings.Repeat("x", 900)))
	evs := make([]store.Evidence, 1000)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range evs {
			evs[i] = store.Evidence{EventID: fmt.Sprintf("%032x", n), Time: t0, Source: "/var/log/Security.evtx", Format: "evtx", JSON: doc}
			n++
		}
		if err := s.PutEvidence(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkListSignalsByEntity reads one page of 100 signals about a user from a
// table of 100,000.
func BenchmarkListSignalsByEntity(b *testing.B) {
	s := openTemp(b, b.TempDir())
	defer s.Close()
	ctx := b.Context()
	sigs := make([]detect.Signal, 1000)
	for k := range 100 {
		for i := range sigs {
			sigs[i] = storetest.BenchSignal(k*1000 + i)
		}
		if err := s.PutSignals(ctx, sigs); err != nil {
			b.Fatal(err)
		}
	}
	q := store.SignalQuery{Entity: detect.Entity{Kind: detect.EntityUser, Value: `corp\user7`}, Limit: 100}
	b.ReportAllocs()
	for b.Loop() {
		p, err := s.ListSignals(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Items) != 100 {
			b.Fatalf("got %d signals", len(p.Items))
		}
	}
}
