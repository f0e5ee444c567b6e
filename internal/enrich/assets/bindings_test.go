package assets

import (
	"bytes"
	"encoding/binary"
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

// TestObserveAs: an observation's own lease (capped at MaxLease), claims
// against authoritative bindings, releases by a named host.
func TestObserveAs(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.5")
	type step struct {
		h     float64
		host  string
		lease time.Duration
		ev    Evidence
		rel   bool // ReleaseHost(host)
		want  bool // recorded / released
	}
	type q struct {
		h    float64
		want string
	}
	for _, tc := range []struct {
		name  string
		steps []step
		qs    []q
	}{
		{"own lease", []step{{0, "ws-1", 30 * time.Minute, Authoritative, false, true}},
			[]q{{0.49, "ws-1"}, {0.51, ""}}},
		{"longer lease kept over a shorter renewal", []step{{0, "ws-1", 10 * time.Hour, Authoritative, false, true}, {1, "ws-1", time.Hour, Authoritative, false, true}},
			[]q{{9.9, "ws-1"}, {10.1, ""}}},
		{"lease capped", []step{{0, "ws-1", 1000 * 24 * time.Hour, Authoritative, false, true}},
			[]q{{24*30 - 0.1, "ws-1"}, {24*30 + 0.1, ""}}},
		{"claim refused under an authoritative lease", []step{{0, "ws-1", time.Hour, Authoritative, false, true}, {0.5, "ws-2", 0, Claimed, false, false}},
			[]q{{0.75, "ws-1"}, {1.1, ""}}},
		{"claim of the same host renews", []step{{0, "ws-1.corp", time.Hour, Authoritative, false, true}, {0.5, "WS-1", 0, Claimed, false, true}},
			[]q{{1.5, "ws-1.corp"}, {24.6, ""}}},
		{"claim recorded after the lease", []step{{0, "ws-1", time.Hour, Authoritative, false, true}, {2, "ws-2", 0, Claimed, false, true}},
			[]q{{0.5, "ws-1"}, {1.5, ""}, {2.5, "ws-2"}}},
		{"claim displaces a claim", []step{{0, "ws-1", 0, Claimed, false, true}, {1, "ws-2", 0, Claimed, false, true}},
			[]q{{0.5, "ws-1"}, {1.5, "ws-2"}}},
		{"authoritative displaces a claim", []step{{0, "ws-1", 0, Claimed, false, true}, {1, "ws-2", 0, Authoritative, false, true}, {2, "ws-1", 0, Claimed, false, false}},
			[]q{{0.5, "ws-1"}, {2.5, "ws-2"}}},
		{"short name upgraded to the FQDN", []step{{0, "ws-1", 0, Claimed, false, true}, {1, "ws-1.corp.example", 0, Authoritative, false, true}},
			[]q{{0.5, "ws-1.corp.example"}, {1.5, "ws-1.corp.example"}}},
		{"release by the holder", []step{{0, "ws-1", 0, Authoritative, false, true}, {1, "ws-1", 0, 0, true, true}},
			[]q{{0.5, "ws-1"}, {1.5, ""}}},
		{"release by another host ignored", []step{{0, "ws-1", 0, Authoritative, false, true}, {1, "ws-2", 0, 0, true, false}},
			[]q{{1.5, "ws-1"}}},
		{"release of nothing", []step{{1, "ws-2", 0, 0, true, false}}, []q{{1.5, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBindings(BindingsConfig{})
			for i, s := range tc.steps {
				var got bool
				if s.rel {
					got = b.ReleaseHost(at(s.h), ip, s.host)
				} else {
					got = b.ObserveAs(at(s.h), ip, s.host, s.lease, s.ev)
				}
				if got != s.want {
					t.Errorf("step %d: %v, want %v", i, got, s.want)
				}
			}
			// A snapshot keeps leases and evidence.
			var snap bytes.Buffer
			if err := b.Snapshot(&snap); err != nil {
				t.Fatal(err)
			}
			r := NewBindings(BindingsConfig{})
			if err := r.Restore(&snap); err != nil {
				t.Fatal(err)
			}
			for _, x := range []*Bindings{b, r} {
				for _, q := range tc.qs {
					if h, _ := x.HostAt(ip, at(q.h)); h != q.want {
						t.Errorf("HostAt(+%.2fh) = %q, want %q (restored: %v)", q.h, h, q.want, x == r)
					}
				}
			}
			if len(tc.steps) > 0 && tc.steps[0].ev == Authoritative && !tc.steps[0].rel {
				// the restored copy refuses a claim as the original does
				s := tc.steps[0]
				if ok := r.ObserveAs(at(s.h+0.01), ip, "intruder", 0, Claimed); ok != b.ObserveAs(at(s.h+0.01), ip, "intruder", 0, Claimed) {
					t.Error("restored copy treats a claim differently")
				}
			}
		})
	}
}

// TestRestoreVersion1: a snapshot written before leases and evidence were kept
// restores with the configured lease, authoritative.
func TestRestoreVersion1(t *testing.T) {
	var v1 []byte
	v1 = append(v1, snapMagic...)
	v1 = binary.AppendUvarint(v1, 1)
	v1 = binary.AppendVarint(v1, at(2).UnixNano())
	v1 = binary.AppendUvarint(v1, 0)
	v1 = binary.AppendUvarint(v1, 0)
	v1 = binary.AppendUvarint(v1, 1)
	v1 = append(v1, 4, 10, 0, 0, 5)
	v1 = binary.AppendUvarint(v1, 2)
	v1 = binary.AppendUvarint(v1, 4)
	v1 = append(v1, "ws-1"...)
	v1 = binary.AppendVarint(v1, at(0).UnixNano())
	v1 = binary.AppendVarint(v1, at(1).UnixNano())
	v1 = binary.AppendUvarint(v1, 0)
	v1 = binary.AppendVarint(v1, at(1.5).UnixNano())
	v1 = binary.AppendVarint(v1, at(1.5).UnixNano())
	b := NewBindings(BindingsConfig{Lease: time.Hour})
	if err := b.Restore(bytes.NewReader(v1)); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("10.0.0.5")
	for _, q := range []struct {
		h    float64
		want string
	}{{0.5, "ws-1"}, {1.4, "ws-1"}, {1.6, ""}} {
		if h, _ := b.HostAt(ip, at(q.h)); h != q.want {
			t.Errorf("HostAt(+%.1fh) = %q, want %q", q.h, h, q.want)
		}
	}
	if b.ObserveAs(at(1.2), ip, "ws-2", 0, Claimed) {
		t.Error("a version 1 binding did not count as authoritative")
	}
}
