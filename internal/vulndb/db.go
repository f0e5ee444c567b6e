// Package vulndb is Vigil's offline OSV vulnerability database: Import reads
// OSV records (a directory of JSON files or osv.dev's per-ecosystem all.zip)
// into a directory, incrementally and atomically, and a DB opened on it
// answers "which advisories affect this package version" with each
// ecosystem's own version ordering (osv-scalibr's semantic package), records
// that are aliases of each other merged into one Match.
//
// Storage: records live in append-only segment files; one index file per
// ecosystem maps (ecosystem, normalised package name) to the records naming
// it, so a query reads one small index once and then only the records it
// needs. See store.go for the layout.
package vulndb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/scan"
)

// Match is one advisory affecting a queried package version: the records
// that are aliases of each other, merged.
type Match struct {
	// ID is the primary id: the ecosystem's own (GO-..., PYSEC-,
	// RUSTSEC-, ...) when a merged record has one, else GHSA, else CVE.
	ID string `json:"id"`
	// Aliases are every other id of the merged records and their aliases,
	// sorted.
	Aliases []string `json:"aliases,omitempty"`
	Summary string   `json:"summary,omitempty"`
	// URL is the primary record's advisory page.
	URL        string   `json:"url"`
	References []string `json:"references,omitempty"`
	// Severity comes from the first record (primary first) that has one:
	// its CVSS vector's base score on the CVSS qualitative scale, else
	// GitHub's severity word; Unknown when none says.
	Severity scan.Severity `json:"severity"`
	CVSS     string        `json:"cvss,omitempty"`
	Score    float64       `json:"score,omitempty"`
	// Fixed are the versions that fix the queried version: on each range
	// that affects it, the lowest fix above it (lowest first). Empty when
	// no fix is known.
	Fixed []string `json:"fixed,omitempty"`
	// Symbols are the vulnerable symbols golang/vulndb names for the package
	// (affected[].ecosystem_specific.imports), package-qualified
	// ("golang.org/x/net/http2.Framer.ReadFrame"); a package path alone
	// means the whole package.
	Symbols []string `json:"symbols,omitempty"`
	// Withdrawn is set by Advisories for a withdrawn advisory; Query never
	// returns one.
	Withdrawn bool      `json:"withdrawn,omitempty"`
	Modified  time.Time `json:"modified"`
}

// Stats describe a database.
type Stats struct {
	Records    int              `json:"records"`
	Withdrawn  int              `json:"withdrawn"`
	Generation int              `json:"generation"`
	Updated    time.Time        `json:"updated"`
	Ecosystems []EcosystemStats `json:"ecosystems"`
}

// EcosystemStats count one ecosystem's records and package names.
type EcosystemStats struct {
	Name     string `json:"name"`
	Records  int    `json:"records"`
	Packages int    `json:"packages"`
}

// DB is an opened database. It is safe for concurrent use; Close releases
// its files.
type DB struct {
	dir string
	m   *manifest

	mu    sync.Mutex
	ecos  map[string]ecoIndex // base ecosystem -> loaded index
	files map[int]*os.File    // segment -> open file
	cache map[string][]*candidate
	json  fastjson.Parser // decodes records, under mu
}

// candidateCacheSize bounds the per-package records a DB keeps decoded.
const candidateCacheSize = 4096

// Open opens the database in dir; it reads only the manifest (indexes and
// records are read when a query needs them).
func Open(dir string) (*DB, error) {
	m, err := readManifest(dir)
	if err != nil {
		return nil, err
	}
	return &DB{dir: dir, m: m, ecos: map[string]ecoIndex{}, files: map[int]*os.File{}, cache: map[string][]*candidate{}}, nil
}

// Close closes the files the DB holds open. It is idempotent.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	for k, f := range db.files {
		_ = f.Close()
		delete(db.files, k)
	}
	return nil
}

// Stats describes the database as it was opened.
func (db *DB) Stats() Stats {
	s := Stats{Records: db.m.Records, Withdrawn: db.m.Withdrawn, Generation: db.m.Generation, Updated: db.m.Updated}
	for name, e := range db.m.Ecosystems {
		s.Ecosystems = append(s.Ecosystems, EcosystemStats{Name: name, Records: e.Records, Packages: e.Packages})
	}
	slices.SortFunc(s.Ecosystems, func(a, b EcosystemStats) int { return strings.Compare(a.Name, b.Name) })
	return s
}

