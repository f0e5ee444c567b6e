// Package geoip owns IP enrichment from MaxMind DB (mmdb) files: where an address
// geolocates (country, city, coordinates and the accuracy radius), which autonomous
// system announces it, and whether MaxMind's anonymous-IP data calls it a VPN exit,
// a hosting provider, a Tor exit node or a public proxy.
//
// It reads GeoIP2/GeoLite2 City, Country and Enterprise databases (location),
// GeoLite2-ASN and GeoIP2-ISP (autonomous system) and GeoIP2-Anonymous-IP /
// GeoIP-Anonymous-Plus (anonymity flags) with github.com/oschwald/maxminddb-golang/v2,
// the Go reader behind oschwald/geoip2-golang (format:
// https://maxmind.github.io/MaxMind-DB/). Files are recognised by the database_type
// of their metadata, not by their names. Every file is verified when opened (search
// tree, data section, metadata) so a corrupt database is refused at Open instead of
// failing half-way through a replay; Options.SkipVerify trades that for start-up time.
//
// Addresses that cannot be on the Internet (RFC 1918 and RFC 4193 private, loopback,
// link-local, CGNAT 100.64.0.0/10, unspecified, multicast) answer Location{Internal:
// true} without a lookup. Answers are cached in a bounded two-generation cache
// (Options.CacheSize addresses, default 65536; 245 bytes per cached address measured
// by TestCacheMemory, names shared with the decoder's string cache, so 16 MB when
// full): a repeat lookup costs 70 ns instead of 570 ns for decoding three records
// (BenchmarkLookup, 2 shared cores).
//
// What it does not do: download or update databases, decide anything (detectors do),
// or answer for languages other than English names.
package geoip

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Location is what the databases say about one address. Fields a loaded database
// does not carry stay zero; HasCoords tells a real (0, 0) from none.
type Location struct {
	// Internal is true for addresses that are not routed on the Internet; nothing
	// else is filled then.
	Internal bool

	Country     string // ISO 3166-1 alpha-2 code
	CountryName string // English name
	City        string // English name, "" when the database locates only a country
	Latitude    float64
	Longitude   float64
	HasCoords   bool
	// AccuracyRadiusKm is MaxMind's radius around the coordinates within which the
	// address is likely to be.
	AccuracyRadiusKm int

	ASN   uint32
	ASOrg string

	// Anonymity, from an anonymous-IP database.
	Anonymous   bool // any of the kinds below
	VPN         bool // is_anonymous_vpn
	Hosting     bool // is_hosting_provider
	Tor         bool // is_tor_exit_node
	PublicProxy bool // is_public_proxy
	// ResidentialProxy is is_residential_proxy.
	ResidentialProxy bool
}

// Anonymising reports whether any anonymity flag is set.
func (l *Location) Anonymising() bool {
	return l.Anonymous || l.VPN || l.Hosting || l.Tor || l.PublicProxy || l.ResidentialProxy
}

// Options names the database files to load; any may be empty, not all.
type Options struct {
	City        string // GeoIP2/GeoLite2 City, Country or Enterprise database
	ASN         string // GeoLite2-ASN or GeoIP2-ISP database
	AnonymousIP string // GeoIP2-Anonymous-IP or GeoIP-Anonymous-Plus database
	// CacheSize bounds the answer cache (addresses); 0 means 65536, negative
	// disables it.
	CacheSize int
	// SkipVerify skips the whole-file integrity check at Open (a few seconds on a
	// full City database). Lookups in a corrupt file then fail one by one.
	SkipVerify bool
}

// DefaultCacheSize is the answer cache size when Options.CacheSize is 0.
const DefaultCacheSize = 1 << 16

// Role is what a database is used for.
type Role uint8

// Database roles.
const (
	RoleNone Role = iota
	RoleLocation
	RoleASN
	RoleAnonymous
)

func (r Role) String() string {
	switch r {
	case RoleLocation:
		return "location"
	case RoleASN:
		return "asn"
	case RoleAnonymous:
		return "anonymous-ip"
	}
	return "none"
}

