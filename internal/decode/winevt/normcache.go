package winevt

import (
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// Normalizer is Normalize with per-stream caches: canonical users with their
// related.user keys, canonical host names, and lower-cased hashes built in an arena,
// so normalizing an event whose users and hosts were seen before allocates nothing.
// The zero value works without caches (as the Normalize function does). A
// Normalizer is not safe for concurrent use.
type Normalizer struct {
	users []userEntry // direct-mapped; nil: no caching
	hosts []hostEntry
	lows  []lowEntry
	raw   rawIndex
	arena decode.Arena
	buf   []byte
}

// NewNormalizer returns a Normalizer with its caches, for one stream of events.
func NewNormalizer() *Normalizer {
	return &Normalizer{users: make([]userEntry, userCacheSize), hosts: make([]hostEntry, hostCacheSize),
		lows: make([]lowEntry, lowCacheSize)}
}

const (
	userCacheSize = 256 // powers of two
	hostCacheSize = 64
	lowCacheSize  = 256
)

// lowEntry caches a lower-cased value (Sysmon's Hashes repeat with the image).
type lowEntry struct{ in, out string }

// userEntry caches CanonicalUser(name, domain) and its key.
type userEntry struct {
	name, domain string
	u            event.UserRef
	key          string
	set          bool
}

type hostEntry struct {
	in  string
	h   event.HostRef
	set bool
}

// user returns event.CanonicalUser(name, domain) and its identity key.
// event.ParseUser(s) is user(s, "") as far as a named user goes.
func (n *Normalizer) user(name, domain string) (event.UserRef, string) {
	if n.users == nil {
		u := event.CanonicalUser(name, domain)
		return u, u.Key()
	}
	if name == "" || name == "-" {
		return event.UserRef{}, "" // the common placeholders, without a slot
	}
	// Two-way: a value goes to the first of its two slots that is free or stale.
	i := hash2(name, domain) & (userCacheSize - 1)
	slot := &n.users[i]
	if slot.set && slot.name == name && slot.domain == domain {
		return slot.u, slot.key
	}
	if alt := &n.users[i^1]; alt.set && alt.name == name && alt.domain == domain {
		return alt.u, alt.key
	} else if slot.set {
		slot = alt
		if alt.set {
			n.users[i^1] = n.users[i] // keep the newer of the two in the first slot
			slot = &n.users[i]
		}
	}
	u := event.CanonicalUser(name, domain)
	key := u.Name
	if u.Domain != "" {
		n.buf = u.AppendKey(n.buf[:0])
		key = n.arena.String(n.buf)
	}
	*slot = userEntry{name: name, domain: domain, u: u, key: key, set: true}
	return u, key
}

// setUser is e.SetUser(CanonicalUser(name, domain)).
func (n *Normalizer) setUser(e winEvent, name, domain string) event.UserRef {
	u, k := n.user(name, domain)
	e.SetUserKey(u, k)
	return u
}

// setTargetUser is e.SetTargetUser(CanonicalUser(name, domain)).
func (n *Normalizer) setTargetUser(e winEvent, name, domain string) {
	u, k := n.user(name, domain)
	e.SetTargetUserKey(u, k)
}

// relatedUser adds CanonicalUser(name, domain) to related.user.
func (n *Normalizer) relatedUser(e winEvent, name, domain string) {
	if u, k := n.user(name, domain); u.Name != "" {
		e.AddRelatedUser(k)
	}
}

// setHost is e.SetHost(name).
func (n *Normalizer) setHost(e winEvent, name string) {
	if n.hosts == nil {
		e.SetHost(name)
		return
	}
	slot := &n.hosts[hash2(name, "")&(hostCacheSize-1)]
	if !slot.set || slot.in != name {
		*slot = hostEntry{in: name, h: event.CanonicalHost(name), set: true}
	}
	e.SetHostRef(slot.h)
}

// lower is lowerASCII, building the lower-cased copy in the arena when caching.
func (n *Normalizer) lower(s string) string {
	if n.users == nil {
		return lowerASCII(s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			slot := &n.lows[hash2(s, "")&(lowCacheSize-1)]
			if slot.in == s {
				return slot.out
			}
			n.buf = append(n.buf[:0], s...)
			for j := i; j < len(n.buf); j++ {
				if c := n.buf[j]; c >= 'A' && c <= 'Z' {
					n.buf[j] = c + 'a' - 'A'
				}
			}
			*slot = lowEntry{in: s, out: n.arena.String(n.buf)}
			return slot.out
		}
	}
	return s
}

// hash2 hashes a and b for the caches' slots: the lengths and, of each string, up to
// its first, middle and last 8 bytes, read a word at a time (a byte-at-a-time hash
// of the users and hosts of every event was a visible part of Normalize's cost).
// Values differing elsewhere only share a slot, which the caches tell apart.
func hash2(a, b string) uint32 {
	h := strHash(0, a)
	h = strHash(h^0xff, b)
	return uint32(h >> 32)
}

// strHash mixes the length and up to the first, middle and last 8 bytes of s into h.
func strHash(h uint64, s string) uint64 {
	const m = 0x9E3779B97F4A7C15
	n := len(s)
	h = (h ^ uint64(n)) * m
	switch {
	case n >= 8:
		h = (h ^ le64(s)) * m
		if n > 16 {
			h = (h ^ le64(s[n/2-4:])) * m
		}
		h = (h ^ le64(s[n-8:])) * m
	case n >= 4:
		h = (h ^ uint64(le32(s)) ^ uint64(le32(s[n-4:]))<<32) * m
	default:
		for i := 0; i < n; i++ {
			h = (h ^ uint64(s[i])) * m
		}
	}
	return h ^ h>>29
}

// le64 reads the first 8 bytes of s, little-endian.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// le32 reads the first 4 bytes of s, little-endian.
func le32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}
