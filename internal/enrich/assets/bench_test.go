package assets

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func benchInventory(b *testing.B, n int) *Inventory {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("host,fqdn,ips,owner,criticality,tags\n")
	for i := range n {
		fmt.Fprintf(&sb, "ws-%06d,ws-%06d.corp.example,10.%d.%d.%d,user%d@corp.example,medium,workstation\n", i, i, byte(i>>16), byte(i>>8), byte(i), i)
	}
	inv, rej, err := ReadCSV(strings.NewReader(sb.String()), "")
	if err != nil || len(rej) != 0 || inv.Len() != n {
		b.Fatal(err, rej)
	}
	return inv
}

// BenchmarkLookup cycles through 4,096 different names of each kind, so the
// figures include cache misses on a 100,000-asset inventory.
func BenchmarkLookup(b *testing.B) {
	const n = 100_000
	inv := benchInventory(b, n)
	for _, tc := range []struct {
		name string
		q    func(i int) string
		miss bool
	}{
		{"fqdn", func(i int) string { return fmt.Sprintf("ws-%06d.corp.example", i) }, false},
		{"fqdn-upper-dot", func(i int) string { return fmt.Sprintf("WS-%06d.Corp.Example.", i) }, false},
		{"short", func(i int) string { return fmt.Sprintf("ws-%06d", i) }, false},
		{"ip", func(i int) string { return fmt.Sprintf("10.%d.%d.%d", byte(i>>16), byte(i>>8), byte(i)) }, false},
		{"miss", func(i int) string { return fmt.Sprintf("laptop-%d.corp.example", i) }, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			qs := make([]string, 4096)
			for i := range qs {
				qs[i] = tc.q(i * 7919 % n)
				if inv.Lookup(qs[i]).Found() == tc.miss {
					b.Fatalf("%s: %+v", qs[i], inv.Lookup(qs[i]))
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				inv.Lookup(qs[i&4095])
				i++
			}
		})
	}
}

func BenchmarkLoadCSV(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("host,fqdn,ips,owner,criticality,tags\n")
	const n = 10_000
	for i := range n {
		fmt.Fprintf(&sb, "ws-%06d,ws-%06d.corp.example,10.%d.%d.%d,user%d@corp.example,medium,workstation;eu\n", i, i, byte(i>>16), byte(i>>8), byte(i), i)
	}
	data := sb.String()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ReadCSV(strings.NewReader(data), ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
}

func benchBindings(n int) (*Bindings, []netip.Addr, []string) {
	bd := NewBindings(BindingsConfig{})
	ips := make([]netip.Addr, n)
	hosts := make([]string, n)
	for i := range n {
		ips[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		hosts[i] = fmt.Sprintf("ws-%06d.corp.example", i)
		bd.Observe(t0, ips[i], hosts[i])
		bd.Observe(t0.Add(time.Hour), ips[i], hosts[(i+1)%n]) // a second interval each
	}
	return bd, ips, hosts
}

// BenchmarkHostAt queries 100,000 addresses with two intervals each, spread
// over all of them ("all", cache misses included) or over 4,096 ("hot", as
// BenchmarkLookup does).
func BenchmarkHostAt(b *testing.B) {
	const n = 100_000
	bd, ips, _ := benchBindings(n)
	q := t0.Add(30 * time.Minute)
	for _, tc := range []struct {
		name string
		mask int
	}{{"all", -1}, {"hot", 4095}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				k := i * 7919 % n
				if tc.mask >= 0 {
					k = (i & tc.mask) * 7919 % n
				}
				if _, ok := bd.HostAt(ips[k], q); !ok {
					b.Fatal("no binding")
				}
				i++
			}
		})
	}
}

func BenchmarkObserve(b *testing.B) {
	const n = 100_000
	bd, ips, hosts := benchBindings(n)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i * 7919 % n
		bd.Observe(t0.Add(time.Hour+time.Duration(i)*time.Microsecond), ips[k], hosts[(k+1)%n]) // a renewal
		i++
	}
	if s := bd.Stats(); s.IPs != n || s.Intervals != 2*n {
		b.Fatalf("renewals changed the bindings: %+v", s)
	}
}

func BenchmarkResolverHostAt(b *testing.B) {
	inv := benchInventory(b, 100_000)
	bd := NewBindings(BindingsConfig{})
	r := &Resolver{Store: NewStore(inv), Bindings: bd}
	dyn := netip.MustParseAddr("172.16.0.9")
	bd.Observe(t0, dyn, "ws-000042.corp.example")
	static := netip.MustParseAddr("10.0.16.146")
	for _, tc := range []struct {
		name string
		ip   netip.Addr
	}{{"static", static}, {"dynamic", dyn}} {
		b.Run(tc.name, func(b *testing.B) {
			if !r.HostAt(tc.ip, t0).Found() {
				b.Fatal("not found")
			}
			b.ReportAllocs()
			for b.Loop() {
				r.HostAt(tc.ip, t0)
			}
		})
	}
}
