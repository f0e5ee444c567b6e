package seasonal

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkObserve feeds 10k entities x 7 metrics, 200k events per hour of
// event time, so the hour sweeps (70k series each) are included.
func BenchmarkObserve(b *testing.B) {
	const entities, perHour = 10000, 200000
	names := make([]string, entities)
	for i := range names {
		names[i] = fmt.Sprintf("user%05d@corp.example", i)
	}
	m := newModel(b, nil)
	var out []Finding
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e := Event{
			Entity: names[i%entities],
			Metric: Metric((i / entities) % 7),
			Time:   t0.Add(time.Duration(i/perHour)*time.Hour + time.Duration(i%perHour)*(time.Hour/perHour)),
			Amount: 1,
		}
		if err := m.Observe(e); err != nil {
			b.Fatal(err)
		}
		if i%perHour == 0 {
			out = m.Drain(out[:0])
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMemory1M tracks 1M entities (one event each) and reports the heap
// growth per entity. Entity names are allocated before the first reading
// (they belong to the caller); slab slack from append growth is included.
func BenchmarkMemory1M(b *testing.B) {
	const n = 1 << 20
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("host-%07d.corp.example", i)
	}
	for _, c := range []struct {
		name   string
		metric Metric
	}{{"series", FailedLogins}, {"series+profile", Logons}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				m := newModel(b, func(cfg *Config) { cfg.MaxSeries, cfg.MaxProfiles = n, n })
				for i, e := range names {
					if err := m.Observe(Event{Entity: e, Metric: c.metric, Time: t0.Add(time.Duration(i) * time.Microsecond), Amount: 1}); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				st := m.Stats()
				if st.Series != n {
					b.Fatalf("%d series tracked", st.Series)
				}
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/entity")
				runtime.KeepAlive(m)
			}
		})
	}
}
