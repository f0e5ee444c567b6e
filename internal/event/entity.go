package event

import (
	"net/netip"
	"strings"
)

// UserRef is a parsed user name: the account and the domain or realm it belongs to,
// both lower-cased. Mapping between a NetBIOS domain (CORP) and a DNS one (corp.com)
// needs the identity directory and is done by enrichment, not here.
type UserRef struct {
	Name   string
	Domain string
}

// Key is the canonical identity key: "name@domain", or "name" without a domain.
func (u UserRef) Key() string {
	if u.Domain == "" {
		return u.Name
	}
	return u.Name + "@" + u.Domain
}

// AppendKey appends u.Key() to dst, for decoders that build keys in their own buffers.
func (u UserRef) AppendKey(dst []byte) []byte {
	dst = append(dst, u.Name...)
	if u.Domain != "" {
		dst = append(dst, '@')
		dst = append(dst, u.Domain...)
	}
	return dst
}

// ParseUser splits the forms a user name takes in logs: DOMAIN\user, user@domain,
// and bare user. Case is folded. Empty and placeholder values ("-", "N/A") give a zero UserRef.
func ParseUser(s string) UserRef {
	s = strings.TrimSpace(s)
	if isPlaceholder(s) {
		return UserRef{}
	}
	if i := strings.IndexByte(s, '\\'); i >= 0 {
		return UserRef{Name: lower(s[i+1:]), Domain: lower(s[:i])}
	}
	if i := strings.LastIndexByte(s, '@'); i > 0 && i < len(s)-1 {
		return UserRef{Name: lower(s[:i]), Domain: lower(s[i+1:])}
	}
	return UserRef{Name: lower(s)}
}

// CanonicalUser combines a user field and a separate domain field (as Windows logs
// give them) into one UserRef. A domain inside the name wins over the separate one.
func CanonicalUser(name, domain string) UserRef {
	u := ParseUser(name)
	if u.Name == "" {
		return UserRef{}
	}
	if u.Domain == "" && !isPlaceholder(domain) {
		u.Domain = lower(strings.TrimSpace(domain))
	}
	return u
}

// HostRef is a canonical host name: lower-cased, without a trailing dot.
type HostRef struct {
	FQDN  string // as given, canonicalized; equals Short when no domain was given
	Short string // first label; the IP itself when the name is an address
}

// CanonicalHost canonicalizes a host name. "WS-042.Corp.Example.com." and "ws-042"
// share the Short form "ws-042". An IP literal is kept whole in both.
func CanonicalHost(s string) HostRef {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if isPlaceholder(s) {
		return HostRef{}
	}
	s = lower(s)
	if !mayBeIP(s) {
		// Not an address: skips the error netip would build.
	} else if _, err := netip.ParseAddr(s); err == nil {
		return HostRef{FQDN: s, Short: s}
	}
	short := s
	if i := strings.IndexByte(s, '.'); i > 0 {
		short = s[:i]
	}
	return HostRef{FQDN: s, Short: short}
}

// ParseIP parses the address forms logs use: plain v4/v6, v4-mapped v6 (unmapped to
// v4), bracketed v6, v6 with a zone, "ip:port" is NOT accepted (ambiguous for v6).
// Placeholders and garbage give the zero Addr.
func ParseIP(s string) netip.Addr {
	s = strings.TrimSpace(s)
	if isPlaceholder(s) {
		return netip.Addr{}
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	if !mayBeIP(s) {
		return netip.Addr{} // without building the error netip.ParseAddr would
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// mayBeIP reports whether s could be an address netip.ParseAddr accepts: hex
// digits, dots and colons (with at least one dot or colon) before an optional
// "%zone". False means it certainly is not one.
func mayBeIP(s string) bool {
	sep := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' || c == ':':
			sep = true
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		case c == '%':
			return sep && i > 0
		default:
			return false
		}
	}
	return sep
}

func isPlaceholder(s string) bool {
	switch s {
	case "", "-", "N/A", "n/a", "(empty)", "null", "NULL", "(null)":
		return true
	}
	return false
}

// lower folds ASCII case without allocating when s is already lower-case.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

// SetUser sets user.name and user.domain from a canonicalized reference and records
// the identity in related.user.
func (e *Event) SetUser(u UserRef) {
	if u.Name == "" {
		return
	}
	e.SetUserKey(u, u.Key())
}

// SetUserKey is SetUser with u's identity key already built (key must equal
// u.Key()), so a decoder can build keys in its own buffers without allocating.
func (e *Event) SetUserKey(u UserRef, key string) {
	if u.Name == "" {
		return
	}
	e.str[UserName] = u.Name
	if u.Domain != "" {
		e.str[UserDomain] = u.Domain
	}
	e.AddRelatedUser(key)
}

// SetTargetUser sets user.target.* and records the identity in related.user.
func (e *Event) SetTargetUser(u UserRef) {
	if u.Name == "" {
		return
	}
	e.SetTargetUserKey(u, u.Key())
}

// SetTargetUserKey is SetTargetUser with u's identity key already built (key must
// equal u.Key()).
func (e *Event) SetTargetUserKey(u UserRef, key string) {
	if u.Name == "" {
		return
	}
	e.str[UserTargetName] = u.Name
	if u.Domain != "" {
		e.str[UserTargetDomain] = u.Domain
	}
	e.AddRelatedUser(key)
}

// SetHost sets host.name (canonical FQDN) and host.hostname (short form) and records
// the host in related.hosts.
func (e *Event) SetHost(name string) { e.SetHostRef(CanonicalHost(name)) }

// SetHostRef is SetHost with the name already canonicalized by CanonicalHost (for
// decoders that cache canonical names).
func (e *Event) SetHostRef(h HostRef) {
	if h.FQDN == "" {
		return
	}
	e.str[HostName] = h.FQDN
	e.str[HostHostname] = h.Short
	e.AddRelatedHost(h.FQDN)
}
