package dnsanomaly

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Stated costs (package doc), each with the (client, domain) pair that brought
// it: a registered domain (with its all-clients aggregate); a client; a client
// whose pair's subdomain sketch became a HyperLogLog (a tunnel-like pair).
const (
	statedDomainBytes = 1000
	statedTunnelPair  = 1000
	statedClientBytes = 550
)

// TestMemoryPerKey measures the heap cost per tracked key and holds it to the
// figures the package documentation states.
func TestMemoryPerKey(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation sizes")
	}
	const n = 20000
	at := t0
	measure := func(name string, stated int, feed func(m *Model)) {
		m := newModel(t, Config{MaxDoms: 2 * n, MaxPair: 2 * n, MaxCli: 2 * n})
		before := heap()
		feed(m)
		after := heap()
		per := float64(after-before) / n
		t.Logf("%s: %.0f bytes each (%d domains, %d pairs, %d clients)", name, per, len(m.doms), len(m.pairs), len(m.clients))
		if per > float64(stated) {
			t.Errorf("%s: %.0f bytes each, stated %d", name, per, stated)
		}
		// Size's estimate, less the fixed model, tracks the measured heap.
		_, _, _, est := m.Size()
		est -= charModelBytes
		if r := float64(est) / float64(after-before); r < 0.7 || r > 1.3 {
			t.Errorf("%s: Size estimates %d bytes, heap grew %d", name, est, after-before)
		}
		runtime.KeepAlive(m)
	}
	measure("domain with its pair and aggregate", statedDomainBytes, func(m *Model) {
		for i := range n {
			m.Observe(Query{Time: at, Client: "10.0.0.1", Name: fmt.Sprintf("www.dom%06d.com", i), QType: "A", EventID: fmt.Sprintf("ev%08d", i)}, nil)
		}
	})
	measure("client with a tunnel pair (HyperLogLog)", statedTunnelPair, func(m *Model) {
		rng := rand.New(rand.NewPCG(1, 1))
		for i := range n {
			for range 20 {
				m.Observe(Query{Time: at.Add(time.Duration(i) * time.Millisecond), Client: fmt.Sprint("c", i), Name: randStr(rng, alnum, 30) + ".t.exfil-example.com", QType: "TXT"}, nil)
			}
		}
	})
	measure("client with its pair", statedClientBytes, func(m *Model) {
		for i := range n {
			m.Observe(Query{Time: at, Client: fmt.Sprintf("10.1.%d.%d", i/256, i%256), Name: "www.example.com", QType: "A"}, nil)
		}
	})
}
