package wal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigilsec/vigil/internal/ingest"
)

const benchBatch = 256

// benchRecords is one batch of ~300-byte records, like an HTTP NDJSON post.
func benchRecords() []ingest.Record {
	recs := make([]ingest.Record, benchBatch)
	now := time.Now()
	for i := range recs {
		data := fmt.Sprintf(`{"@timestamp":"2026-11-25T10:00:00Z","event":{"action":"logon","outcome":"success"},"user":{"name":"alice%03d"},"source":{"ip":"10.0.0.%d"},"host":{"name":"ws-%03d"},"pad":"%s"}`, i, i%250, i, "")
		data += strings.Repeat("x", max(0, 280-len(data)))
		recs[i] = ingest.Record{Source: "http:ndjson", Data: []byte(data), Received: now}
	}
	return recs
}

// BenchmarkAppend: b.N batches of 256 records, spread over the appenders; a
// consumer commits every 50ms so retention keeps the disk use flat.
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, appenders := range []int{1, 4, 16} {
			name := fmt.Sprintf("fsync=%v/appenders=%d", sync, appenders)
			b.Run(name, func(b *testing.B) { benchAppend(b, appenders, !sync) })
		}
	}
}

func benchAppend(b *testing.B, appenders int, noSync bool) {
	w := openT(b, Options{NoSync: noSync, MaxBacklog: 1 << 40, Registerer: prometheus.NewRegistry()})
	recs := benchRecords()
	size := int64(0)
	for i := range recs {
		size += frameSize(&recs[i], sameContext(recs, i))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	stop := make(chan struct{})
	var cwg sync.WaitGroup
	cwg.Go(func() {
		t := time.NewTicker(benchCommitEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := w.Commit(w.Last()); err != nil {
					b.Error(err)
				}
			}
		}
	})
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range appenders {
		n := b.N / appenders
		if g < b.N%appenders {
			n++
		}
		wg.Go(func() {
			for range n {
				if err := w.Append(ctx, recs); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	b.StopTimer()
	close(stop)
	cwg.Wait()
	var m dto.Metric
	if err := w.m.fsync.Write(&m); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*benchBatch)/elapsed, "records/s")
	h := m.GetHistogram()
	if noSync {
		b.ReportMetric(float64(h.GetSampleCount())/elapsed, "writes/s")
	} else {
		b.ReportMetric(float64(h.GetSampleCount())/elapsed, "fsyncs/s")
		b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount())*1e3, "ms/fsync")
	}
}

// BenchmarkRead reads b.N batches of 256 records written beforehand.
func BenchmarkRead(b *testing.B) {
	w := openT(b, Options{NoSync: true, MaxBacklog: 1 << 40})
	recs := benchRecords()
	ctx := context.Background()
	for range b.N {
		if err := w.Append(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(w.Backlog() / int64(b.N))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	from := uint64(1)
	for range b.N {
		es, err := w.Read(ctx, from, benchBatch, 0)
		if err != nil || len(es) != benchBatch {
			b.Fatalf("read %d: %v", len(es), err)
		}
		from = es[len(es)-1].Seq + 1
	}
	b.ReportMetric(float64(b.N*benchBatch)/time.Since(start).Seconds(), "records/s")
}

var benchCommitEvery = 50 * time.Millisecond

// BenchmarkRawSync is the disk's own cost of what one group commit does:
// write one batch's bytes to a file and sync it. Compare the WAL's
// ms/fsync with it.
func BenchmarkRawSync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := appendFrames(nil, 1, benchRecords())
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := syncData(f); err != nil {
			b.Fatal(err)
		}
	}
}
