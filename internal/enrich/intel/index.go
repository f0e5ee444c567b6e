package intel

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
)

// DefaultMaxIndicators is the indicator cap of an index when IndexOptions leaves it 0.
const DefaultMaxIndicators = 2_000_000

// IndexOptions configures Build.
type IndexOptions struct {
	// MaxIndicators caps the indicators an index holds (after duplicates and revoked
	// indicators are dropped); Build fails beyond it, so a runaway feed cannot
	// exhaust memory and a reload keeps the previous index. 0: DefaultMaxIndicators.
	MaxIndicators int
}

// FeedStats summarises one feed of an index.
type FeedStats struct {
	Name        string
	Indicators  int // kept in the index
	Rejected    int // records rejected while parsing, plus empty validity windows
	Unsupported int // of which unsupported patterns or types
	Duplicates  int // same kind and value repeated in the feed
	Revoked     int // dropped because revoked
	Rejects     []Reject
}

// IndexStats summarises an index.
type IndexStats struct {
	Indicators int
	ByKind     map[string]int
	Feeds      []FeedStats
}

// Index answers which indicators match an address, domain, URL or hash at an event
// time. It is immutable once built and safe for concurrent use.
//
// Layout: indicators in one slice, chained by key (next) so a map value is one int32;
// addresses and prefixes in one map per prefix length present, probed longest first;
// domains by exact name, probed for the name and each parent; URLs by normalised
// string; hashes by their decoded bytes (fixed-size array keys).
type Index struct {
	inds []Indicator
	next []int32

	prefixes       map[netip.Prefix]int32
	v4Bits, v6Bits []int // prefix lengths present, longest first
	domains        map[string]int32
	urls           map[string]int32
	md5            map[[16]byte]int32
	sha1           map[[20]byte]int32
	sha256         map[[32]byte]int32

	stats IndexStats
}

// Empty returns an index with no indicators.
func Empty() *Index {
	x, _ := Build(nil, IndexOptions{})
	return x
}

// Build indexes the indicators of feeds. Within one feed, an indicator repeating an
// earlier one's kind and value is dropped (the first is kept); across feeds both are
// kept, so each feed's attribution survives. Revoked indicators are dropped.
func Build(feeds []*Feed, opts IndexOptions) (*Index, error) {
	maxN := opts.MaxIndicators
	if maxN <= 0 {
		maxN = DefaultMaxIndicators
	}
	x := &Index{
		prefixes: map[netip.Prefix]int32{}, domains: map[string]int32{}, urls: map[string]int32{},
		md5: map[[16]byte]int32{}, sha1: map[[20]byte]int32{}, sha256: map[[32]byte]int32{},
		stats: IndexStats{ByKind: map[string]int{}},
	}
	bits4, bits6 := map[int]bool{}, map[int]bool{}
	for _, f := range feeds {
		fs := FeedStats{Name: f.Name, Rejected: f.Rejected, Unsupported: f.Unsupported, Rejects: slices.Clone(f.Rejects)}
		for i := range f.Indicators {
			in := f.Indicators[i]
			if in.Revoked {
				fs.Revoked++
				continue
			}
			if in.Feed == "" {
				in.Feed = f.Name
			}
			if !in.ValidFrom.IsZero() && !in.ValidUntil.IsZero() && !in.ValidUntil.After(in.ValidFrom) {
				fs.Rejected++
				if len(fs.Rejects) < MaxRejectsKept {
					place := fmt.Sprintf("%s:indicators[%d]", f.Name, i) // parsers reject these with their own place first
					if in.ID != "" {
						place = f.Name + ":" + in.ID
					}
					fs.Rejects = append(fs.Rejects, Reject{Place: place, Reason: fmt.Sprintf("%v %s: valid_until %s is not after valid_from %s",
						in.Kind, in.Value, in.ValidUntil.Format(time.RFC3339), in.ValidFrom.Format(time.RFC3339))})
				}
				continue
			}
			if len(x.inds) >= maxN {
				return nil, fmt.Errorf("building intel index: feed %s exceeds the cap of %d indicators", f.Name, maxN)
			}
			added, err := x.add(&in, bits4, bits6)
			if err != nil {
				return nil, fmt.Errorf("building intel index from feed %s: %w", f.Name, err)
			}
			if !added {
				fs.Duplicates++
				continue
			}
			fs.Indicators++
			x.stats.ByKind[in.Kind.String()]++
		}
		x.stats.Feeds = append(x.stats.Feeds, fs)
	}
	x.stats.Indicators = len(x.inds)
	for b := range bits4 {
		x.v4Bits = append(x.v4Bits, b)
	}
	for b := range bits6 {
		x.v6Bits = append(x.v6Bits, b)
	}
	slices.SortFunc(x.v4Bits, func(a, b int) int { return b - a })
	slices.SortFunc(x.v6Bits, func(a, b int) int { return b - a })
	return x, nil
}

