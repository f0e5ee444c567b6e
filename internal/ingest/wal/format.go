package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

// On-disk format; doc.go describes it for readers of the files.
const (
	segmentMagic = "VGWALSG1"
	headerSize   = 16 // magic + first seq
	frameHead    = 8  // body length + CRC32C of the body
	// fixedBody is what every body holds before its variable fields: seq,
	// flags, received.
	fixedBody = 8 + 1 + 8
	// minBody is the smallest valid body: the fixed part and three or four
	// empty length-prefixed fields.
	minBody = fixedBody + 3

	flagSameContext  = 1 << 0 // Context is the previous record's (in this segment)
	flagZeroReceived = 1 << 1 // Received is the zero time
	knownFlags       = flagSameContext | flagZeroReceived

	// maxNameLen bounds Source and Format.
	maxNameLen = 4096
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendHeader(b []byte, first uint64) []byte {
	b = append(b, segmentMagic...)
	return binary.LittleEndian.AppendUint64(b, first)
}

// checkHeader validates a segment header against the seq its name carries.
func checkHeader(h []byte, first uint64) error {
	if len(h) < headerSize {
		return fmt.Errorf("%w: header of %d bytes, want %d", errTorn, len(h), headerSize)
	}
	if string(h[:8]) != segmentMagic {
		return fmt.Errorf("%w: bad magic %q", errCorrupt, h[:8])
	}
	if got := binary.LittleEndian.Uint64(h[8:16]); got != first {
		return fmt.Errorf("%w: header says first seq %d, the name says %d", errCorrupt, got, first)
	}
	return nil
}

// frameSize is the encoded size of r when its context is (sameCtx) or is not
// stored.
func frameSize(r *ingest.Record, sameCtx bool) int64 {
	n := frameHead + fixedBody + uvarintLen(len(r.Source)) + len(r.Source) +
		uvarintLen(len(r.Format)) + len(r.Format) + uvarintLen(len(r.Data)) + len(r.Data)
	if !sameCtx {
		n += uvarintLen(len(r.Context)) + len(r.Context)
	}
	return int64(n)
}

func uvarintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

// sameContext tells whether record i of recs stores its Context as "same as
// the previous record". Only runs inside one Append call are collapsed, so a
// call never depends on a record of another call, and a segment, which always
// starts at a call boundary, decodes on its own.
func sameContext(recs []ingest.Record, i int) bool {
	return i > 0 && string(recs[i].Context) == string(recs[i-1].Context)
}

// appendFrames encodes recs, numbered from first, onto b.
func appendFrames(b []byte, first uint64, recs []ingest.Record) []byte {
	for i := range recs {
		r := &recs[i]
		same := sameContext(recs, i)
		start := len(b)
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // length and CRC, filled below
		b = binary.LittleEndian.AppendUint64(b, first+uint64(i))
		var flags byte
		var ns int64
		if same {
			flags |= flagSameContext
		}
		if r.Received.IsZero() {
			flags |= flagZeroReceived
		} else {
			ns = r.Received.UnixNano()
		}
		b = append(b, flags)
		b = binary.LittleEndian.AppendUint64(b, uint64(ns))
		b = appendBytes(b, r.Source)
		b = appendBytes(b, r.Format)
		if !same {
			b = appendBytes(b, r.Context)
		}
		b = appendBytes(b, r.Data)
		body := b[start+frameHead:]
		binary.LittleEndian.PutUint32(b[start:], uint32(len(body)))
		binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(body, castagnoli))
	}
	return b
}

func appendBytes[T string | []byte](b []byte, s T) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var (
	// errTorn marks a frame cut short: the end of what a crash left.
	errTorn = errors.New("torn record")
	// errCorrupt marks a frame whose bytes are wrong: bad CRC, bad lengths,
	// unexpected seq.
	errCorrupt = errors.New("corrupt record")
)

// decoder reads the frames of one segment, after its header.
type decoder struct {
	r       *bufio.Reader
	remain  int64  // bytes of the segment left to read
	next    uint64 // the seq the next frame must carry
	first   bool   // no record decoded yet in this segment
	prevCtx []byte
	prevSrc string
	prevFmt string
	head    [frameHead]byte
	arena   []byte // bodies are carved from it: one allocation for many records
}

// alloc returns n bytes for a frame body. Entries keep pointing into the
// arena, so it is never reused, only replaced when full.
func (d *decoder) alloc(n int) []byte {
	if cap(d.arena)-len(d.arena) < n {
		if n >= 64<<10 {
			return make([]byte, n)
		}
		d.arena = make([]byte, 0, max(n, int(min(256<<10, d.remain))))
	}
	l := len(d.arena)
	d.arena = d.arena[:l+n]
	return d.arena[l : l+n : l+n]
}

