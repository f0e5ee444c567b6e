package midas

import (
	"testing"

	"github.com/vigilsec/vigil/internal/cputime"
)

// benchEdges scores edges b.N times in total (looping over the stream with
// a fresh model each pass) and reports edges/s.
func benchEdges(b *testing.B, cfg Config, edges []edge) {
	m, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	var sink float64
	for i := 0; i < b.N; {
		for _, e := range edges {
			if i == b.N {
				break
			}
			sink += m.Score(e.src, e.dst, e.tick)
			i++
		}
		if i < b.N {
			b.StopTimer()
			m, _ = New(cfg)
			b.StartTimer()
		}
	}
	cpu := cputime.Process() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "edges/s")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "edges/cpu-s")
	if sink < 0 {
		b.Fatal(sink)
	}
}

// BenchmarkScore runs on the DARPA 1998 stream, pre-loaded in memory, so
// the cost includes the per-tick decay pass at DARPA's tick rate.
func BenchmarkScore(b *testing.B) {
	edges := loadDARPA(b)
	b.Run("MIDAS-F", func(b *testing.B) { benchEdges(b, DefaultConfig(), edges) })
	b.Run("MIDAS-R", func(b *testing.B) { benchEdges(b, rConfig(), edges) })
}

// BenchmarkScoreSynthetic needs no corpus: 1M edges over 100k nodes, a
// new tick every 100 edges (DARPA averages 52 edges per tick).
func BenchmarkScoreSynthetic(b *testing.B) {
	edges := synthetic(1_000_000, 100_000, 100, 7)
	b.Run("MIDAS-F", func(b *testing.B) { benchEdges(b, DefaultConfig(), edges) })
	b.Run("MIDAS-R", func(b *testing.B) { benchEdges(b, rConfig(), edges) })
}
