package assets

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// dump renders an inventory one asset per line, for golden files.
func dump(inv *Inventory) string {
	var sb strings.Builder
	for _, a := range inv.Assets() {
		ips := make([]string, len(a.IPs))
		for i, ip := range a.IPs {
			ips[i] = ip.String()
		}
		fmt.Fprintf(&sb, "fqdn=%s short=%s host=%s ips=%s owner=%s bu=%s crit=%s tags=%s region=%s\n",
			a.FQDN, a.Short, a.Host, strings.Join(ips, ";"), a.Owner, a.BusinessUnit, a.Criticality, strings.Join(a.Tags, ";"), a.Region)
	}
	for _, am := range inv.Ambiguous() {
		fmt.Fprintf(&sb, "ambiguous %s: %s\n", am.Short, strings.Join(am.FQDNs, " "))
	}
	return sb.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestLoadGood(t *testing.T) {
	var dumps []string
	for _, f := range []string{"testdata/good.csv", "testdata/good.yaml"} {
		inv, rej, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(rej) != 0 {
			t.Errorf("%s: rejected %v", f, rej)
		}
		if inv.Len() != 6 {
			t.Errorf("%s: %d assets, want 6", f, inv.Len())
		}
		dumps = append(dumps, dump(inv))
	}
	if dumps[0] != dumps[1] {
		t.Errorf("CSV and YAML differ:\n%s\n%s", dumps[0], dumps[1])
	}
	golden(t, "testdata/good.golden", dumps[0])
}

func TestLoadBad(t *testing.T) {
	for _, tc := range []struct {
		file   string
		assets int
	}{
		{"testdata/bad.csv", 2},
		{"testdata/bad.yaml", 2},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			inv, rej, err := Load(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if inv.Len() != tc.assets {
				t.Errorf("%d assets loaded, want %d:\n%s", inv.Len(), tc.assets, dump(inv))
			}
			var sb strings.Builder
			for _, r := range rej {
				sb.WriteString(r.Error() + "\n")
			}
			golden(t, tc.file+".golden", sb.String())
		})
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, body, want string }{
		{"nohost.csv", "ips,owner\n10.0.0.1,x\n", `no "host" or "fqdn" column`},
		{"unknown.csv", "host,color\nx,red\n", `unknown column "color"`},
		{"repeat.csv", "host,HOST\nx,y\n", `column "host" repeated`},
		{"empty.csv", "", "reading header: EOF"},
		{"map.yaml", "host: x\n", "map.yaml:1: top level is not a list of assets"},
		{"syntax.yaml", "- host: [x\n", "parsing yaml"},
		{"two.yaml", "- host: x\n---\n- host: y\n", "more than one yaml document"},
		{"inv.txt", "host\nx\n", "extension is not .csv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, _, err := Load(filepath.Join(dir, "missing.csv")); err == nil || !strings.Contains(err.Error(), "opening asset inventory") {
		t.Errorf("missing file: %v", err)
	}
	// An empty YAML file or list is an empty inventory, not an error.
	for _, body := range []string{"", "[]\n", "# nothing\n", "~\n"} {
		p := filepath.Join(dir, "e.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if inv, rej, err := Load(p); err != nil || inv.Len() != 0 || len(rej) != 0 {
			t.Errorf("%q: %v %v %v", body, inv.Len(), rej, err)
		}
	}
}

func TestLookup(t *testing.T) {
	inv, _, err := Load("testdata/good.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		fqdn string // "" for none
		by   MatchKind
		cand []string
	}{
		{"dc01.corp.example", "dc01.corp.example", MatchFQDN, nil},
		{"DC01.CORP.EXAMPLE.", "dc01.corp.example", MatchFQDN, nil},
		{"dc01", "dc01.corp.example", MatchShort, nil},
		{"Dc01", "dc01.corp.example", MatchShort, nil},
		{"dc01.other.example", "", MatchNone, nil},
		{"10.0.0.11", "dc01.corp.example", MatchIP, nil},
		{"::ffff:10.0.0.11", "dc01.corp.example", MatchIP, nil},
		{"[2001:db8::80]", "web.dmz.example", MatchIP, nil},
		{"2001:DB8:0::80", "web.dmz.example", MatchIP, nil},
		{"10.0.0.12", "", MatchNone, nil},
		{"web", "", MatchAmbiguous, []string{"web.dmz.example", "web.lab.example"}},
		{"WEB.lab.example", "web.lab.example", MatchFQDN, nil},
		{"printer7", "printer7", MatchFQDN, nil},
		{"printer7.corp.example", "printer7", MatchShort, nil}, // known by short name only
		{"sql-prod", "sql01.corp.example", MatchShort, nil},    // the host column
		{"sql01", "sql01.corp.example", MatchShort, nil},
		{"-", "", MatchNone, nil},
		{"", "", MatchNone, nil},
		{"nope", "", MatchNone, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := inv.Lookup(tc.name)
			got := ""
			if m.Asset != nil {
				got = m.Asset.FQDN
			}
			var cand []string
			for _, c := range m.Candidates {
				cand = append(cand, c.FQDN)
			}
			if got != tc.fqdn || m.By != tc.by || !slices.Equal(cand, tc.cand) {
				t.Errorf("Lookup(%q) = %q by %v candidates %v, want %q by %v candidates %v", tc.name, got, m.By, cand, tc.fqdn, tc.by, tc.cand)
			}
		})
	}
	m := inv.Lookup("dc01")
	if a := m.Asset; a.Criticality != CriticalityExtreme || a.Owner != "alice@corp.example" || !slices.Equal(a.Tags, []string{"domain-controller", "tier0"}) || a.Region != "eu-west" || a.Source != "testdata/good.csv:2" {
		t.Errorf("dc01 = %+v", *a)
	}
	var nilInv *Inventory
	if nilInv.Lookup("dc01").Found() || nilInv.Len() != 0 {
		t.Error("nil inventory answered")
	}
}