// add inserts in under its key unless the same feed already has it.
func (x *Index) add(in *Indicator, bits4, bits6 map[int]bool) (bool, error) {
	id := int32(len(x.inds))
	switch in.Kind {
	case KindIP, KindCIDR:
		p, err := parsePrefix(in.Value)
		if err != nil {
			return false, err
		}
		if p.Addr().Is4() {
			bits4[p.Bits()] = true
		} else {
			bits6[p.Bits()] = true
		}
		return insert(x, x.prefixes, p, id, in), nil
	case KindDomain:
		return insert(x, x.domains, in.Value, id, in), nil
	case KindURL:
		return insert(x, x.urls, in.Value, id, in), nil
	case KindMD5:
		var k [16]byte
		if _, err := hex.Decode(k[:], []byte(in.Value)); err != nil || len(in.Value) != 32 {
			return false, fmt.Errorf("md5 %q is not 32 hex digits", in.Value)
		}
		return insert(x, x.md5, k, id, in), nil
	case KindSHA1:
		var k [20]byte
		if _, err := hex.Decode(k[:], []byte(in.Value)); err != nil || len(in.Value) != 40 {
			return false, fmt.Errorf("sha1 %q is not 40 hex digits", in.Value)
		}
		return insert(x, x.sha1, k, id, in), nil
	case KindSHA256:
		var k [32]byte
		if _, err := hex.Decode(k[:], []byte(in.Value)); err != nil || len(in.Value) != 64 {
			return false, fmt.Errorf("sha256 %q is not 64 hex digits", in.Value)
		}
		return insert(x, x.sha256, k, id, in), nil
	}
	return false, fmt.Errorf("indicator %q has no kind", in.Value)
}

func insert[K comparable](x *Index, m map[K]int32, k K, id int32, in *Indicator) bool {
	head, ok := m[k]
	if !ok {
		head = -1
	}
	for j := head; j >= 0; j = x.next[j] {
		if x.inds[j].Feed == in.Feed && x.inds[j].Kind == in.Kind {
			return false
		}
	}
	x.inds = append(x.inds, *in)
	x.next = append(x.next, head)
	m[k] = id
	return true
}

// Len returns the number of indicators indexed.
func (x *Index) Len() int { return len(x.inds) }

// Indicator returns the indicator with id (as returned by the Append methods).
// The result must not be modified.
func (x *Index) Indicator(id int32) *Indicator { return &x.inds[id] }

// Stats returns what the index holds and what its feeds rejected.
func (x *Index) Stats() IndexStats { return x.stats }

// appendValid appends the ids on the chain from head valid at t, in feed order.
func (x *Index) appendValid(dst []int32, head int32, t time.Time) []int32 {
	start := len(dst)
	for j := head; j >= 0; j = x.next[j] {
		if x.inds[j].ValidAt(t) {
			dst = append(dst, j)
		}
	}
	slices.Reverse(dst[start:])
	return dst
}

// AppendIP appends the ids of the indicators matching address a at event time t:
// those of the longest indexed prefix containing a that has an indicator valid at t
// (an exact address is the longest prefix). IPv4-mapped IPv6 addresses match as IPv4.
func (x *Index) AppendIP(dst []int32, a netip.Addr, t time.Time) []int32 {
	if !a.IsValid() || len(x.prefixes) == 0 {
		return dst
	}
	a = a.Unmap().WithZone("")
	bits := x.v6Bits
	if a.Is4() {
		bits = x.v4Bits
	}
	for _, b := range bits {
		p, err := a.Prefix(b)
		if err != nil {
			continue
		}
		if head, ok := x.prefixes[p]; ok {
			n := len(dst)
			if dst = x.appendValid(dst, head, t); len(dst) > n {
				return dst
			}
		}
	}
	return dst
}

// AppendDomain appends the ids of the indicators matching DNS name at event time t:
// those of the most specific indexed domain that equals name or is a parent of it
// ("evil.example" matches "a.b.evil.example") and has an indicator valid at t.
// Case and one trailing dot are ignored; it does not allocate.
func (x *Index) AppendDomain(dst []int32, name string, t time.Time) []int32 {
	if len(x.domains) == 0 {
		return dst
	}
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return dst
	}
	var buf [253]byte
	lower := name
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			n := copy(buf[:], name)
			for j := i; j < n; j++ {
				if c := buf[j]; c >= 'A' && c <= 'Z' {
					buf[j] = c + 'a' - 'A'
				}
			}
			return x.appendDomainLower(dst, buf[:n], t)
		}
	}
	return x.appendDomainLowerStr(dst, lower, t)
}

func (x *Index) appendDomainLower(dst []int32, b []byte, t time.Time) []int32 {
	for {
		if head, ok := x.domains[string(b)]; ok {
			n := len(dst)
			if dst = x.appendValid(dst, head, t); len(dst) > n {
				return dst
			}
		}
		i := 0
		for i < len(b) && b[i] != '.' {
			i++
		}
		if i >= len(b)-1 {
			return dst
		}
		b = b[i+1:]
	}
}

