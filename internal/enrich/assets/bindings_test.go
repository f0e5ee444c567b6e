package assets

import (
	"bytes"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func at(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }

type obs struct {
	h    float64 // hours after t0
	ip   string
	host string // "" = release
}

func feed(b *Bindings, o []obs) {
	for _, x := range o {
		ip := netip.MustParseAddr(x.ip)
		if x.host == "" {
			b.Release(at(x.h), ip)
		} else {
			b.Observe(at(x.h), ip, x.host)
		}
	}
}

func TestHostAt(t *testing.T) {
	type q struct {
		h    float64
		ip   string
		want string // "" = none
	}
	for _, tc := range []struct {
		name string
		cfg  BindingsConfig
		obs  []obs
		qs   []q
	}{
		{
			name: "lease from last renewal",
			obs:  []obs{{0, "10.0.0.5", "WS-1.corp.example."}, {10, "10.0.0.5", "ws-1.corp.example"}},
			qs:   []q{{-0.1, "10.0.0.5", ""}, {0, "10.0.0.5", "ws-1.corp.example"}, {33.9, "10.0.0.5", "ws-1.corp.example"}, {34.1, "10.0.0.5", ""}, {1, "10.0.0.6", ""}},
		},
		{
			name: "another host takes the address",
			obs:  []obs{{0, "10.0.0.5", "ws-1"}, {5, "10.0.0.5", "ws-2"}, {30, "10.0.0.5", "ws-1"}},
			qs:   []q{{4.9, "10.0.0.5", "ws-1"}, {5, "10.0.0.5", "ws-2"}, {29, "10.0.0.5", "ws-2"}, {29.5, "10.0.0.5", ""}, {31, "10.0.0.5", "ws-1"}},
		},
		{
			name: "release ends the binding",
			obs:  []obs{{0, "10.0.0.5", "ws-1"}, {2, "10.0.0.5", ""}, {3, "10.0.0.5", "ws-2"}},
			qs:   []q{{1.9, "10.0.0.5", "ws-1"}, {2.5, "10.0.0.5", ""}, {3, "10.0.0.5", "ws-2"}},
		},
		{
			name: "short lease",
			cfg:  BindingsConfig{Lease: time.Hour},
			obs:  []obs{{0, "10.0.0.5", "ws-1"}, {0.5, "10.0.0.5", "ws-1"}, {3, "10.0.0.5", "ws-1"}},
			qs:   []q{{1.4, "10.0.0.5", "ws-1"}, {2, "10.0.0.5", ""}, {3.5, "10.0.0.5", "ws-1"}},
		},
		{
			name: "late observation extends the next interval backwards",
			obs:  []obs{{5, "10.0.0.5", "ws-1"}, {3, "10.0.0.5", "ws-1"}},
			qs:   []q{{2.9, "10.0.0.5", ""}, {3, "10.0.0.5", "ws-1"}, {4, "10.0.0.5", "ws-1"}},
		},
		{
			name: "late observation of another host splits",
			obs:  []obs{{0, "10.0.0.5", "ws-1"}, {10, "10.0.0.5", "ws-1"}, {5, "10.0.0.5", "ws-2"}},
			qs:   []q{{4, "10.0.0.5", "ws-1"}, {6, "10.0.0.5", "ws-2"}},
		},
		{
			name: "v4-mapped and v6",
			obs:  []obs{{0, "::ffff:10.0.0.5", "ws-1"}, {0, "2001:db8::5", "ws-6"}},
			qs:   []q{{1, "10.0.0.5", "ws-1"}, {1, "2001:db8::5", "ws-6"}},
		},
		{
			name: "placeholders and IP literals as host are ignored",
			obs:  []obs{{0, "10.0.0.5", "-"}, {0, "10.0.0.6", "10.0.0.7"}},
			qs:   []q{{1, "10.0.0.5", ""}, {1, "10.0.0.6", ""}},
		},
		{
			name: "addresses no single host holds are ignored",
			obs:  []obs{{0, "127.0.0.1", "ws-1"}, {0, "::1", "ws-1"}, {0, "169.254.3.4", "ws-1"}, {0, "fe80::1", "ws-1"}, {0, "0.0.0.0", "ws-1"}, {0, "224.0.0.251", "ws-1"}, {0, "255.255.255.255", "ws-1"}, {0, "::ffff:127.0.0.1", "ws-1"}},
			qs:   []q{{1, "127.0.0.1", ""}, {1, "::1", ""}, {1, "169.254.3.4", ""}, {1, "fe80::1", ""}, {1, "0.0.0.0", ""}, {1, "224.0.0.251", ""}, {1, "255.255.255.255", ""}},
		},
		{
			name: "history cap drops the oldest",
			cfg:  BindingsConfig{MaxHistory: 2},
			obs:  []obs{{0, "10.0.0.5", "a"}, {1, "10.0.0.5", "b"}, {2, "10.0.0.5", "c"}},
			qs:   []q{{0.5, "10.0.0.5", ""}, {1.5, "10.0.0.5", "b"}, {2.5, "10.0.0.5", "c"}},
		},
		{
			name: "address cap evicts the least recently observed",
			cfg:  BindingsConfig{MaxIPs: 2},
			obs:  []obs{{0, "10.0.0.1", "a"}, {0, "10.0.0.2", "b"}, {1, "10.0.0.1", "a"}, {1, "10.0.0.3", "c"}},
			qs:   []q{{1, "10.0.0.1", "a"}, {1, "10.0.0.2", ""}, {1, "10.0.0.3", "c"}},
		},
		{
			name: "retention forgets quiet addresses by event time",
			cfg:  BindingsConfig{Lease: time.Hour, Retain: 10 * time.Hour},
			obs:  []obs{{0, "10.0.0.1", "a"}, {5, "10.0.0.2", "b"}, {12, "10.0.0.3", "c"}},
			qs:   []q{{0.5, "10.0.0.1", ""}, {5.5, "10.0.0.2", "b"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBindings(tc.cfg)
			feed(b, tc.obs)
			for _, q := range tc.qs {
				got, ok := b.HostAt(netip.MustParseAddr(q.ip), at(q.h))
				if got != q.want || ok != (q.want != "") {
					t.Errorf("HostAt(%s, +%vh) = %q %v, want %q", q.ip, q.h, got, ok, q.want)
				}
			}
			// A restored copy answers the same and snapshots to the same bytes.
			var s1, s2 bytes.Buffer
			if err := b.Snapshot(&s1); err != nil {
				t.Fatal(err)
			}
			r := NewBindings(tc.cfg)
			if err := r.Restore(bytes.NewReader(s1.Bytes())); err != nil {
				t.Fatal(err)
			}
			if err := r.Snapshot(&s2); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(s1.Bytes(), s2.Bytes()) {
				t.Error("snapshot of the restored bindings differs")
			}
			for _, q := range tc.qs {
				ip := netip.MustParseAddr(q.ip)
				g1, _ := b.HostAt(ip, at(q.h))
				g2, _ := r.HostAt(ip, at(q.h))
				if g1 != g2 {
					t.Errorf("restored HostAt(%s, +%vh) = %q, original %q", q.ip, q.h, g2, g1)
				}
			}
		})
	}
}

func TestBindingsCounters(t *testing.T) {
	b := NewBindings(BindingsConfig{MaxIPs: 2, Lease: time.Hour, Retain: 10 * time.Hour})
	feed(b, []obs{{0, "10.0.0.1", "a"}, {0, "10.0.0.2", "b"}, {0, "10.0.0.3", "c"}, {0.5, "10.0.0.3", "d"}, {20, "10.0.0.4", "e"}})
	s := b.Stats()
	if s.IPs != 1 || s.Intervals != 1 || s.Evicted != 1 || s.Expired != 2 {
		t.Errorf("%+v", s)
	}
}

// TestRestoredBehavesLikeOriginal: after a snapshot mid-stream, the original and
// the restored copy take the same further observations and answer alike.
func TestRestoredBehavesLikeOriginal(t *testing.T) {
	cfg := BindingsConfig{MaxIPs: 300, MaxHistory: 3, Lease: 2 * time.Hour, Retain: 20 * time.Hour}
	gen := func(i int) (time.Time, netip.Addr, string) {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i % 7), byte(i * 31 % 251)})
		return t0.Add(time.Duration(i) * 97 * time.Second), ip, fmt.Sprintf("ws-%d.corp.example", i*13%509)
	}
	a := NewBindings(cfg)
	for i := range 3000 {
		a.Observe(gen(i))
	}
	var snap bytes.Buffer
	if err := a.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	b := NewBindings(cfg)
	if err := b.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	if a.Stats() != b.Stats() {
		t.Fatalf("stats %+v vs %+v", a.Stats(), b.Stats())
	}
	hits := 0
	for i := 3000; i < 6000; i++ {
		tt, ip, h := gen(i)
		a.Observe(tt, ip, h)
		b.Observe(tt, ip, h)
		_, qip, _ := gen(i - 30)
		g1, ok1 := a.HostAt(qip, tt)
		g2, ok2 := b.HostAt(qip, tt)
		if g1 != g2 || ok1 != ok2 {
			t.Fatalf("step %d: %q %v vs %q %v", i, g1, ok1, g2, ok2)
		}
		if ok1 {
			hits++
		}
	}
	if hits == 0 || a.Stats().Evicted == 0 {
		t.Errorf("%d queries answered, %d addresses evicted: the test checks too little", hits, a.Stats().Evicted)
	}
	if a.Stats() != b.Stats() {
		t.Errorf("stats %+v vs %+v", a.Stats(), b.Stats())
	}
}

