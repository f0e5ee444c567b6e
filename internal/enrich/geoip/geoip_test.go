package geoip

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// testData returns ../shared/corpora/geoip/test-data, skipping (or failing, when
// VIGIL_REQUIRE_CORPORA=1) when it is missing.
func testData(t testing.TB) string {
	t.Helper()
	p := "../../../../shared/corpora/geoip/test-data"
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			t.Fatalf("corpus geoip/test-data missing: %v", err)
		}
		t.Skipf("corpus geoip/test-data missing: %v", err)
	}
	return p
}

func openTest(t testing.TB, cacheSize int) *Reader {
	t.Helper()
	dir := testData(t)
	r, err := Open(Options{
		City:        filepath.Join(dir, "GeoIP2-City-Test.mmdb"),
		ASN:         filepath.Join(dir, "GeoLite2-ASN-Test.mmdb"),
		AnonymousIP: filepath.Join(dir, "GeoIP2-Anonymous-IP-Test.mmdb"),
		CacheSize:   cacheSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// TestKnownAnswers: addresses whose records MaxMind's test databases hold.
func TestKnownAnswers(t *testing.T) {
	r := openTest(t, 0)
	for _, c := range []struct {
		ip   string
		want Location
	}{
		// London, with every anonymity flag of the Anonymous-IP test database.
		{"81.2.69.142", Location{Country: "GB", CountryName: "United Kingdom", City: "London", Latitude: 51.5142, Longitude: -0.0931, HasCoords: true, AccuracyRadiusKm: 10,
			Anonymous: true, VPN: true, Hosting: true, Tor: true, PublicProxy: true, ResidentialProxy: true}},
		{"216.160.83.56", Location{Country: "US", CountryName: "United States", City: "Milton", Latitude: 47.2513, Longitude: -122.3149, HasCoords: true, AccuracyRadiusKm: 22, ASN: 209}},
		{"89.160.20.128", Location{Country: "SE", CountryName: "Sweden", City: "Linköping", Latitude: 58.4167, Longitude: 15.6167, HasCoords: true, AccuracyRadiusKm: 76, ASN: 29518, ASOrg: "Bredband2 AB"}},
		// Only in the ASN database.
		{"1.128.0.1", Location{ASN: 1221, ASOrg: "Telstra Pty Ltd"}},
		// Only in the Anonymous-IP database, as a VPN.
		{"1.2.0.1", Location{Anonymous: true, VPN: true}},
		// IPv4-mapped IPv6 answers as IPv4.
		{"::ffff:216.160.83.56", Location{Country: "US", CountryName: "United States", City: "Milton", Latitude: 47.2513, Longitude: -122.3149, HasCoords: true, AccuracyRadiusKm: 22, ASN: 209}},
	} {
		got, ok := r.Lookup(netip.MustParseAddr(c.ip))
		if !ok || got != c.want {
			t.Errorf("%s: got %+v, %v\nwant %+v", c.ip, got, ok, c.want)
		}
		// The second answer comes from the cache and must be the same.
		if again, ok2 := r.Lookup(netip.MustParseAddr(c.ip)); again != got || ok2 != ok {
			t.Errorf("%s: cached answer %+v differs", c.ip, again)
		}
	}
	if _, ok := r.Lookup(netip.MustParseAddr("9.9.9.9")); ok {
		t.Error("9.9.9.9 found in the test databases")
	}
	if _, ok := r.Lookup(netip.Addr{}); ok {
		t.Error("the zero address found")
	}
	if r.Errors() != 0 {
		t.Errorf("%d lookup errors", r.Errors())
	}
}

func TestInternal(t *testing.T) {
	r := openTest(t, -1)
	for _, ip := range []string{"10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.1.1", "100.64.0.1", "100.127.255.254",
		"0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fd00::1", "::ffff:10.0.0.1", "fe80::1%eth0"} {
		if l, ok := r.Lookup(netip.MustParseAddr(ip)); !ok || l != (Location{Internal: true}) {
			t.Errorf("%s: %+v, %v, want internal", ip, l, ok)
		}
	}
	for _, ip := range []string{"100.128.0.1", "81.2.69.142", "2001:218::1"} {
		if IsInternal(netip.MustParseAddr(ip)) {
			t.Errorf("%s: internal", ip)
		}
	}
}

// TestBrokenDatabases: MaxMind's deliberately broken databases, wrong kinds of
// database and files that are not databases give errors at Open, never panics.
func TestBrokenDatabases(t *testing.T) {
	dir := testData(t)
	tmp := t.TempDir()
	city, err := os.ReadFile(filepath.Join(dir, "GeoIP2-City-Test.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := append([]byte(nil), city...)
	for i := 0; i < len(flipped)/2; i += 7 {
		flipped[i] ^= 0xa5
	}
	for _, c := range []struct {
		name string
		o    Options
		want string
	}{
		{"double format", Options{City: filepath.Join(dir, "GeoIP2-City-Test-Broken-Double-Format.mmdb")}, "verifying"},
		{"invalid node count", Options{City: filepath.Join(dir, "GeoIP2-City-Test-Invalid-Node-Count.mmdb")}, "invalid metadata"},
		{"broken pointers", Options{City: filepath.Join(dir, "MaxMind-DB-test-broken-pointers-24.mmdb")}, "verifying"},
		{"broken search tree", Options{ASN: filepath.Join(dir, "MaxMind-DB-test-broken-search-tree-24.mmdb")}, "verifying"},
		{"not a city database", Options{City: filepath.Join(dir, "GeoLite2-ASN-Test.mmdb")}, `"GeoLite2-ASN" is not a location database`},
		{"not an ASN database", Options{ASN: filepath.Join(dir, "GeoIP2-City-Test.mmdb")}, "is not a asn database"},
		{"missing", Options{City: filepath.Join(tmp, "absent.mmdb")}, "no such file"},
		{"empty", Options{City: write("empty.mmdb", nil)}, "empty"},
		{"truncated", Options{City: write("trunc.mmdb", city[:len(city)/2])}, "opening"},
		{"text", Options{City: write("text.mmdb", []byte("not a database\n"))}, "opening"},
		{"bytes flipped", Options{City: write("flip.mmdb", flipped)}, "verifying"},
		{"nothing", Options{}, "no database file"},
	} {
		r, err := Open(c.o)
		if err == nil {
			_ = r.Close()
			t.Errorf("%s: opened", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want it to contain %q", c.name, err, c.want)
		}
	}
	if _, err := Open(Options{City: filepath.Join(tmp, "absent.mmdb")}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v does not wrap fs.ErrNotExist", err)
	}
}

// TestBrokenLookups: without the check at Open, looking up every address of a
// broken database's networks gives errors, never panics.
func TestBrokenLookups(t *testing.T) {
	dir := testData(t)
	r, err := Open(Options{City: filepath.Join(dir, "GeoIP2-City-Test-Broken-Double-Format.mmdb"), SkipVerify: true, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	errs := 0
	for _, ip := range []string{"81.2.69.142", "81.2.69.160", "216.160.83.56", "89.160.20.128", "2.125.160.216", "175.16.199.1", "2001:218::1", "2a02:d180::1"} {
		if _, _, err := r.LookupErr(netip.MustParseAddr(ip)); err != nil {
			errs++
			if !strings.Contains(err.Error(), "looking up "+ip) {
				t.Errorf("%s: %v", ip, err)
			}
		}
	}
	if errs == 0 {
		t.Error("no lookup in the broken database failed")
	}
	before := r.Errors()
	for _, ip := range []string{"81.2.69.142", "216.160.83.56", "89.160.20.128"} {
		r.Lookup(netip.MustParseAddr(ip))
	}
	if r.Errors() == before {
		t.Error("Lookup counted no error")
	}
}

// TestOpenDir: the best database of each role is chosen by metadata type; the
// broken City database of the same type is passed over.
func TestOpenDir(t *testing.T) {
	dir := testData(t)
	r, err := OpenDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for role, want := range map[Role]string{RoleLocation: "GeoIP2-City-Test.mmdb", RoleASN: "GeoIP2-ISP-Test.mmdb", RoleAnonymous: "GeoIP-Anonymous-Plus-Test.mmdb"} {
		if got := filepath.Base(r.File(role)); got != want {
			t.Errorf("%v: %s, want %s", role, got, want)
		}
	}
	var skipped []string
	for _, e := range r.Skipped() {
		skipped = append(skipped, e.Error())
	}
	s := strings.Join(skipped, "\n")
	if !strings.Contains(s, "GeoIP2-City-Test-Invalid-Node-Count.mmdb") {
		t.Errorf("the invalid database is not among the skipped files:\n%s", s)
	}
	if l, ok := r.Lookup(netip.MustParseAddr("216.160.83.56")); !ok || l.City != "Milton" || l.ASN != 209 {
		t.Errorf("216.160.83.56: %+v", l)
	}
	// Alone with the broken databases of its type, a renamed ASN database is still
	// found by its metadata, and the broken ones are passed over.
	tmp := t.TempDir()
	for _, name := range []string{"GeoIP2-City-Test-Broken-Double-Format.mmdb", "GeoIP2-City-Test-Invalid-Node-Count.mmdb"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "GeoLite2-ASN-Test.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "whatever.mmdb"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	r2, err := OpenDir(tmp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if r2.File(RoleASN) == "" || r2.File(RoleLocation) != "" || len(r2.Skipped()) != 2 {
		t.Errorf("renamed ASN database: location %q, asn %q, skipped %v", r2.File(RoleLocation), r2.File(RoleASN), r2.Skipped())
	}
	if _, err := OpenDir(t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "no usable") {
		t.Errorf("empty directory: %v", err)
	}
}

func TestCloseIdempotent(t *testing.T) {
	dir := testData(t)
	r, err := Open(Options{City: filepath.Join(dir, "GeoIP2-City-Test.mmdb")})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.LookupErr(netip.MustParseAddr("81.2.69.142")); err == nil {
		t.Error("lookup after Close succeeded")
	}
}

// TestCacheBounded: the cache never holds more than its size, and answers stay right
// across generations.
func TestCacheBounded(t *testing.T) {
	r := openTest(t, 64)
	addrs := sampleAddrs(500)
	want := make([]Location, len(addrs))
	for i, a := range addrs {
		want[i], _ = r.Lookup(a)
	}
	for i, a := range addrs {
		if got, _ := r.Lookup(a); got != want[i] {
			t.Fatalf("%v: %+v then %+v", a, want[i], got)
		}
	}
	if n := len(r.cache.cur) + len(r.cache.prev); n > 64 {
		t.Errorf("cache holds %d entries, size 64", n)
	}
}

func TestConcurrentLookups(t *testing.T) {
	r := openTest(t, 128)
	addrs := sampleAddrs(300)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, a := range addrs {
				r.Lookup(a)
			}
		})
	}
	wg.Wait()
}

// sampleAddrs returns n addresses spread over networks of the test databases.
func sampleAddrs(n int) []netip.Addr {
	bases := []string{"81.2.69.0", "216.160.83.0", "89.160.20.0", "1.128.0.0", "175.16.199.0", "214.0.0.0", "2.125.160.0", "67.43.156.0", "202.196.224.0", "149.101.100.0"}
	out := make([]netip.Addr, 0, n)
	for i := range n {
		b := netip.MustParseAddr(bases[i%len(bases)]).As4()
		b[3] = byte(i / len(bases) % 256)
		out = append(out, netip.AddrFrom4(b))
	}
	return out
}

// BenchmarkLookup: lookups/s in three databases, with and without the cache, over
// 1000 addresses (a working set the cache holds) and the uncached cost per
// address.
func BenchmarkLookup(b *testing.B) {
	for _, c := range []struct {
		name string
		size int
	}{{"cache", 0}, {"nocache", -1}} {
		b.Run(c.name, func(b *testing.B) {
			r := openTest(b, c.size)
			addrs := sampleAddrs(1000)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r.Lookup(addrs[i%len(addrs)])
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}

// TestCacheMemory measures the heap per cached answer (the package doc states it).
func TestCacheMemory(t *testing.T) {
	r := openTest(t, 40000)
	addrs := make([]netip.Addr, 0, 20000)
	for i := range 20000 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{81, 2, byte(i >> 8), byte(i)}))
	}
	for _, a := range addrs[:100] {
		r.Lookup(a) // the decoder's string cache, not the answer cache
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, a := range addrs {
		r.Lookup(a)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := len(r.cache.cur) + len(r.cache.prev)
	per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	t.Logf("%.0f bytes per cached answer (%d cached)", per, n)
	if n != len(addrs) || per > 400 || per < 100 {
		t.Errorf("%d answers cached, %.0f bytes each; the package doc says about 250", n, per)
	}
	runtime.KeepAlive(addrs)
}
