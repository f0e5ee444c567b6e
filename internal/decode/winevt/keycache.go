package winevt

import (
	"encoding/binary"

	"github.com/vigilsec/vigil/internal/event"
)

// keyCache interns field names for one stream. It is an open-addressing table
// hashed on the name's length and its first and last 8 bytes, which separates
// Windows field names well and costs a few nanoseconds, several times less than a
// Go map keyed by string. Past maxCachedKeys distinct names (hostile input) names
// are interned without being cached. Not safe for concurrent use.
type keyCache struct {
	slots []keySlot
	n     int
}

type keySlot struct {
	name string
	key  event.Key
	used bool
}

const (
	keyTableSize  = 8192 // power of two, twice maxCachedKeys
	maxCachedKeys = 4096
)

func (c *keyCache) key(name []byte) event.Key {
	if c.slots == nil {
		c.slots = make([]keySlot, keyTableSize)
	}
	mask := uint64(len(c.slots) - 1)
	for i, probes := hashName(name)&mask, 0; probes < len(c.slots); i, probes = (i+1)&mask, probes+1 {
		s := &c.slots[i]
		if !s.used {
			k := event.MakeKey(string(name))
			if c.n < maxCachedKeys {
				*s = keySlot{name: k.Value(), key: k, used: true}
				c.n++
			}
			return k
		}
		if s.name == string(name) {
			return s.key
		}
	}
	return event.MakeKey(string(name))
}

// hashName mixes the length and the first and last 8 bytes of name.
func hashName(b []byte) uint64 {
	const m = 0x9E3779B97F4A7C15
	n := len(b)
	h := uint64(n) * m
	if n >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(b)) * m
		h = (h ^ binary.LittleEndian.Uint64(b[n-8:])) * m
	} else {
		for _, c := range b {
			h = (h ^ uint64(c)) * m
		}
	}
	return h ^ h>>31
}

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
	slot = &c.slots[hashName(b)&(valueCacheSize-1)]
	return slot, *slot == string(b)
}
