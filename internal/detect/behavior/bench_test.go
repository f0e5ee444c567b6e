package behavior

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
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

// BenchmarkExtract compares extracting observations interning each string
// (unique.Make) with the detect workers' intern cache, over process starts
// and logons of 4,000 users on 2,000 hosts (vigil serve's load test mix).
func BenchmarkExtract(b *testing.B) {
	evs := make([]*event.Event, 8192)
	for i := range evs {
		e := &event.Event{Timestamp: time.Unix(1_700_000_000+int64(i), 0)}
		if i%3 == 0 {
			e.Category, e.Type = event.CatAuthentication, event.TypeStart
			e.SetStr(event.ServiceName, "sshd")
		} else {
			e.Category, e.Type = event.CatProcess, event.TypeStart
			e.SetStr(event.ProcessExecutable, fmt.Sprintf(`C:\Windows\System32\prog%d.exe`, i%40))
			e.SetStr(event.ProcessParentExecutable, `C:\Windows\explorer.exe`)
		}
		e.SetStr(event.UserName, fmt.Sprintf("user%d", (i*7919)%4000))
		e.SetStr(event.UserDomain, "CORP")
		e.SetStr(event.HostName, fmt.Sprintf("ws-%d.corp.example.com", (i*104729)%2000))
		e.Origin.Source = "http:loadtest"
		evs[i] = e
	}
	var o Obs
	b.Run("unique.Make", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			extract(evs[i%len(evs)], &o, nil)
		}
	})
	b.Run("cache", func(b *testing.B) {
		c := newSymCache()
		for i := 0; b.Loop(); i++ {
			extract(evs[i%len(evs)], &o, c)
		}
	})
}
