package decode

import "github.com/vigilsec/vigil/internal/event"

// maxCachedKeys bounds a KeyCache: hostile input with endless distinct field names
// falls back to interning each name without caching it.
const maxCachedKeys = 4096

// KeyCache interns field names as event.Keys with a per-stream cache in front of the
// process-wide interning table, so a repeated name costs one map lookup and no
// allocation. It is not safe for concurrent use: one per decoding stream.
type KeyCache struct {
	m map[string]event.Key
}

// Key returns the interned key for name.
func (c *KeyCache) Key(name []byte) event.Key {
	if k, ok := c.m[string(name)]; ok { // no allocation: the compiler elides the conversion
		return k
	}
	s := string(name)
	k := event.MakeKey(s)
	if c.m == nil {
		c.m = make(map[string]event.Key, 64)
	}
	if len(c.m) < maxCachedKeys {
		c.m[s] = k
	}
	return k
}

// KeyString is Key for a string name.
func (c *KeyCache) KeyString(name string) event.Key {
	if k, ok := c.m[name]; ok {
		return k
	}
	k := event.MakeKey(name)
	if c.m == nil {
		c.m = make(map[string]event.Key, 64)
	}
	if len(c.m) < maxCachedKeys {
		c.m[name] = k
	}
	return k
}