func newDecoder(r *bufio.Reader, remain int64, next uint64) *decoder {
	return &decoder{r: r, remain: remain, next: next, first: true}
}

// decode returns the next entry and its frame size. io.EOF means the segment
// ended exactly on a frame boundary; errTorn and errCorrupt name what is wrong
// with the frame at the current position. An entry's Context may share memory
// with the previous entry's; Data and Context alias the frame's own buffer.
func (d *decoder) decode() (Entry, int64, error) {
	if d.remain == 0 {
		return Entry{}, 0, io.EOF
	}
	if d.remain < frameHead {
		return Entry{}, 0, fmt.Errorf("%w: %d bytes left, less than a frame header", errTorn, d.remain)
	}
	if _, err := io.ReadFull(d.r, d.head[:]); err != nil {
		return Entry{}, 0, readErr(err, "reading frame header")
	}
	n := int64(binary.LittleEndian.Uint32(d.head[:4]))
	sum := binary.LittleEndian.Uint32(d.head[4:])
	if n < minBody {
		return Entry{}, 0, fmt.Errorf("%w: body length %d below the minimum %d", errCorrupt, n, minBody)
	}
	if n > d.remain-frameHead {
		return Entry{}, 0, fmt.Errorf("%w: body length %d, only %d bytes left", errTorn, n, d.remain-frameHead)
	}
	body := d.alloc(int(n))
	if _, err := io.ReadFull(d.r, body); err != nil {
		return Entry{}, 0, readErr(err, "reading frame body")
	}
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return Entry{}, 0, fmt.Errorf("%w: CRC %08x, header says %08x", errCorrupt, got, sum)
	}
	e, err := d.parse(body)
	if err != nil {
		return Entry{}, 0, err
	}
	d.remain -= frameHead + n
	d.next++
	d.first = false
	d.prevCtx = e.Record.Context
	return e, frameHead + n, nil
}

func (d *decoder) parse(body []byte) (Entry, error) {
	var e Entry
	e.Seq = binary.LittleEndian.Uint64(body)
	if e.Seq != d.next {
		return e, fmt.Errorf("%w: seq %d where %d was expected", errCorrupt, e.Seq, d.next)
	}
	flags := body[8]
	if flags&^knownFlags != 0 {
		return e, fmt.Errorf("%w: unknown flags %#x in seq %d", errCorrupt, flags, e.Seq)
	}
	if flags&flagZeroReceived == 0 {
		e.Record.Received = time.Unix(0, int64(binary.LittleEndian.Uint64(body[9:])))
	}
	p := body[fixedBody:]
	var src, format, ctx, data []byte
	var err error
	if src, p, err = field(p, "source", maxNameLen); err != nil {
		return e, fmt.Errorf("seq %d: %w", e.Seq, err)
	}
	if format, p, err = field(p, "format", maxNameLen); err != nil {
		return e, fmt.Errorf("seq %d: %w", e.Seq, err)
	}
	if flags&flagSameContext != 0 {
		if d.first {
			return e, fmt.Errorf("%w: seq %d repeats the context of a record before its segment", errCorrupt, e.Seq)
		}
		ctx = d.prevCtx
	} else if ctx, p, err = field(p, "context", len(p)); err != nil {
		return e, fmt.Errorf("seq %d: %w", e.Seq, err)
	}
	if data, p, err = field(p, "data", len(p)); err != nil {
		return e, fmt.Errorf("seq %d: %w", e.Seq, err)
	}
	if len(p) != 0 {
		return e, fmt.Errorf("%w: seq %d has %d bytes after its data", errCorrupt, e.Seq, len(p))
	}
	// Sources repeat: share the previous record's strings when equal.
	if string(src) != d.prevSrc {
		d.prevSrc = string(src)
	}
	if string(format) != d.prevFmt {
		d.prevFmt = string(format)
	}
	e.Record.Source, e.Record.Format = d.prevSrc, d.prevFmt
	if len(ctx) > 0 {
		e.Record.Context = ctx
	}
	if len(data) > 0 {
		e.Record.Data = data
	}
	return e, nil
}

// field splits a uvarint-length-prefixed field off p.
func field(p []byte, name string, limit int) ([]byte, []byte, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 {
		return nil, nil, fmt.Errorf("%w: bad %s length", errCorrupt, name)
	}
	p = p[k:]
	if n > uint64(limit) || n > uint64(len(p)) {
		return nil, nil, fmt.Errorf("%w: %s length %d over the %d bytes left", errCorrupt, name, n, min(limit, len(p)))
	}
	return p[:n:n], p[n:], nil
}

// readErr calls a short read torn, and passes other I/O errors on as they are:
// they say nothing about the bytes on disk.
func readErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s: %w", errTorn, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
