package decode

import "unsafe"

// Arena hands out strings copied into large shared chunks, so a decoder turning a
// record's fields into strings makes one allocation per chunk instead of one per
// field. A chunk is never written again after a string points into it, so the
// strings are immutable as Go requires; a chunk is freed by the GC once no string
// refers to it.
type Arena struct {
	chunk []byte
	size  int
}

// arenaChunk is the default chunk size: large enough to amortise, small enough that a
// few long-lived strings do not pin much memory.
const arenaChunk = 32 << 10

// String returns b as a string backed by the arena.
func (a *Arena) String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > arenaChunk/4 {
		return string(b) // large values get their own allocation
	}
	if cap(a.chunk)-len(a.chunk) < len(b) {
		a.chunk = make([]byte, 0, arenaChunk)
	}
	start := len(a.chunk)
	a.chunk = append(a.chunk, b...)
	s := a.chunk[start:len(a.chunk):len(a.chunk)]
	// #nosec G103 -- the bytes are never written after this point (see type comment).
	return unsafe.String(unsafe.SliceData(s), len(s))
}

// StringOf returns s interned in the arena: a copy that does not keep s's backing alive.
func (a *Arena) StringOf(s string) string {
	return a.String(unsafe.Slice(unsafe.StringData(s), len(s))) // #nosec G103 -- read only
}
