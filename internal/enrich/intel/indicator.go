package intel

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Kind is what an indicator names.
type Kind uint8

// Indicator kinds.
const (
	KindInvalid Kind = iota
	KindIP           // one address (stored as a full-length prefix)
	KindCIDR         // an address prefix
	KindDomain       // a DNS name; matches itself and every name below it
	KindURL          // a normalised absolute URL
	KindMD5
	KindSHA1
	KindSHA256
	numKinds
)

var kindNames = [numKinds]string{"invalid", "ip", "cidr", "domain", "url", "md5", "sha1", "sha256"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// ParseKind parses a kind name as written in CSV feeds. Besides Vigil's own names
// it accepts the common synonyms (ipv4, ip-dst, hostname, fqdn, sha-256, ...).
func ParseKind(s string) (Kind, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "ip", "ipv4", "ipv6", "ipv4-addr", "ipv6-addr", "ip-src", "ip-dst", "ip_address", "address", "ip:port", "dst_ip":
		return KindIP, true
	case "cidr", "network", "prefix", "subnet", "net":
		return KindCIDR, true
	case "domain", "domain-name", "hostname", "host", "fqdn", "dns":
		return KindDomain, true
	case "url", "uri", "link":
		return KindURL, true
	case "md5", "md5_hash":
		return KindMD5, true
	case "sha1", "sha-1", "sha1_hash":
		return KindSHA1, true
	case "sha256", "sha-256", "sha256_hash":
		return KindSHA256, true
	}
	return KindInvalid, false
}

// Indicator is one normalised indicator of compromise from a feed.
type Indicator struct {
	Kind Kind
	// Value is the normalised value: the address or prefix in netip form, the
	// lower-case domain without a trailing dot, the normalised URL (see NormalizeURL),
	// or the lower-case hex hash.
	Value string
	// Feed names the feed the indicator came from (Source.Name).
	Feed string
	// ID is the feed's own id for the record (STIX id, MISP attribute uuid, CSV id
	// column); empty when the feed has none.
	ID string
	// Confidence is the feed's confidence in 0..1; -1 when the feed gave none.
	Confidence float64
	// Labels are the feed's labels, tags or threat types, lower-case.
	Labels []string
	// Description is the feed's free-text comment, if any.
	Description string
	// Source is who reported the indicator as the feed names it (CSV source or
	// reporter column, MISP creator organisation, STIX created_by_ref).
	Source string
	// ValidFrom and ValidUntil bound when the indicator applies, in event time;
	// the zero time means unbounded on that side. ValidUntil is exclusive. Only
	// explicit validity (STIX valid_from/valid_until, CSV valid_from/valid_until
	// columns) sets them.
	ValidFrom, ValidUntil time.Time
	// FirstSeen is when the feed first saw the indicator (CSV first_seen, MISP
	// first_seen); informational, not a bound: activity before a report is common
	// and a retrospective hunt must still find it.
	FirstSeen time.Time
	// Revoked indicators are dropped when an index is built.
	Revoked bool
}

// ValidAt reports whether the indicator applies to an event at t.
func (in *Indicator) ValidAt(t time.Time) bool {
	if in.Revoked {
		return false
	}
	if !in.ValidFrom.IsZero() && t.Before(in.ValidFrom) {
		return false
	}
	return in.ValidUntil.IsZero() || t.Before(in.ValidUntil)
}

// Reject is one feed record that was not turned into an indicator.
type Reject struct {
	Place  string // "file:line" or "file:object-id"
	Reason string
}

func (r Reject) String() string { return r.Place + ": " + r.Reason }

// MaxRejectsKept bounds the rejects a Feed lists; all are counted in Feed.Rejected.
const MaxRejectsKept = 100

// Feed is the result of parsing one feed file.
type Feed struct {
	Name       string
	Indicators []Indicator
	// Rejected counts every record that was not turned into an indicator (bad value,
	// unsupported pattern, unknown type, not for detection); Rejects lists the first
	// MaxRejectsKept of them with place and reason.
	Rejected int
	Rejects  []Reject
	// Unsupported counts STIX patterns and MISP attribute types outside what Vigil
	// matches (also counted in Rejected).
	Unsupported int
}