// Query returns the advisories affecting version of the package name in
// ecosystem (OSV names: "Go", "npm", "PyPI", "Maven", "crates.io",
// "RubyGems", "Packagist", "NuGet", "Pub", "Hex", "Debian:12", ...), sorted
// by id. Withdrawn records never match; GIT ranges are not evaluated. An
// empty version matches nothing. A version the ecosystem cannot parse is an
// error (the records' explicit version lists are still not consulted then).
func (db *DB) Query(ecosystem, name, version string) ([]Match, error) {
	version = strings.TrimSpace(version)
	if version == "" {
		return nil, nil
	}
	eco := CanonicalEcosystem(ecosystem)
	cands, err := db.candidates(eco, name)
	if err != nil || len(cands) == 0 {
		return nil, err
	}
	q, err := newQueryVersion(eco, version)
	if err != nil {
		return nil, err
	}
	var hits []hit
	for _, c := range cands {
		if c.rec.Withdrawn {
			continue
		}
		h := hit{c: c}
		for _, a := range c.affs {
			ok, fixes := a.affects(q)
			if !ok {
				continue
			}
			h.affected = true
			h.fixes = append(h.fixes, fixes...)
			if syms := a.symbols(); len(syms) > 0 {
				h.symbols = append(h.symbols, syms)
			}
			if h.sev.Level == scan.SeverityUnknown {
				h.sev = a.a.Sev
			}
		}
		if h.affected {
			hits = append(hits, h)
		}
	}
	return merge(hits, eco), nil
}

// Advisories returns every advisory naming the package, whatever its
// versions, withdrawn ones included (marked), merged and sorted as Query's.
func (db *DB) Advisories(ecosystem, name string) ([]Match, error) {
	eco := CanonicalEcosystem(ecosystem)
	cands, err := db.candidates(eco, name)
	if err != nil {
		return nil, err
	}
	hits := make([]hit, 0, len(cands))
	for _, c := range cands {
		h := hit{c: c, affected: true}
		for _, a := range c.affs {
			if syms := a.symbols(); len(syms) > 0 {
				h.symbols = append(h.symbols, syms)
			}
			if h.sev.Level == scan.SeverityUnknown {
				h.sev = a.a.Sev
			}
		}
		hits = append(hits, h)
	}
	return merge(hits, eco), nil
}

// candidate is a stored record naming a package, with its affected entries
// for that package prepared for matching.
type candidate struct {
	rec  *record
	affs []*preparedAffect
}

// candidates returns the records naming (eco, name), from the cache or the
// segments.
func (db *DB) candidates(eco, name string) ([]*candidate, error) {
	key := indexKey(eco, NormalizeName(eco, name))
	db.mu.Lock()
	defer db.mu.Unlock()
	if c, ok := db.cache[key]; ok {
		return c, nil
	}
	idx, err := db.loadEco(baseEcosystem(eco))
	if err != nil {
		return nil, err
	}
	refs := idx[key]
	out := make([]*candidate, 0, len(refs))
	var buf []byte
	for _, r := range refs {
		f, err := db.segment(r.Seg)
		if err != nil {
			return nil, err
		}
		buf = slices.Grow(buf[:0], r.Len)[:r.Len]
		if _, err := f.ReadAt(buf, r.Off); err != nil {
			return nil, fmt.Errorf("reading %s: %w", r.ID, err)
		}
		rec, err := decodeRecord(&db.json, buf)
		if err != nil || rec.ID != r.ID {
			return nil, fmt.Errorf("reading %s: stored record damaged", r.ID)
		}
		c := &candidate{rec: rec}
		_, nkey, _ := strings.Cut(key, "\x00")
		for i := range rec.Affected {
			a := &rec.Affected[i]
			if a.Ecosystem == eco && a.Key == nkey {
				c.affs = append(c.affs, prepareAffect(a))
			}
		}
		out = append(out, c)
	}
	if len(db.cache) >= candidateCacheSize {
		clear(db.cache)
	}
	db.cache[key] = out
	return out, nil
}

// loadEco returns a base ecosystem's index, reading it on first use.
func (db *DB) loadEco(base string) (ecoIndex, error) {
	if idx, ok := db.ecos[base]; ok {
		return idx, nil
	}
	info := db.m.Ecosystems[base]
	if info == nil {
		db.ecos[base] = ecoIndex{}
		return db.ecos[base], nil
	}
	data, err := os.ReadFile(filepath.Join(db.dir, info.File))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrChanged
	}
	if err != nil {
		return nil, fmt.Errorf("reading the %s index: %w", base, err)
	}
	idx, err := parseEcoIndex(data, info)
	if err != nil {
		return nil, fmt.Errorf("reading the %s index: %w", base, err)
	}
	db.ecos[base] = idx
	return idx, nil
}

