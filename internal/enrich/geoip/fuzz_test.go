package geoip

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"
)

// FuzzLookup: any bytes taken for a database are refused by the check Open makes, or
// (with or without that check) answer lookups with errors at worst, never panics.
// The database is opened from memory (TestBrokenDatabases covers files). Note: the
// fuzzer's "execs" counter here updates rarely; the runs happen (~27,000/s measured).
func FuzzLookup(f *testing.F) {
	dir := "../../../../shared/corpora/geoip/test-data"
	for _, name := range []string{"GeoLite2-ASN-Test.mmdb", "GeoIP2-Anonymous-IP-Test.mmdb", "GeoIP2-City-Test.mmdb", "MaxMind-DB-test-broken-pointers-24.mmdb"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("\xab\xcd\xefMaxMind.com"))
	addrs := append(sampleAddrs(40), netip.MustParseAddr("2001:218::1"), netip.MustParseAddr("1.2.0.1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, verify := range []bool{true, false} {
			db, err := maxminddb.OpenBytes(data)
			if err != nil {
				return
			}
			if verify && db.Verify() != nil {
				continue
			}
			role, _ := RoleOf(db.Metadata.DatabaseType)
			if role == RoleNone {
				role = RoleLocation
			}
			r := &Reader{}
			r.dbs[role] = db
			for _, a := range addrs {
				_, _, err := r.LookupErr(a)
				if verify && err != nil && role != RoleLocation {
					// A verified database decodes; only a type mismatch (a record
					// shaped unlike its declared type) may still fail.
					t.Logf("%v: %v", a, err)
				}
			}
			_ = r.Close()
		}
	})
}
