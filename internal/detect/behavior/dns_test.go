package behavior

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

// dnsDays is days of 30 clients resolving common names, then, when tunnel is set,
// one client sending a few hundred encoded subdomains of one domain in an hour.
func dnsDays(days int, tunnel bool) []Obs {
	var obs []Obs
	common := []string{"login.microsoftonline.com", "www.google.com", "slack.com", "github.com", "outlook.office365.com", "cdn.example-cdn.net"}
	for d := range days {
		for h := 7; h < 19; h++ {
			for c := range 30 {
				for q := range 4 {
					tm := t0 + int64(d)*24*hour + int64(h)*hour + int64(c*97+q*13)*int64(time.Second)
					obs = append(obs, Obs{Time: tm, Kind: KindDNS, SrcIP: netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + c)}),
						Target: intern(common[(c+q+h)%len(common)]), Extra: intern("A"), Source: intern("dns.log"), Offset: tm})
				}
			}
		}
	}
	if tunnel {
		for i := range 400 {
			tm := t0 + int64(days)*24*hour + 10*hour + int64(i)*int64(5*time.Second)
			name := fmt.Sprintf("%x%x.%d.t.exfil-example.com", uint64(i)*0x9e3779b97f4a7c15, uint64(i+7)*0xbf58476d1ce4e5b9, i)
			obs = append(obs, Obs{Time: tm, Kind: KindDNS, SrcIP: netip.MustParseAddr("10.0.0.13"), Target: intern(name), Extra: intern("TXT"), Source: intern("dns.log"), Offset: tm})
		}
	}
	return obs
}

func TestDNSTunnel(t *testing.T) {
	d, err := NewDNS()
	if err != nil {
		t.Fatal(err)
	}
	var tunnels []detect.Signal
	for _, s := range run(t, d, dnsDays(3, true)) {
		if s.RuleID == "dns.tunnel" {
			tunnels = append(tunnels, s)
		}
	}
	if len(tunnels) == 0 {
		t.Fatal("no tunnel signal")
	}
	s := tunnels[0]
	if s.Entities[0] != (detect.Entity{Kind: detect.EntityIP, Value: "10.0.0.13"}) || s.Entities[1] != (detect.Entity{Kind: detect.EntityDomain, Value: "exfil-example.com"}) ||
		len(s.Evidence) == 0 || s.Evidence[0].Source != "dns.log" || s.Severity != detect.SeverityHigh || len(s.Explanation.Features) == 0 {
		t.Errorf("signal: %+v", s)
	}
	quiet, _ := NewDNS()
	for _, s := range run(t, quiet, dnsDays(3, false)) {
		if s.RuleID == "dns.tunnel" {
			t.Errorf("tunnel signal without a tunnel: %s", s.Explanation.Summary)
		}
	}
}

func TestDNSSnapshotRestore(t *testing.T) {
	all := dnsDays(3, true)
	cut := len(all) - 300
	a, _ := NewDNS()
	run(t, a, all[:cut])
	var snap bytes.Buffer
	if err := a.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	b, _ := NewDNS()
	if err := b.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	x, y := run(t, a, all[cut:]), run(t, b, all[cut:])
	if len(x) == 0 || fmt.Sprint(x) != fmt.Sprint(y) {
		t.Fatalf("original %d signals, restored %d", len(x), len(y))
	}
	for _, bad := range [][]byte{nil, {2}, snap.Bytes()[:10]} {
		c, _ := NewDNS()
		if err := c.Restore(bytes.NewReader(bad)); err == nil {
			t.Errorf("Restore accepted %d bad bytes", len(bad))
		}
	}
}