func (f *Feed) reject(place, reason string) {
	f.Rejected++
	if len(f.Rejects) < MaxRejectsKept {
		f.Rejects = append(f.Rejects, Reject{Place: place, Reason: reason})
	}
}

// maxValueLen bounds one indicator value; longer values are rejected.
const maxValueLen = 4096

// Normalize validates v as an indicator of kind k and returns its normalised value.
// KindIP accepts a prefix only when it is full-length; KindCIDR accepts a bare
// address as a full-length prefix.
func Normalize(k Kind, v string) (Kind, string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return KindInvalid, "", fmt.Errorf("empty value")
	}
	if len(v) > maxValueLen {
		return KindInvalid, "", fmt.Errorf("value of %d bytes exceeds %d", len(v), maxValueLen)
	}
	switch k {
	case KindIP, KindCIDR:
		if ap, err := netip.ParseAddrPort(v); err == nil { // "ip:port", as ThreatFox writes it
			v = ap.Addr().String()
		}
		p, err := parsePrefix(v)
		if err != nil {
			return KindInvalid, "", err
		}
		if p.IsSingleIP() {
			return KindIP, p.Addr().String(), nil
		}
		if k == KindIP {
			return KindInvalid, "", fmt.Errorf("%q is a prefix, not an address", v)
		}
		return KindCIDR, p.String(), nil
	case KindDomain:
		d, err := NormalizeDomain(v)
		return KindDomain, d, err
	case KindURL:
		u, err := NormalizeURL(v)
		return KindURL, u, err
	case KindMD5, KindSHA1, KindSHA256:
		h, err := normalizeHash(k, v)
		return k, h, err
	}
	return KindInvalid, "", fmt.Errorf("unknown kind %v", k)
}

// parsePrefix parses an address or prefix, unmapping IPv4-in-IPv6 and masking host bits.
func parsePrefix(v string) (netip.Prefix, error) {
	if strings.IndexByte(v, '/') < 0 {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parsing address %q: %w", v, err)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("address %q has a zone", v)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parsing prefix %q: %w", v, err)
	}
	a := p.Addr()
	bits := p.Bits()
	if a.Is4In6() {
		if bits < 96 {
			return netip.Prefix{}, fmt.Errorf("prefix %q mixes IPv4-mapped and IPv6", v)
		}
		a, bits = a.Unmap(), bits-96
	}
	if bits == 0 {
		return netip.Prefix{}, fmt.Errorf("prefix %q would match every address", v)
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

// NormalizeDomain lower-cases d, removes one trailing dot and checks it is a DNS
// name of at least two labels (a single label would match a whole top-level domain).
// Non-ASCII names must be given in punycode (xn--).
func NormalizeDomain(d string) (string, error) {
	d = strings.TrimSuffix(strings.TrimSpace(d), ".")
	if d == "" {
		return "", fmt.Errorf("empty domain")
	}
	if len(d) > 253 {
		return "", fmt.Errorf("domain of %d bytes exceeds 253", len(d))
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return "", fmt.Errorf("%q is an address, not a domain", d)
	}
	d = strings.TrimPrefix(strings.ToLower(d), "*.")
	labels := 0
	for label := range strings.SplitSeq(d, ".") {
		labels++
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("domain %q has an empty or over-long label", d)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("domain %q has the invalid character %q", d, c)
			}
		}
	}
	if labels < 2 {
		return "", fmt.Errorf("domain %q has a single label", d)
	}
	if tld := d[strings.LastIndexByte(d, '.')+1:]; strings.Trim(tld, "0123456789") == "" {
		return "", fmt.Errorf("domain %q has a numeric top-level label", d)
	}
	return d, nil
}

