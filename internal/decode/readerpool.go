package decode

import (
	"bufio"
	"io"
	"sync"
)

// readerSize is the buffer of the readers decoders frame input with: room for
// a sniff (SniffSize) and for the lines of most logs (LineReader grows past it
// only for a longer line).
const readerSize = 64 << 10

// readers keeps decoders' buffered readers between Decode calls. A stream
// decodes every batch of records (a request's worth) with a call of its own,
// a hundred and more a second; a new 64 KiB buffer each time was a fifth of
// what vigil serve allocated under load.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readerSize) }}

// AcquireReader returns a buffered reader of r with a 64 KiB buffer (SniffSize)
// from a pool. Give it back with ReleaseReader once nothing read from it is in
// use.
func AcquireReader(r io.Reader) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

// ReleaseReader returns br, from AcquireReader, to the pool.
func ReleaseReader(br *bufio.Reader) {
	br.Reset(nil)
	readers.Put(br)
}
