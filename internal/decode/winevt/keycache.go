package winevt

import "github.com/vigilsec/vigil/internal/decode"

// valueCache keeps recent short values of a stream (channel, provider, computer,
// image paths, user names, levels, ...), which repeat from record to record, so a
// repeated value costs a hash and a compare instead of a copy into the arena and
// its share of garbage collection. Direct-mapped: a colliding value replaces the
// previous one.
type valueCache struct {
	slots []string
}

const (
	valueCacheSize = 4096 // power of two
	maxCachedValue = 96   // longer values are rarely repeated
)

// get returns the cached string equal to b, or "" and false.
func (c *valueCache) lookup(b []byte) (slot *string, ok bool) {
	if c.slots == nil {
		c.slots = make([]string, valueCacheSize)
	}
	slot = &c.slots[decode.HashName(b)&(valueCacheSize-1)]
	return slot, *slot == string(b)
}
