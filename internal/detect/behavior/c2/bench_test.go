package c2

import (
	"testing"
)

// BenchmarkObserveCorpus feeds the three days of the RITA capture's conn and
// open_conn records (105,990 connections, Host joined from http/ssl) through
// Observe; the tracker is reset each iteration.
func BenchmarkObserveCorpus(b *testing.B) {
	l := loadRITA(b, "2024-04-19", "2024-04-20", "2024-04-21")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tr := newTracker(b, Config{})
		for _, c := range l.conns {
			if err := tr.Observe(c); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(l.conns)*b.N)/b.Elapsed().Seconds(), "conns/s")
}

// BenchmarkObserveSteady measures Observe on a warm tracker: 1,000 pairs
// already tracked, so no pair creation (the per-connection hot path).
func BenchmarkObserveSteady(b *testing.B) {
	l := loadRITA(b, "2024-04-19")
	tr := newTracker(b, Config{})
	for _, c := range l.conns {
		if err := tr.Observe(c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := tr.Observe(l.conns[i%len(l.conns)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
}

// BenchmarkEvaluateCorpus scores every pair after three days of the capture.
func BenchmarkEvaluateCorpus(b *testing.B) {
	l := loadRITA(b, "2024-04-19", "2024-04-20", "2024-04-21")
	tr := newTracker(b, Config{})
	feed(b, tr, l)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if len(tr.Evaluate(l.end)) == 0 {
			b.Fatal("no findings")
		}
	}
	b.ReportMetric(float64(tr.Pairs()), "pairs")
}
