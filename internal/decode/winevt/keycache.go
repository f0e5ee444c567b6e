package winevt

import (
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// keyCache interns field names for one stream.
type keyCache struct {
	c decode.KeyCache
}

func (k *keyCache) key(name []byte) event.Key { return k.c.Key(name) }