// typeRanks lists, per role, the database types this package reads, best first.
var typeRanks = map[Role][]string{
	RoleLocation: {"GeoIP2-City", "GeoIP2-Enterprise", "GeoIP2-Precision-Enterprise", "GeoLite2-City",
		"GeoIP2-City-Shield", "GeoIP2-Enterprise-Shield", "GeoIP2-Precision-Enterprise-Shield",
		"GeoIP2-Country", "GeoLite2-Country", "GeoIP2-Country-Shield"},
	RoleASN:       {"GeoIP2-ISP", "GeoLite2-ASN"},
	RoleAnonymous: {"GeoIP-Anonymous-Plus", "GeoIP2-Anonymous-IP"},
}

// RoleOf returns the role of a database type and its rank among its role's types
// (0 best); RoleNone for types this package does not read.
func RoleOf(databaseType string) (Role, int) {
	for _, role := range []Role{RoleLocation, RoleASN, RoleAnonymous} {
		if i := slices.Index(typeRanks[role], databaseType); i >= 0 {
			return role, i
		}
	}
	return RoleNone, 0
}

// Reader answers lookups from up to three databases. It is safe for concurrent use;
// Close must not run concurrently with lookups.
type Reader struct {
	dbs     [4]*maxminddb.Reader // by Role
	files   [4]string
	cache   *cache
	skipped []error
	errs    atomic.Uint64
	closed  atomic.Bool
}

// Open opens the databases o names, checking that each holds what its field says.
func Open(o Options) (*Reader, error) {
	if o.City == "" && o.ASN == "" && o.AnonymousIP == "" {
		return nil, errors.New("opening geoip databases: no database file given")
	}
	r := &Reader{cache: newCache(o.CacheSize)}
	for _, f := range []struct {
		role Role
		path string
	}{{RoleLocation, o.City}, {RoleASN, o.ASN}, {RoleAnonymous, o.AnonymousIP}} {
		if f.path == "" {
			continue
		}
		db, err := openDB(f.path, !o.SkipVerify)
		if err != nil {
			_ = r.Close()
			return nil, err
		}
		if role, _ := RoleOf(db.Metadata.DatabaseType); role != f.role {
			_ = db.Close()
			_ = r.Close()
			return nil, fmt.Errorf("opening %s: database type %q is not a %s database", f.path, db.Metadata.DatabaseType, f.role)
		}
		r.dbs[f.role], r.files[f.role] = db, f.path
	}
	return r, nil
}

// openDB opens and (when verify) verifies one file.
func openDB(path string, verify bool) (*maxminddb.Reader, error) {
	db, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if verify {
		if err := db.Verify(); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("verifying %s: %w", path, err)
		}
	}
	return db, nil
}

// OpenDir opens the best database of each role among the *.mmdb files of dir (not
// its subdirectories), recognised by their metadata's database type: for location a
// City database before an Enterprise one before a Country one, GeoIP2 before
// GeoLite2; among files of the same type the most recently built, then by name.
// Files that do not open or verify are passed over and listed by Skipped; it is an
// error when no usable database is found.
func OpenDir(dir string, o Options) (*Reader, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.mmdb"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("opening geoip directory: %w", err)
	}
	type cand struct {
		path  string
		role  Role
		rank  int
		epoch uint
	}
	var cands []cand
	r := &Reader{cache: newCache(o.CacheSize)}
	for _, p := range paths {
		db, err := maxminddb.Open(p)
		if err != nil {
			r.skipped = append(r.skipped, fmt.Errorf("opening %s: %w", p, err))
			continue
		}
		role, rank := RoleOf(db.Metadata.DatabaseType)
		if role != RoleNone {
			cands = append(cands, cand{p, role, rank, db.Metadata.BuildEpoch})
		}
		_ = db.Close()
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if a.role != b.role {
			return int(a.role) - int(b.role)
		}
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		if a.epoch != b.epoch {
			if a.epoch > b.epoch {
				return -1
			}
			return 1
		}
		return strings.Compare(a.path, b.path)
	})
	for _, c := range cands {
		if r.dbs[c.role] != nil {
			continue
		}
		db, err := openDB(c.path, !o.SkipVerify)
		if err != nil {
			r.skipped = append(r.skipped, err)
			continue
		}
		r.dbs[c.role], r.files[c.role] = db, c.path
	}
	if r.dbs[RoleLocation] == nil && r.dbs[RoleASN] == nil && r.dbs[RoleAnonymous] == nil {
		return nil, fmt.Errorf("opening geoip databases in %s: no usable City, Country, ASN or Anonymous-IP database (%d skipped)", dir, len(r.skipped))
	}
	return r, nil
}

