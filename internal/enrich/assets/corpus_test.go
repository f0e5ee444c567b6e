package assets

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// corpus returns a path under ../shared/corpora, skipping (or failing, when
// VIGIL_REQUIRE_CORPORA=1) when it is missing.
func corpus(t testing.TB, rel string) string {
	t.Helper()
	p := "../../../../shared/corpora/" + rel
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			t.Fatalf("corpus %s missing: %v", rel, err)
		}
		t.Skipf("corpus %s missing: %v", rel, err)
	}
	return p
}

type zeekBinding struct {
	t    time.Time
	ip   netip.Addr
	host string
}

// apt29Bindings extracts the host↔address pairs the APT29 evaluation's Zeek logs
// state: DNS A answers for names in the AD domain, and Kerberos AS requests of
// machine accounts (UTICA$/DMEVALS.LOCAL from its own address). The domain's
// own name (dmevals.local, which resolves to the domain controllers) names no
// host and is left out, as the wiring will have to do.
func apt29Bindings(t *testing.T) []zeekBinding {
	dir := corpus(t, "zeek/apt29")
	files, err := filepath.Glob(filepath.Join(dir, "day*", "*_*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []zeekBinding
	for _, f := range files {
		dns, krb := strings.HasSuffix(f, "_dns.log"), strings.HasSuffix(f, "_kerberos.log")
		if !dns && !krb {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r struct {
				TS      float64  `json:"ts"`
				Orig    string   `json:"id_orig_h"`
				Query   string   `json:"query"`
				QType   string   `json:"qtype_name"`
				Answers []string `json:"answers"`
				Client  string   `json:"client"`
				Type    string   `json:"request_type"`
				Success bool     `json:"success"`
			}
			if json.Unmarshal(sc.Bytes(), &r) != nil {
				continue
			}
			sec, frac := math.Modf(r.TS)
			ts := time.Unix(int64(sec), int64(frac*1e9)).UTC()
			switch {
			case dns && r.QType == "A" && strings.HasSuffix(r.Query, ".dmevals.local"):
				for _, a := range r.Answers {
					if ip, err := netip.ParseAddr(a); err == nil {
						out = append(out, zeekBinding{ts, ip, r.Query})
					}
				}
			case krb && r.Type == "AS" && r.Success:
				name, realm, ok := strings.Cut(r.Client, "/")
				if ok && strings.HasSuffix(name, "$") {
					out = append(out, zeekBinding{ts, netip.MustParseAddr(r.Orig), strings.TrimSuffix(name, "$") + "." + realm})
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].t.Before(out[j].t) })
	return out
}

// TestAPT29ZeekBindings: learned from real Zeek DNS and Kerberos logs, each
// address resolves to its host while its lease runs, the day-1 bindings have
// lapsed in the 30-hour gap before day 2, and a restored copy answers alike.
func TestAPT29ZeekBindings(t *testing.T) {
	obs := apt29Bindings(t)
	if len(obs) < 20 {
		t.Fatalf("%d bindings read from the APT29 logs", len(obs))
	}
	b := NewBindings(BindingsConfig{})
	for _, o := range obs {
		b.Observe(o.t, o.ip, o.host)
	}
	want := map[string]string{
		"10.0.0.4":  "newyork.dmevals.local",
		"10.0.1.4":  "scranton.dmevals.local",
		"10.0.1.5":  "utica.dmevals.local", // from the machine account's Kerberos requests only
		"10.0.1.6":  "nashua.dmevals.local",
		"10.0.1.10": "wec.dmevals.local",
	}
	if s := b.Stats(); s.IPs != len(want) {
		t.Errorf("%d addresses learned, want %d", s.IPs, len(want))
	}
	var snap bytes.Buffer
	if err := b.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	r := NewBindings(BindingsConfig{})
	if err := r.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	for _, o := range obs {
		for _, bb := range []*Bindings{b, r} {
			if h, ok := bb.HostAt(o.ip, o.t.Add(time.Minute)); !ok || h != want[o.ip.String()] {
				t.Errorf("HostAt(%s, %v) = %q %v, want %q", o.ip, o.t, h, ok, want[o.ip.String()])
			}
		}
	}
	// Between the days (day 1 ends 2020-04-30 00:36 UTC, day 2 starts 2020-05-01
	// 07:07 UTC) no lease is left.
	gap := time.Date(2020, 5, 1, 6, 0, 0, 0, time.UTC)
	for ip := range want {
		if h, ok := b.HostAt(netip.MustParseAddr(ip), gap); ok {
			t.Errorf("%s still bound to %s in the gap between the days", ip, h)
		}
	}
	// Before anything was observed, nothing is known.
	if h, ok := b.HostAt(netip.MustParseAddr("10.0.0.4"), obs[0].t.Add(-time.Second)); ok {
		t.Errorf("bound to %s before the first observation", h)
	}
}
