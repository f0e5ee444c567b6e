package midas

import "net/netip"

// FNV-1a 64-bit parameters.
const (
	fnvOffset = 14695981039887293211
	fnvPrime  = 1099511628211
)

// HashString maps a node name (host name, user, account) to a node id for
// Score. The hash is fixed (FNV-1a 64 with a splitmix64 finalizer), so ids
// are the same in every process and on every machine; it is not keyed, so
// an adversary who can choose names can choose collisions (they can at most
// inflate counts, which the count-min sketch does anyway).
func HashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix(h)
}

// HashBytes is HashString for a byte slice: HashBytes(b) == HashString(string(b)).
func HashBytes(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix(h)
}

// HashAddr maps an IP address to a node id for Score. IPv4-mapped IPv6
// addresses hash as the IPv4 address; the zone is ignored; the invalid
// (zero) Addr has an id of its own.
func HashAddr(a netip.Addr) uint64 {
	a = a.Unmap()
	if !a.IsValid() {
		return mix(fnvOffset ^ 0xff)
	}
	b := a.As16()
	h := uint64(fnvOffset)
	if a.Is4() {
		h ^= 4
	} else {
		h ^= 6
	}
	h *= fnvPrime
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix(h)
}
