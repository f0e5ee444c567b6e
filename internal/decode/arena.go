package decode

import "unsafe"

// Arena hands out strings copied into large shared chunks, so a decoder turning a
// record's fields into strings makes one allocation per chunk instead of one per
// field. A chunk is never written again after a string points into it, so the
// strings are immutable as Go requires; a chunk is freed by the GC once no string
// refers to it.
type Arena struct {
	chunk []byte // the current chunk, its full length in use as storage
	off   int    // bytes of chunk handed out
}

// arenaChunk is the largest chunk size: large enough to amortise, small enough that a
// few long-lived strings do not pin much memory. Chunks start at arenaFirst and
// double, so a decoder given one short record does not pay for a whole chunk.
const (
	arenaChunk = 32 << 10
	arenaFirst = 1 << 10
)

// String returns b as a string backed by the arena.
func (a *Arena) String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > arenaChunk/4 {
		return string(b) // large values get their own allocation
	}
	if len(a.chunk)-a.off < len(b) {
		a.chunk = make([]byte, min(arenaChunk, max(arenaFirst, 2*len(a.chunk), len(b))))
		a.off = 0
	}
	// Only an int is stored per string: writing the chunk's slice header back would
	// cost a GC write barrier per field.
	n := copy(a.chunk[a.off:], b)
	p := &a.chunk[a.off]
	a.off += n
	// #nosec G103 -- the bytes are never written after this point (see type comment).
	return unsafe.String(p, n)
}

// StringOf returns s interned in the arena: a copy that does not keep s's backing alive.
func (a *Arena) StringOf(s string) string {
	return a.String(unsafe.Slice(unsafe.StringData(s), len(s))) // #nosec G103 -- read only
}
