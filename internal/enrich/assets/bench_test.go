package assets

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/cputime"
	"github.com/vigilsec/vigil/internal/event"
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

// benchEvents builds n events of one kind over 1,000 hosts and addresses.
func benchEvents(n int, kind string) []*event.Event {
	out := make([]*event.Event, n)
	for i := range out {
		k := i % 1000
		ip := fmt.Sprintf("10.64.%d.%d", k/250, k%250+1)
		host := fmt.Sprintf("ws-%03d.corp.example", k)
		h := float64(i) / 3600 // one event per second
		var x ev
		switch kind {
		case "zeek-conn":
			x = ev{h: h, str: map[event.StrField]string{event.EventDataset: "zeek.conn"},
				ip: map[event.IPField]string{event.SourceIP: ip, event.DestinationIP: "93.184.216.34"}}
		case "sysmon-1":
			x = ev{h: h, num: map[event.NumField]int64{event.WinlogEventID: 1},
				str: map[event.StrField]string{event.WinlogProviderName: provSysmon, event.HostName: host, event.ProcessName: "chrome.exe"}}
		case "sshd":
			x = ev{h: h, str: map[event.StrField]string{event.HostName: "bastion", event.ProcessName: "sshd", event.Message: "Accepted password"},
				ip: map[event.IPField]string{event.SourceIP: ip}}
		case "sysmon-3":
			x = ev{h: h, num: map[event.NumField]int64{event.WinlogEventID: 3},
				str: map[event.StrField]string{event.WinlogProviderName: provSysmon, event.HostName: host, event.NetworkDirection: "egress"},
				ip:  map[event.IPField]string{event.SourceIP: ip, event.DestinationIP: "93.184.216.34"}}
		case "4624":
			x = win(h, 4624, "Network", strings.ToUpper(host[:6]), ip, nil)
		case "zeek-dhcp":
			x = zeekDHCP(h, ip, host, "86400.0", "REQUEST", "ACK")
		}
		out[i] = x.build()
	}
	return out
}

// BenchmarkObserveEvent: events that carry nothing bindable (the common case,
// no lock taken), each bindable kind (a renewal of a binding held), and a mix
// in the simulated enterprise's proportions (about 1 event in 9 bindable:
// 8,720 Sysmon 3 and 828 logons in 85,147 events), serially and from
// GOMAXPROCS goroutines on one resolver.
func BenchmarkObserveEvent(b *testing.B) {
	const n = 4096
	kinds := []string{"zeek-conn", "sysmon-1", "sshd", "sysmon-3", "4624", "zeek-dhcp"}
	evs := map[string][]*event.Event{}
	for _, k := range kinds {
		evs[k] = benchEvents(n, k)
	}
	var mix []*event.Event
	for i := range n {
		switch {
		case i%90 == 0:
			mix = append(mix, evs["4624"][i])
		case i%9 == 0:
			mix = append(mix, evs["sysmon-3"][i])
		case i%3 == 0:
			mix = append(mix, evs["zeek-conn"][i])
		default:
			mix = append(mix, evs["sysmon-1"][i])
		}
	}
	evs["mix"] = mix
	for _, k := range append(kinds, "mix") {
		b.Run(k, func(b *testing.B) {
			r := &Resolver{Bindings: NewBindings(BindingsConfig{})}
			for _, e := range evs[k] {
				r.ObserveEvent(e)
			}
			b.ReportAllocs()
			i := 0
			cpu0 := cputime.Process()
			for b.Loop() {
				r.ObserveEvent(evs[k][i%n])
				i++
			}
			if cpu := cputime.Process() - cpu0; cpu > 0 && i > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(i), "cpu-ns/op")
			}
		})
	}
	b.Run("mix-parallel", func(b *testing.B) {
		r := &Resolver{Bindings: NewBindings(BindingsConfig{})}
		b.ReportAllocs()
		var next, ops atomic.Int64
		cpu0 := cputime.Process()
		b.RunParallel(func(pb *testing.PB) {
			i, i0 := int(next.Add(1000)), 0
			i0 = i
			for pb.Next() {
				r.ObserveEvent(mix[i%n])
				i++
			}
			ops.Add(int64(i - i0))
		})
		if cpu := cputime.Process() - cpu0; cpu > 0 && ops.Load() > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(ops.Load()), "cpu-ns/op")
		}
	})
}