// Skipped lists the files OpenDir passed over, with why.
func (r *Reader) Skipped() []error { return slices.Clone(r.skipped) }

// File returns the path of the database serving role, "" when none.
func (r *Reader) File(role Role) string {
	if int(role) >= len(r.files) {
		return ""
	}
	return r.files[role]
}

// Errors counts lookups that failed on a database error since Open (Lookup reports
// them as not found; LookupErr returns them).
func (r *Reader) Errors() uint64 { return r.errs.Load() }

// Close releases the databases. It is idempotent.
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	var errs []error
	for i, db := range r.dbs {
		if db != nil {
			if err := db.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing %s: %w", r.files[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// cgnat is the shared address space of RFC 6598.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// IsInternal reports whether a is not an Internet address: private, loopback,
// link-local, CGNAT, unspecified or multicast.
func IsInternal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsUnspecified() || a.IsMulticast() || a.IsInterfaceLocalMulticast() || cgnat.Contains(a)
}

// Lookup returns what the databases know of a; false when a is invalid, no
// database has a non-empty record for it (the test databases hold empty records for
// whole /7s) or a lookup failed (counted by Errors).
func (r *Reader) Lookup(a netip.Addr) (Location, bool) {
	l, ok, err := r.LookupErr(a)
	if err != nil {
		r.errs.Add(1)
		return Location{}, false
	}
	return l, ok
}

// LookupErr is Lookup with the database error, if any.
func (r *Reader) LookupErr(a netip.Addr) (Location, bool, error) {
	if !a.IsValid() {
		return Location{}, false, nil
	}
	a = a.Unmap().WithZone("")
	if IsInternal(a) {
		return Location{Internal: true}, true, nil
	}
	if r.closed.Load() {
		return Location{}, false, errors.New("looking up in geoip databases: reader is closed")
	}
	if e, ok := r.cache.get(a); ok {
		return e.loc, e.found, nil
	}
	var l Location
	found := false
	if db := r.dbs[RoleLocation]; db != nil {
		var rec cityRecord
		res := db.Lookup(a)
		if err := res.Decode(&rec); err != nil {
			return Location{}, false, fmt.Errorf("looking up %v in %s: %w", a, r.files[RoleLocation], err)
		}
		if res.Found() {
			found = rec.Country.ISOCode != "" || rec.Location.Latitude != nil || rec.Traits.ASN != 0
			l.Country, l.CountryName, l.City = rec.Country.ISOCode, rec.Country.Names.En, rec.City.Names.En
			if rec.Location.Latitude != nil && rec.Location.Longitude != nil {
				l.Latitude, l.Longitude, l.HasCoords = *rec.Location.Latitude, *rec.Location.Longitude, true
			}
			l.AccuracyRadiusKm = int(rec.Location.AccuracyRadius)
			// Enterprise databases carry the AS in traits.
			l.ASN, l.ASOrg = rec.Traits.ASN, rec.Traits.ASOrg
		}
	}
	if db := r.dbs[RoleASN]; db != nil {
		var rec asnRecord
		res := db.Lookup(a)
		if err := res.Decode(&rec); err != nil {
			return Location{}, false, fmt.Errorf("looking up %v in %s: %w", a, r.files[RoleASN], err)
		}
		if res.Found() && (rec.ASN != 0 || rec.ASOrg != "") {
			found = true
			if rec.ASN != 0 {
				l.ASN = rec.ASN
			}
			if rec.ASOrg != "" {
				l.ASOrg = rec.ASOrg
			}
		}
	}
	if db := r.dbs[RoleAnonymous]; db != nil {
		var rec anonRecord
		res := db.Lookup(a)
		if err := res.Decode(&rec); err != nil {
			return Location{}, false, fmt.Errorf("looking up %v in %s: %w", a, r.files[RoleAnonymous], err)
		}
		if res.Found() {
			found = found || rec != (anonRecord{})
			l.Anonymous, l.VPN, l.Hosting, l.Tor = rec.Anonymous, rec.VPN, rec.Hosting, rec.Tor
			l.PublicProxy, l.ResidentialProxy = rec.PublicProxy, rec.ResidentialProxy
		}
	}
	r.cache.put(a, entry{loc: l, found: found})
	return l, found, nil
}

// cityRecord is the part of a City/Country/Enterprise record this package reads.
type cityRecord struct {
	City struct {
		Names names `maxminddb:"names"`
	} `maxminddb:"city"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
		Names   names  `maxminddb:"names"`
	} `maxminddb:"country"`
	Location struct {
		Latitude       *float64 `maxminddb:"latitude"`
		Longitude      *float64 `maxminddb:"longitude"`
		AccuracyRadius uint16   `maxminddb:"accuracy_radius"`
	} `maxminddb:"location"`
	Traits struct {
		ASN   uint32 `maxminddb:"autonomous_system_number"`
		ASOrg string `maxminddb:"autonomous_system_organization"`
	} `maxminddb:"traits"`
}

type names struct {
	En string `maxminddb:"en"`
}

// asnRecord is a GeoLite2-ASN or GeoIP2-ISP record.
type asnRecord struct {
	ASN   uint32 `maxminddb:"autonomous_system_number"`
	ASOrg string `maxminddb:"autonomous_system_organization"`
}

// anonRecord is an anonymous-IP record.
type anonRecord struct {
	Anonymous        bool `maxminddb:"is_anonymous"`
	VPN              bool `maxminddb:"is_anonymous_vpn"`
	Hosting          bool `maxminddb:"is_hosting_provider"`
	Tor              bool `maxminddb:"is_tor_exit_node"`
	PublicProxy      bool `maxminddb:"is_public_proxy"`
	ResidentialProxy bool `maxminddb:"is_residential_proxy"`
}

// entry is one cached answer.
type entry struct {
	loc   Location
	found bool
}

// cache is a bounded two-generation cache: entries go into cur; when cur is full
// it becomes prev and a new cur starts, so at most 2*size/2 = size entries are
// held and recently used entries survive (a hit in prev is copied to cur).
type cache struct {
	mu        sync.Mutex
	half      int
	cur, prev map[netip.Addr]entry
}

func newCache(size int) *cache {
	if size < 0 {
		return nil
	}
	if size == 0 {
		size = DefaultCacheSize
	}
	half := max(1, size/2)
	return &cache{half: half, cur: make(map[netip.Addr]entry, min(half, 1024))}
}

func (c *cache) get(a netip.Addr) (entry, bool) {
	if c == nil {
		return entry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.cur[a]; ok {
		return e, true
	}
	if e, ok := c.prev[a]; ok {
		c.putLocked(a, e)
		return e, true
	}
	return entry{}, false
}

func (c *cache) put(a netip.Addr, e entry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.putLocked(a, e)
	c.mu.Unlock()
}

func (c *cache) putLocked(a netip.Addr, e entry) {
	if len(c.cur) >= c.half {
		c.prev, c.cur = c.cur, make(map[netip.Addr]entry, min(c.half, 1024))
	}
	c.cur[a] = e
}
