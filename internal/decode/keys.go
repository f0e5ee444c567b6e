package decode

import (
	"encoding/binary"
	"unsafe"

	"github.com/vigilsec/vigil/internal/event"
)

// maxCachedKeys bounds a KeyCache: hostile input with endless distinct field names
// falls back to interning each name without caching it.
const maxCachedKeys = 4096

// KeyCache interns field names as event.Keys with a per-stream cache in front of the
// process-wide interning table, so a repeated name costs a hash, a compare and no
// allocation. It is an open-addressing table hashed on the name's length and its
// first and last 8 bytes, which separates field names well and costs a few
// nanoseconds, several times less than a Go map keyed by string. It grows up to
// twice maxCachedKeys slots. It is not safe for concurrent use: one per decoding stream.
type KeyCache struct {
	slots []keySlot
	n     int
}

type keySlot struct {
	name string
	key  event.Key
	used bool
	aux  int32 // a number the owner keeps with the name (Flattener: its rule index + 1)
	pos  int32 // another (Flattener: the name's last position + 1)
}

// Table sizes: powers of two, grown when half full.
const (
	keyTableMin = 256
	keyTableMax = 2 * maxCachedKeys
)

// Key returns the interned key for name.
func (c *KeyCache) Key(name []byte) event.Key {
	k, _ := c.keySlot(name)
	return k
}

// keySlot returns the interned key for name and its slot, whose aux and pos the
// owner may read and set (nil when the table is full and name is not cached). The
// slot is valid until the next call.
func (c *KeyCache) keySlot(name []byte) (event.Key, *keySlot) {
	if c.slots == nil {
		c.slots = make([]keySlot, keyTableMin)
	}
	mask := uint64(len(c.slots) - 1)
	for i := HashName(name) & mask; ; i = (i + 1) & mask {
		s := &c.slots[i]
		if !s.used {
			k := event.MakeKey(string(name))
			if c.n >= maxCachedKeys {
				return k, nil
			}
			*s = keySlot{name: k.Value(), key: k, used: true}
			c.n++
			if 2*c.n > len(c.slots) && len(c.slots) < keyTableMax {
				c.grow()
				return c.keySlot(name) // found in the grown table
			}
			return k, s
		}
		if s.name == string(name) {
			return s.key, s
		}
	}
}

// KeyString is Key for a string name.
func (c *KeyCache) KeyString(name string) event.Key {
	return c.Key(unsafe.Slice(unsafe.StringData(name), len(name))) // #nosec G103 -- read only
}

// grow doubles the table.
func (c *KeyCache) grow() {
	old := c.slots
	c.slots = make([]keySlot, 2*len(old))
	mask := uint64(len(c.slots) - 1)
	for _, s := range old {
		if !s.used {
			continue
		}
		i := HashName(unsafe.Slice(unsafe.StringData(s.name), len(s.name))) & mask // #nosec G103 -- read only
		for c.slots[i].used {
			i = (i + 1) & mask
		}
		c.slots[i] = s
	}
}

// HashName is a fast hash of a short name or value for per-stream caches: it mixes
// the length and the first and last 8 bytes of b.
func HashName(b []byte) uint64 {
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