// NormalizeURL returns the canonical form of an absolute URL: scheme and host
// lower-cased, user information, the fragment and the scheme's default port
// removed, trailing dot of the host removed, an IPv6 literal in its canonical form
// (RFC 5952), the port in decimal without leading zeros, an empty path written "/".
// Path and query are kept byte for byte (no percent-decoding). It rejects URLs
// without a scheme or host, hosts that are neither an address nor a DNS name as
// NormalizeDomain writes it (space, "*."), and ports beyond 65535.
func NormalizeURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxValueLen {
		return "", fmt.Errorf("URL of %d bytes exceeds %d", len(s), maxValueLen)
	}
	b, ok := appendNormURL(nil, s)
	if !ok {
		return "", fmt.Errorf("%q is not an absolute URL with a host", s)
	}
	if len(b) > maxValueLen { // "/" added before a query: the result is bounded too, so it normalises again
		return "", fmt.Errorf("normalised URL of %d bytes exceeds %d", len(b), maxValueLen)
	}
	host := urlHost(string(b))
	if h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"); h != host {
		if _, err := netip.ParseAddr(h); err != nil {
			return "", fmt.Errorf("URL %q has an invalid IPv6 host", s)
		}
	} else if _, err := netip.ParseAddr(host); err != nil {
		d, err := NormalizeDomain(host)
		if err != nil {
			return "", fmt.Errorf("URL %q: %w", s, err)
		}
		if d != host { // space or "*." that NormalizeDomain would drop: not a host
			return "", fmt.Errorf("URL %q: host %q is not a DNS name", s, host)
		}
	}
	return string(b), nil
}

