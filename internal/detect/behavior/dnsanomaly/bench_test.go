package dnsanomaly

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkObserve: queries per second through all three models on the synthetic
// organisation (40 clients, 300 domains and a CDN, five working days) with a
// tunnel and a DGA burst on the last day. Each iteration is one query; the model
// is rebuilt every pass over the stream.
func BenchmarkObserve(b *testing.B) {
	warm, day5 := synthetic(11, func(rng *rand.Rand, at time.Time) []Query {
		return append(tunnel(rng, at, "10.0.0.7", "t1.exfil-example.com", "hex", 800), dga(rng, at, "10.0.0.9", 40)...)
	})
	qs := append(warm, day5...)
	m, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	var out []Finding
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(qs)
		if j == 0 && i > 0 {
			b.StopTimer()
			m, _ = New(Config{})
			b.StartTimer()
		}
		out = m.Observe(qs[j], out[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

// BenchmarkNormalize: the name normaliser alone.
func BenchmarkNormalize(b *testing.B) {
	names := []string{"www.example.com", "r3---sn-4g5e6nz7.googlevideo.com", "A.B.Example.CO.UK.", "197.134.245.120.in-addr.arpa", "wpad"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Normalize(names[i%len(names)]); err != nil {
			b.Fatal(err)
		}
	}
}
