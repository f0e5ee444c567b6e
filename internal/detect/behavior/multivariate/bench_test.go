package multivariate

import "testing"

// benchStream returns n synthetic entity-hours.
func benchStream(n int) [][]float64 {
	g := newGen(42)
	xs := make([][]float64, n)
	for i := range xs {
		xs[i] = make([]float64, nFeatures)
		if i%100 == 0 {
			g.outlier(xs[i])
		} else {
			g.normal(xs[i])
		}
	}
	return xs
}

func benchModel(b *testing.B, c Config) (*Model, [][]float64) {
	m, err := New(c)
	if err != nil {
		b.Fatal(err)
	}
	xs := benchStream(8192)
	for i := range 2 * m.cfg.Window {
		if err := m.Update(xs[i%len(xs)]); err != nil {
			b.Fatal(err)
		}
	}
	return m, xs
}

// BenchmarkScoreUpdate is the engine's per entity-hour cost: Score, PValue,
// Update (re-fits amortised), 12 features, default Config.
func BenchmarkScoreUpdate(b *testing.B) {
	for _, bc := range []struct {
		name string
		c    Config
	}{
		{"default", DefaultConfig(nFeatures)},
		{"window256", Config{Dims: nFeatures, Window: 256}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m, xs := benchModel(b, bc.c)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				x := xs[i%len(xs)]
				i++
				s, _ := m.Score(x)
				_ = m.PValue(s)
				_ = m.Update(x)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "vectors/s")
		})
	}
}

// BenchmarkObserve is the same work through Observe (x projected once).
func BenchmarkObserve(b *testing.B) {
	m, xs := benchModel(b, DefaultConfig(nFeatures))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _, _ = m.Observe(xs[i%len(xs)])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "vectors/s")
}

// BenchmarkAttribute is the cost of explaining one vector.
func BenchmarkAttribute(b *testing.B) {
	m, xs := benchModel(b, DefaultConfig(nFeatures))
	dst := make([]float64, nFeatures)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = m.Attribute(xs[i%len(xs)], dst)
		i++
	}
}
