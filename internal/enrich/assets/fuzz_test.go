package assets

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// checkInventory: every loaded asset resolves by its FQDN (alone, or among the
// candidates of an ambiguous short name) and by each of its addresses.
func checkInventory(t *testing.T, inv *Inventory) {
	t.Helper()
	for i := range inv.Assets() {
		a := &inv.Assets()[i]
		m := inv.Lookup(a.FQDN)
		if m.Asset != a && !slices.Contains(m.Candidates, a) {
			t.Fatalf("asset %q does not resolve by its name: %+v", a.FQDN, m)
		}
		for _, ip := range a.IPs {
			if m := inv.LookupIP(ip); m.Asset != a {
				t.Fatalf("asset %q does not resolve by %s", a.FQDN, ip)
			}
		}
	}
}

func addFiles(f *testing.F, glob string) {
	files, _ := filepath.Glob(filepath.Join("testdata", glob))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

func FuzzReadCSV(f *testing.F) {
	addFiles(f, "*.csv")
	f.Add([]byte("host,ips\n\"a\nb\",1.2.3.4;::1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, rej, err := ReadCSV(bytes.NewReader(data), "f.csv")
		if err != nil {
			return
		}
		if inv.Len()+len(rej) > bytes.Count(data, []byte("\n"))+bytes.Count(data, []byte("\r"))+1 {
			t.Fatalf("%d assets and %d rejects from %d lines", inv.Len(), len(rej), bytes.Count(data, []byte("\n"))+1)
		}
		checkInventory(t, inv)
	})
}

func FuzzReadYAML(f *testing.F) {
	addFiles(f, "*.yaml")
	f.Add([]byte("- &a {host: x}\n- *a\n"))
	f.Add([]byte("- {host: x, ips: [1.2.3.4, '::1'], tags: a;b}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, _, err := ReadYAML(bytes.NewReader(data), "f.yaml")
		if err != nil {
			return
		}
		checkInventory(t, inv)
	})
}

// FuzzRestore: hostile snapshots are refused or restore into bindings that
// snapshot back to the same bytes; never a panic, never an allocation beyond
// the configured caps.
func FuzzRestore(f *testing.F) {
	cfg := BindingsConfig{MaxIPs: 64, MaxHistory: 4, Lease: time.Hour}
	b := NewBindings(cfg)
	for i := range 40 {
		b.Observe(t0.Add(time.Duration(i)*time.Minute*7), netip.AddrFrom4([4]byte{10, 0, 0, byte(i % 13)}), []string{"a", "b.corp", "c"}[i%3])
	}
	b.Release(t0.Add(5*time.Hour), netip.AddrFrom4([4]byte{10, 0, 0, 1}))
	b.Observe(t0, netip.MustParseAddr("2001:db8::1"), "v6")
	var snap bytes.Buffer
	if err := b.Snapshot(&snap); err != nil {
		f.Fatal(err)
	}
	f.Add(snap.Bytes())
	f.Add([]byte(snapMagic + "\x01\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewBindings(cfg)
		if err := r.Restore(bytes.NewReader(data)); err != nil {
			return
		}
		var out bytes.Buffer
		if err := r.Snapshot(&out); err != nil {
			t.Fatal(err)
		}
		r2 := NewBindings(cfg)
		if err := r2.Restore(bytes.NewReader(out.Bytes())); err != nil {
			t.Fatalf("re-restoring a snapshot: %v", err)
		}
		var out2 bytes.Buffer
		if err := r2.Snapshot(&out2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), out2.Bytes()) {
			t.Fatal("snapshot round trip differs")
		}
		// Restored state keeps working.
		r.Observe(t0, netip.MustParseAddr("10.0.0.1"), "z")
		if h, ok := r.HostAt(netip.MustParseAddr("10.0.0.1"), t0); ok && h == "" {
			t.Fatal("empty host bound")
		}
	})
}

// FuzzLearn: hostile field values (a dhcpd message, a workstation name, an
// address, a lease time, a DHCP message type) in each kind of event Learn
// reads never panic, and every binding learned has a bindable address and a
// host name that is not an address and canonicalizes to itself.
func FuzzLearn(f *testing.F) {
	f.Add("DHCPACK on 10.0.0.5 to aa:bb:cc:dd:ee:ff (ws-042) via eth0", "WS-042", "10.0.0.5", "86400.0", "ACK", "egress")
	f.Add("DHCPRELEASE of 10.0.0.5 from aa:bb:cc:dd:ee:ff (ws-042) via eth0 (found)", `\\ws-042.corp`, "::ffff:10.0.0.5", "1e300", "RELEASE", "ingress")
	f.Add("DHCPDECLINE of 10.0.0.5 from aa (x) via eth0: y", "10.0.0.9", "fe80::1%eth0", "-1", "DECLINE", "")
	f.Add("DHCPACK on 1.2.3.4 to m (a..b) via e", "ws$", "127.0.0.1", "NaN", "NAK", "egress")
	f.Fuzz(func(t *testing.T, msg, name, ip, lease, msgType, dir string) {
		a := event.ParseIP(ip)
		var evs []*event.Event
		mk := func() *event.Event {
			e := &event.Event{Timestamp: t0}
			evs = append(evs, e)
			return e
		}
		e := mk()
		e.SetStr(event.ProcessName, "dhcpd")
		e.SetStr(event.Message, msg)
		e = mk()
		e.SetStr(event.EventDataset, "zeek.dhcp")
		for _, k := range []string{"assigned_addr", "client_addr", "requested_addr"} {
			e.AddRaw(event.MakeKey(k), ip)
		}
		e.AddRaw(event.MakeKey("host_name"), name)
		e.AddRaw(event.MakeKey("client_fqdn"), msg)
		e.AddRaw(event.MakeKey("lease_time"), lease)
		e.AddRaw(event.MakeKey("msg_types"), msgType)
		for _, id := range []int64{3, 4624, 4625, 4648, 4768} {
			e = mk()
			e.SetNum(event.WinlogEventID, id)
			e.SetStr(event.WinlogProviderName, map[bool]string{true: provSysmon, false: provSecurity}[id == 3])
			e.SetStr(event.WinlogLogonType, "Network")
			e.SetStr(event.NetworkDirection, dir)
			e.SetStr(event.HostName, msg)
			e.SetStr(event.SourceDomain, name)
			e.SetStr(event.DestinationDomain, name)
			e.SetStr(event.UserName, name)
			e.SetStr(event.UserDomain, msgType)
			e.SetStr(event.EventOutcome, "success")
			e.SetIP(event.SourceIP, a)
		}
		e = mk()
		e.SetStr(event.HostName, name)
		e.SetIP(event.HostIP, a)
		e.AddRaw(event.MakeKey("host.ip"), lease)
		r := &Resolver{Bindings: NewBindings(BindingsConfig{MaxIPs: 8})}
		for _, e := range evs {
			for _, l := range Learn(e, nil) {
				if !Bindable(l.IP) || l.IP != l.IP.Unmap() {
					t.Fatalf("%+v: address not bindable", l)
				}
				if l.Release && l.Host == "" {
					continue
				}
				if event.ParseIP(l.Host).IsValid() || event.CanonicalHost(l.Host).FQDN != l.Host || l.Host == "" {
					t.Fatalf("%+v: host not a canonical name", l)
				}
				if l.Lease < 0 || l.Lease > MaxLease {
					t.Fatalf("%+v: lease out of range", l)
				}
			}
			r.ObserveEvent(e)
		}
	})
}