func (db *DB) segment(seg int) (*os.File, error) {
	if f := db.files[seg]; f != nil {
		return f, nil
	}
	name := segName(seg)
	if _, ok := db.m.Segments[name]; !ok {
		return nil, fmt.Errorf("reading the database: segment %d is not in the manifest", seg)
	}
	f, err := os.Open(filepath.Join(db.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrChanged
	}
	if err != nil {
		return nil, fmt.Errorf("opening a segment: %w", err)
	}
	db.files[seg] = f
	return f, nil
}

// hit is a record affecting the queried version.
type hit struct {
	c        *candidate
	affected bool
	fixes    []preparedEvent
	symbols  [][]string // each sorted, of one affected entry
	sev      severity   // of the affected entries, if they say
}

// ownPrefixes are the id prefixes of each ecosystem's own database, the
// preferred primary id.
var ownPrefixes = map[string][]string{
	"Go":        {"GO-"},
	"PyPI":      {"PYSEC-"},
	"crates.io": {"RUSTSEC-"},
	"Hex":       {"EEF-"},
	"Hackage":   {"HSEC-"},
	"CRAN":      {"RSEC-"},
	"Julia":     {"JLSEC-"},
	"Bitnami":   {"BIT-"},
	"Debian":    {"DSA-", "DLA-", "DTSA-", "DEBIAN-"},
	"Ubuntu":    {"USN-", "UBUNTU-"},
	"Alpine":    {"ALPINE-"},
}

// idRank orders candidate primary ids: the ecosystem's own, then GHSA, then
// CVE, then anything else.
func idRank(id, base string) int {
	for _, p := range ownPrefixes[base] {
		if strings.HasPrefix(id, p) {
			return 0
		}
	}
	switch {
	case strings.HasPrefix(id, "GHSA-"):
		return 1
	case strings.HasPrefix(id, "CVE-"):
		return 2
	}
	return 3
}

// merge groups hits whose records share an id (one's id or alias is
// another's) and makes one Match of each group.
func merge(hits []hit, eco string) []Match {
	if len(hits) == 0 {
		return nil
	}
	base := baseEcosystem(eco)
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		p, ok := parent[x]
		if !ok {
			parent[x] = x
			return x
		}
		if p == x {
			return x
		}
		r := find(p)
		parent[x] = r
		return r
	}
	union := func(a, b string) {
		ra, rb := find(a), find(b)
		if ra != rb {
			parent[ra] = rb
		}
	}
	for _, h := range hits {
		for _, a := range h.c.rec.Aliases {
			union(h.c.rec.ID, a)
		}
		find(h.c.rec.ID)
	}
	groups := map[string][]hit{}
	for _, h := range hits {
		r := find(h.c.rec.ID)
		groups[r] = append(groups[r], h)
	}
	out := make([]Match, 0, len(groups))
	for _, g := range groups {
		slices.SortFunc(g, func(a, b hit) int {
			ra, rb := idRank(a.c.rec.ID, base), idRank(b.c.rec.ID, base)
			if ra != rb {
				return ra - rb
			}
			return strings.Compare(a.c.rec.ID, b.c.rec.ID)
		})
		p := g[0].c.rec
		m := Match{ID: p.ID, Summary: p.Summary, URL: p.URL, Withdrawn: true}
		ids := map[string]bool{}
		refs := []string{}
		var sev severity
		var fixes []preparedEvent
		var syms [][]string
		for _, h := range g {
			r := h.c.rec
			ids[r.ID] = true
			for _, a := range r.Aliases {
				ids[a] = true
			}
			if m.Summary == "" {
				m.Summary = r.Summary
			}
			for _, u := range append([]string{r.URL}, r.Refs...) {
				if u != "" && u != m.URL && !slices.Contains(refs, u) && len(refs) < maxReferences {
					refs = append(refs, u)
				}
			}
			s := h.sev
			if s.Level == scan.SeverityUnknown {
				s = r.Sev
			}
			if sev.Level == scan.SeverityUnknown {
				sev = s
			}
			fixes = append(fixes, h.fixes...)
			syms = append(syms, h.symbols...)
			m.Withdrawn = m.Withdrawn && r.Withdrawn
			if r.Modified.After(m.Modified) {
				m.Modified = r.Modified
			}
		}
		delete(ids, m.ID)
		m.Aliases = slices.Sorted(func(yield func(string) bool) {
			for id := range ids {
				if !yield(id) {
					return
				}
			}
		})
		m.References = refs
		m.Severity, m.CVSS, m.Score = sev.Level, sev.CVSS, sev.Score
		m.Symbols = mergeSorted(syms)
		m.Fixed = sortVersions(fixes)
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Match) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// sortVersions sorts and dedups fixed versions in their ecosystem's order.
func sortVersions(fixes []preparedEvent) []string {
	if len(fixes) == 0 {
		return nil
	}
	slices.SortStableFunc(fixes, func(a, b preparedEvent) int {
		if a.v != nil && b.v != nil {
			if c, err := a.v.Compare(b.v); err == nil && c != 0 {
				return c
			}
		}
		return strings.Compare(a.raw, b.raw)
	})
	out := make([]string, 0, len(fixes))
	for _, f := range fixes {
		if !slices.Contains(out, f.raw) {
			out = append(out, f.raw)
		}
	}
	return out
}

// mergeSorted returns the union of sorted string lists, as a new slice.
func mergeSorted(lists [][]string) []string {
	switch len(lists) {
	case 0:
		return nil
	case 1:
		return slices.Clone(lists[0])
	}
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
