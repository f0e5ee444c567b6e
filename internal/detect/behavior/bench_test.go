package behavior

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

// BenchmarkFirstSeenMemory tracks 1M users, each with 4 hosts in the user→host
// space, and reports the heap cost per tracked entity (entity state, its values,
// the org table and the interned names).
func BenchmarkFirstSeenMemory(b *testing.B) {
	const users, perUser = 1_000_000, 4
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := NewFirstSeen(FirstSeenConfig{MaxEntities: users}, nil, nil)
		o := Obs{Kind: KindAuth, Source: intern("bench")}
		out := &Emitter{}
		hosts := make([]Sym, 4096)
		for i := range hosts {
			hosts[i] = intern(fmt.Sprintf("host-%04d.corp.example", i))
		}
		for u := range users {
			o.User = intern(fmt.Sprintf("user%07d@corp.example", u))
			for j := range perUser {
				o.Time = t0 + int64(u*perUser+j)*int64(time.Millisecond)
				o.Host = hosts[(u+j*977)%len(hosts)]
				m.Observe(&o, out)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/users, "bytes/entity")
		b.ReportMetric(float64(len(m.state[0].entities)), "entities")
		runtime.KeepAlive(m)
	}
}

// BenchmarkFirstSeenObserve measures observations per second through the
// first-seen model on a steady office stream (every space consulted).
func BenchmarkFirstSeenObserve(b *testing.B) {
	obs := office(200, 10)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		m := NewFirstSeen(FirstSeenConfig{}, nil, peers)
		e, err := NewEngine([]Model{m}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Process(context.Background(), obs, func(detect.Signal) {}); err != nil {
			b.Fatal(err)
		}
		n += len(obs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "obs/s")
}
