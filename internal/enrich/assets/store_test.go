package assets

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func writeFile(t testing.TB, p, body string) {
	t.Helper()
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil { // atomic, like a careful deployment
		t.Fatal(err)
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "assets.csv")
	s := &Store{}
	if s.Lookup("a").Found() || s.Inventory().Len() != 0 {
		t.Fatal("empty store answered")
	}
	writeFile(t, p, "host,criticality\na,high\n")
	if rej, err := s.Reload(p); err != nil || len(rej) != 0 {
		t.Fatal(rej, err)
	}
	if m := s.Lookup("A"); !m.Found() || m.Asset.Criticality != CriticalityHigh {
		t.Fatalf("%+v", m)
	}
	for _, tc := range []struct {
		name, body string
		is         error
	}{
		{"bad header", "hots,criticality\nb,low\n", nil},
		{"every row rejected", "host,criticality\nb,critical\nc,severe\n", ErrNoAssets},
		{"empty file", "", nil},
		{"header only", "host,criticality\n", ErrNoAssets},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, p, tc.body)
			_, err := s.Reload(p)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("error %v, want %v", err, tc.is)
			}
			if m := s.Lookup("a"); !m.Found() || m.Asset.Criticality != CriticalityHigh {
				t.Errorf("old inventory not kept: %+v", m)
			}
			if st := s.Status(); st.Err == nil || st.Path != p {
				t.Errorf("status %+v", st)
			}
		})
	}
	if _, err := s.Reload(filepath.Join(dir, "gone.csv")); err == nil || !s.Lookup("a").Found() {
		t.Errorf("missing file: %v, old kept %v", err, s.Lookup("a").Found())
	}
	writeFile(t, p, "host,criticality\nb,low\nc,critical\n")
	rej, err := s.Reload(p)
	if err != nil || len(rej) != 1 {
		t.Fatal(rej, err)
	}
	if s.Lookup("a").Found() || !s.Lookup("b").Found() {
		t.Error("new inventory not in force")
	}
	if st := s.Status(); st != (ReloadStatus{Path: p, Assets: 1, Rejected: 1}) {
		t.Errorf("status %+v", st)
	}
	s.Set(nil)
	if s.Lookup("b").Found() {
		t.Error("Set(nil) kept the inventory")
	}
}

// TestReloadConcurrent: lookups during reloads see one whole inventory or the
// other, never a mix (run under -race).
func TestReloadConcurrent(t *testing.T) {
	dir := t.TempDir()
	files := [2]string{filepath.Join(dir, "one.csv"), filepath.Join(dir, "two.yaml")}
	writeFile(t, files[0], "host,ips,criticality\nx,10.0.0.1,low\ny,10.0.0.2,low\n")
	writeFile(t, files[1], "- {host: x, ips: [10.0.0.1], criticality: extreme}\n- {host: y, ips: [10.0.0.2], criticality: extreme}\n")
	s := &Store{}
	if _, err := s.Reload(files[0]); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var lookups atomic.Int64
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				inv := s.Inventory()
				x, y := inv.Lookup("x"), inv.Lookup("10.0.0.2")
				if !x.Found() || !y.Found() || x.Asset.Criticality != y.Asset.Criticality {
					t.Errorf("mixed or missing: %+v %+v", x, y)
					return
				}
				lookups.Add(1)
			}
		})
	}
	for i := range 200 {
		if _, err := s.Reload(files[i%2]); err != nil {
			t.Error(err)
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	if lookups.Load() == 0 {
		t.Error("no lookup ran")
	}
}

func TestResolver(t *testing.T) {
	inv, _, err := Load("testdata/good.csv")
	if err != nil {
		t.Fatal(err)
	}
	r := &Resolver{Store: NewStore(inv), Bindings: NewBindings(BindingsConfig{})}
	r.Observe(t0, netip.MustParseAddr("10.9.0.42"), "WS-042.corp.example")
	r.Observe(t0, netip.MustParseAddr("10.0.0.10"), "rogue.corp.example") // a static address: the inventory wins
	r.Observe(t0, netip.MustParseAddr("10.9.0.43"), "unlisted.corp.example")
	r.Observe(t0, netip.MustParseAddr("10.9.0.44"), "web")
	for _, tc := range []struct {
		name string
		t    time.Time
		fqdn string
		host string
		by   MatchKind
	}{
		{"10.9.0.42", at(1), "ws-042.corp.example", "ws-042.corp.example", MatchDynamic},
		{"10.9.0.42", at(25), "", "", MatchNone}, // lease over
		{"10.9.0.42", at(-1), "", "", MatchNone}, // before the binding
		{"10.0.0.10", at(1), "dc01.corp.example", "", MatchIP},
		{"10.9.0.43", at(1), "", "unlisted.corp.example", MatchDynamic},
		{"10.9.0.44", at(1), "", "web", MatchAmbiguous},
		{"dc01", at(1), "dc01.corp.example", "", MatchShort},
	} {
		m := r.Lookup(tc.name, tc.t)
		got := ""
		if m.Asset != nil {
			got = m.Asset.FQDN
		}
		if got != tc.fqdn || m.Host != tc.host || m.By != tc.by {
			t.Errorf("Lookup(%s, %v) = %q host %q by %v, want %q host %q by %v", tc.name, tc.t, got, m.Host, m.By, tc.fqdn, tc.host, tc.by)
		}
	}
	var empty Resolver
	if empty.Lookup("10.0.0.10", t0).Found() || empty.Lookup("dc01", t0).Found() {
		t.Error("empty resolver answered")
	}
}