func (x *Index) appendDomainLowerStr(dst []int32, s string, t time.Time) []int32 {
	for {
		if head, ok := x.domains[s]; ok {
			n := len(dst)
			if dst = x.appendValid(dst, head, t); len(dst) > n {
				return dst
			}
		}
		i := strings.IndexByte(s, '.')
		if i < 0 || i >= len(s)-1 {
			return dst
		}
		s = s[i+1:]
	}
}

// AppendURL appends the ids of the URL indicators equal to u after normalisation
// (see NormalizeURL) valid at event time t. Relative URLs match nothing.
func (x *Index) AppendURL(dst []int32, u string, t time.Time) []int32 {
	if len(x.urls) == 0 || len(u) > maxValueLen {
		return dst
	}
	var buf [512]byte
	b, ok := appendNormURL(buf[:0], strings.TrimSpace(u))
	if !ok {
		return dst
	}
	if head, ok := x.urls[string(b)]; ok {
		dst = x.appendValid(dst, head, t)
	}
	return dst
}

// AppendHash appends the ids of the hash indicators equal to h (hex, any case; the
// kind follows from its length: 32 MD5, 40 SHA-1, 64 SHA-256) valid at event time t.
func (x *Index) AppendHash(dst []int32, h string, t time.Time) []int32 {
	var head int32
	var ok bool
	switch len(h) {
	case 32:
		var k [16]byte
		if !decodeHex(k[:], h) {
			return dst
		}
		head, ok = x.md5[k]
	case 40:
		var k [20]byte
		if !decodeHex(k[:], h) {
			return dst
		}
		head, ok = x.sha1[k]
	case 64:
		var k [32]byte
		if !decodeHex(k[:], h) {
			return dst
		}
		head, ok = x.sha256[k]
	}
	if ok {
		dst = x.appendValid(dst, head, t)
	}
	return dst
}

func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// URLHost returns the host of an absolute URL (without user information, port or
// IPv6 brackets), or "" when u is not absolute: a scheme (RFC 3986 §3.1) and "://"
// must begin it, so a relative URL carrying another in its query ("/r?to=http://x")
// has none. It does not allocate.
func URLHost(u string) string {
	i := strings.Index(u, "://")
	if i <= 0 || !isScheme(u[:i]) {
		return ""
	}
	rest := u[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	if j := strings.LastIndexByte(rest, '@'); j >= 0 {
		rest = rest[j+1:]
	}
	if strings.HasPrefix(rest, "[") {
		if j := strings.IndexByte(rest, ']'); j >= 0 {
			return rest[1:j]
		}
		return ""
	}
	if j := strings.LastIndexByte(rest, ':'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// AppendURLParts is AppendURL for a URL given in parts, as HTTP logs record it: the
// scheme ("" means http), the host (url.domain: a name or address, an IPv6 address
// with or without brackets, a port if the log left one there) and the path with
// query (url.original when it is relative). The host and port are normalised as
// AppendURL normalises them. It does not allocate.
func (x *Index) AppendURLParts(dst []int32, scheme, host, pathQuery string, t time.Time) []int32 {
	if len(x.urls) == 0 || host == "" || len(scheme)+len(host)+len(pathQuery) > maxValueLen {
		return dst
	}
	if scheme == "" {
		scheme = "http"
	}
	if !isScheme(scheme) {
		return dst
	}
	if j := strings.IndexByte(pathQuery, '#'); j >= 0 {
		pathQuery = strings.TrimRightFunc(pathQuery[:j], unicode.IsSpace) // as appendNormURL
	}
	if j := strings.LastIndexByte(host, '@'); j >= 0 {
		host = host[j+1:]
	}
	h, port, bracketed := host, "", true
	if host != "" && host[0] == '[' || strings.Count(host, ":") < 2 { // else an unbracketed IPv6 address
		var ok bool
		if h, port, bracketed, ok = splitAuthority(host); !ok {
			return dst
		}
	}
	var buf [512]byte
	b := appendLower(buf[:0], scheme)
	b = append(b, "://"...)
	b, ok := appendHostPort(b, b[:len(b)-3], h, port, bracketed)
	if !ok {
		return dst
	}
	if pathQuery == "" || pathQuery[0] == '?' {
		b = append(b, '/')
	} else if pathQuery[0] != '/' {
		return dst // not a path: no normalised URL has it after its host
	}
	b = append(b, pathQuery...)
	if head, ok := x.urls[string(b)]; ok {
		dst = x.appendValid(dst, head, t)
	}
	return dst
}

// Kinds reports whether the index holds any indicator of each kind, so a caller can
// skip the lookups of kinds it lacks.
func (x *Index) Kinds() (ips, domains, urls, hashes bool) {
	return len(x.prefixes) > 0, len(x.domains) > 0, len(x.urls) > 0, len(x.md5)+len(x.sha1)+len(x.sha256) > 0
}