func TestRestoreRejects(t *testing.T) {
	b := NewBindings(BindingsConfig{MaxIPs: 10, MaxHistory: 2})
	feed(b, []obs{{0, "10.0.0.1", "a"}, {1, "10.0.0.1", "b"}})
	var good bytes.Buffer
	if err := b.Snapshot(&good); err != nil {
		t.Fatal(err)
	}
	g := good.Bytes()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"magic", []byte("VGASSETX")},
		{"version", append([]byte(snapMagic), 9)},
		{"truncated", g[:len(g)-1]},
		{"trailing", append(append([]byte{}, g...), 0)},
		{"too many addresses", append([]byte(snapMagic), 1, 0, 0, 0, 11)},
		{"huge count", append([]byte(snapMagic), 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"address length", append([]byte(snapMagic), 1, 0, 0, 0, 1, 5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := b.Restore(bytes.NewReader(tc.data)); err == nil {
				t.Error("accepted")
			}
			if h, _ := b.HostAt(netip.MustParseAddr("10.0.0.1"), at(1.5)); h != "b" {
				t.Errorf("failed restore changed the state: %q", h)
			}
		})
	}
	small := NewBindings(BindingsConfig{MaxHistory: 1})
	if err := small.Restore(bytes.NewReader(g)); err == nil {
		t.Error("snapshot with more intervals than MaxHistory accepted")
	}
}

// TestBindingsMemoryPerIP measures the heap cost of one tracked address with one
// interval (the figure in the package doc).
func TestBindingsMemoryPerIP(t *testing.T) {
	const n = 50_000
	b := NewBindings(BindingsConfig{})
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("ws-%05d.corp.example", i)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for i := range n {
		b.Observe(t0, netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), hosts[i])
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(m1.HeapAlloc-m0.HeapAlloc) / n
	t.Logf("%.0f bytes per tracked address (one interval, host name of %d bytes)", per, len(hosts[0]))
	if per > 250 {
		t.Errorf("%.0f bytes per address, over the 250 the package doc allows", per)
	}
	runtime.KeepAlive(b)
}