// TestShortOnlyAndFQDNShareShort: an asset known by its short name and another
// by an FQDN with that first label make the short name ambiguous, and an FQDN in
// a third domain too (which of the two it is cannot be told).
func TestShortOnlyAndFQDNShareShort(t *testing.T) {
	inv, rej, err := ReadCSV(strings.NewReader("host,fqdn\nws-1,\n,ws-1.corp.example\n"), "")
	if err != nil || len(rej) != 0 {
		t.Fatal(err, rej)
	}
	for name, want := range map[string]MatchKind{"ws-1": MatchAmbiguous, "ws-1.other.example": MatchAmbiguous, "ws-1.corp.example": MatchFQDN} {
		if m := inv.Lookup(name); m.By != want {
			t.Errorf("%s: %v, want %v", name, m.By, want)
		}
	}
}

func TestParseCriticality(t *testing.T) {
	for in, want := range map[string]Criticality{"": CriticalityUnknown, "low": CriticalityLow, " Medium ": CriticalityMedium, "HIGH": CriticalityHigh, "extreme": CriticalityExtreme} {
		got, err := ParseCriticality(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
		if got.String() != strings.ToLower(strings.TrimSpace(in)) {
			t.Errorf("%q: String %q", in, got.String())
		}
	}
	if _, err := ParseCriticality("critical"); err == nil {
		t.Error("critical accepted")
	}
}

// TestInventoryMemoryPerAsset measures the heap an inventory keeps per asset
// (one FQDN, one address, owner, one tag): the figure in the package doc.
func TestInventoryMemoryPerAsset(t *testing.T) {
	const n = 20_000
	var sb strings.Builder
	sb.WriteString("host,fqdn,ips,owner,criticality,tags,region\n")
	for i := range n {
		fmt.Fprintf(&sb, "ws-%06d,ws-%06d.corp.example,10.%d.%d.%d,user%06d@corp.example,medium,workstation,eu-west\n", i, i, byte(i>>16), byte(i>>8), byte(i), i)
	}
	data := sb.String()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	inv, rej, err := ReadCSV(strings.NewReader(data), "")
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if err != nil || len(rej) != 0 || inv.Len() != n {
		t.Fatal(err, rej)
	}
	per := float64(m1.HeapAlloc-m0.HeapAlloc) / n
	t.Logf("%.0f bytes per asset", per)
	if per > 700 {
		t.Errorf("%.0f bytes per asset, over the 700 the package doc allows", per)
	}
	runtime.KeepAlive(inv)
}