// urlHost returns the host of a normalised URL (without port).
func urlHost(u string) string {
	i := strings.Index(u, "://")
	rest := u[i+3:]
	if j := strings.IndexAny(rest, "/?"); j >= 0 {
		rest = rest[:j]
	}
	if strings.HasPrefix(rest, "[") {
		if j := strings.IndexByte(rest, ']'); j >= 0 {
			return rest[:j+1]
		}
		return rest
	}
	if j := strings.LastIndexByte(rest, ':'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// appendNormURL appends the normalised form of s to dst without allocating beyond
// dst's growth; ok is false when s has no scheme or no host. It is the one
// normaliser for both feed values and event values, so the two always agree.
func appendNormURL(dst []byte, s string) ([]byte, bool) {
	i := strings.Index(s, "://")
	if i <= 0 || !isScheme(s[:i]) {
		return dst, false
	}
	rest := s[i+3:]
	if j := strings.IndexByte(rest, '#'); j >= 0 {
		// Without its fragment the URL ends where the fragment began: trim the
		// space before it as the whole URL's trailing space is trimmed.
		rest = strings.TrimRightFunc(rest[:j], unicode.IsSpace)
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	auth, tail := rest[:end], rest[end:]
	if j := strings.LastIndexByte(auth, '@'); j >= 0 {
		auth = auth[j+1:]
	}
	host, port, bracketed, ok := splitAuthority(auth)
	if !ok {
		return dst, false
	}
	start := len(dst)
	dst = appendLower(dst, s[:i])
	dst = append(dst, "://"...)
	if dst, ok = appendHostPort(dst, dst[start:len(dst)-3], host, port, bracketed); !ok {
		return dst[:start], false
	}
	if tail == "" || tail[0] == '?' {
		dst = append(dst, '/')
	}
	dst = append(dst, tail...)
	return dst, true
}

// isScheme reports whether s is a URL scheme (RFC 3986 §3.1).
func isScheme(s string) bool {
	for j := 0; j < len(s); j++ {
		c := s[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// splitAuthority splits an authority without user information into host and port;
// an IPv6 literal's host is returned without its brackets (bracketed true). ok is
// false when a bracket is not closed or something other than ":port" follows it.
func splitAuthority(auth string) (host, port string, bracketed, ok bool) {
	if strings.HasPrefix(auth, "[") {
		j := strings.IndexByte(auth, ']')
		if j < 0 {
			return "", "", false, false
		}
		host, rest := auth[1:j], auth[j+1:]
		if rest != "" && rest[0] != ':' {
			return "", "", false, false // "[::1]80": not a port
		}
		return host, strings.TrimPrefix(rest, ":"), true, true
	}
	if j := strings.LastIndexByte(auth, ':'); j >= 0 {
		return auth[:j], auth[j+1:], false, true
	}
	return auth, "", false, true
}

// appendHostPort appends the normalised host and port of a URL with scheme sch
// (lower-case): a name or IPv4 address lower-cased without one trailing dot, an
// IPv6 literal in its canonical form (RFC 5952, as netip writes it) in brackets,
// the port in decimal without leading zeros and left out when it is the scheme's
// default. ok is false when the host is empty, has an empty label or an unbracketed
// colon, the IPv6 literal is not an address or has a zone, or the port is not
// 0..65535.
func appendHostPort(dst, sch []byte, host, port string, bracketed bool) ([]byte, bool) {
	if bracketed {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" { // a zone names an interface of the logging host
			return dst, false
		}
		dst = append(dst, '[')
		dst = a.AppendTo(dst)
		dst = append(dst, ']')
	} else {
		host = strings.TrimSuffix(host, ".")
		if host == "" || strings.IndexByte(host, ':') >= 0 {
			return dst, false
		}
		if host[0] == '.' || host[len(host)-1] == '.' || strings.Contains(host, "..") {
			return dst, false // an empty label: not a host name
		}
		dst = appendLower(dst, host)
	}
	n := 0
	for j := 0; j < len(port); j++ {
		if port[j] < '0' || port[j] > '9' {
			return dst, false
		}
		if n = n*10 + int(port[j]-'0'); n > 65535 {
			return dst, false
		}
	}
	if port != "" && !isDefaultPort(sch, n) {
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(n), 10)
	}
	return dst, true
}
func isDefaultPort(scheme []byte, port int) bool {
	switch string(scheme) {
	case "http", "ws":
		return port == 80
	case "https", "wss":
		return port == 443
	case "ftp":
		return port == 21
	}
	return false
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

var hashLen = [numKinds]int{KindMD5: 32, KindSHA1: 40, KindSHA256: 64}

func normalizeHash(k Kind, v string) (string, error) {
	if len(v) != hashLen[k] {
		return "", fmt.Errorf("%v hash %q has %d hex digits, want %d", k, v, len(v), hashLen[k])
	}
	if _, err := hex.DecodeString(v); err != nil {
		return "", fmt.Errorf("%v hash %q is not hex", k, v)
	}
	return strings.ToLower(v), nil
}

// Infer guesses the kind of a bare indicator as plain lists write them: an address,
// a prefix, a URL (has "://"), a 32/40/64-digit hex hash, or else a domain. It also
// refangs the common defanged spellings (hxxp, [.], (.), [:]).
func Infer(v string) (Kind, string, error) {
	v = Refang(strings.TrimSpace(v))
	switch {
	case v == "":
		return KindInvalid, "", fmt.Errorf("empty value")
	case strings.Contains(v, "://"):
		return Normalize(KindURL, v)
	case strings.IndexByte(v, '/') >= 0:
		return Normalize(KindCIDR, v)
	}
	if _, err := netip.ParseAddr(v); err == nil {
		return Normalize(KindIP, v)
	}
	if _, err := netip.ParseAddrPort(v); err == nil {
		return Normalize(KindIP, v)
	}
	if isHex(v) {
		switch len(v) {
		case 32:
			return Normalize(KindMD5, v)
		case 40:
			return Normalize(KindSHA1, v)
		case 64:
			return Normalize(KindSHA256, v)
		}
	}
	return Normalize(KindDomain, v)
}

var refanger = strings.NewReplacer("[.]", ".", "(.)", ".", "[dot]", ".", "[:]", ":", "[://]", "://")

// Refang undoes the usual defanging of indicators in reports and feeds: "[.]",
// "(.)", "[dot]", "[:]", "[://]" and a leading hxxp or hxxps in any case. It
// replaces until nothing is left to replace ("[[.]]" is "."), so refanging a refanged
// value changes nothing and a feed re-read from its own normalised values is
// unchanged.
func Refang(v string) string {
	if !strings.ContainsAny(v, "[(xX") {
		return v
	}
	for { // every replacement shortens v, so this ends
		w := refanger.Replace(v)
		if w == v {
			break
		}
		v = w
	}
	for _, p := range [...]string{"hxxps://", "hxxp://"} {
		if len(v) >= len(p) && strings.EqualFold(v[:len(p)], p) {
			v = "http" + v[4:]
			break
		}
	}
	return v
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}
