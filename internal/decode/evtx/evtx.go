// Package evtx decodes binary Windows XML Event Log files (.evtx) into events.
//
// The parser is our own, in pure Go, and is built for speed: it never builds an
// XML tree or string. Each BinXML template definition a chunk holds is compiled
// once per chunk into a plan (the raw field names as interned keys and the
// substitution index that fills each), so decoding a record is reading its
// substitution array and applying the plan. Raw field names and value rendering
// follow the convention of package winevt; a winevt.Normalizer fills the ECS core.
//
// File layout handled: a 4096-byte file header ("ElfFile\0") then 64 KiB chunks
// ("ElfChnk\0", 512-byte header, event records). Chunks are iterated by file size,
// not by the header's chunk count, so files not closed cleanly are read fully. A
// stream starting directly with a chunk (a carved chunk) is accepted too.
//
// Damage handling:
//   - File header with a bad magic or checksum: rejected, chunks are still read.
//   - Chunk with a bad magic: rejected (malformed), skipped to the next 64 KiB.
//     All-zero chunks (unused preallocated space) are skipped silently.
//   - Chunk header or records-data CRC32 mismatch: rejected once (bad-checksum),
//     and the chunk's records are still decoded, each still checked for its own
//     framing (magic, size, size copy). A file not closed cleanly often has a
//     stale checksum on its last chunk, and the events are worth having.
//   - Record with a bad magic, size or size copy: rejected (malformed); decoding
//     resynchronises on the next valid record header in the chunk.
//   - Record whose BinXML cannot be read (bad token, template outside the chunk,
//     nesting deeper than maxDepth, counts larger than the data): rejected.
//   - Truncated stream: the whole records of the last chunk are decoded, the
//     record cut by the end is rejected as truncated.
package evtx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/winevt"
	"github.com/vigilsec/vigil/internal/event"
)

// FormatID is the decoder's format id.
const FormatID = "evtx"

const (
	fileHeaderSize  = 4096
	chunkSize       = 64 << 10
	chunkHeaderSize = 512
	recordHeader    = 24
)

var (
	fileMagic  = []byte("ElfFile\x00")
	chunkMagic = []byte("ElfChnk\x00")
)

// Formats returns the EVTX format.
func Formats() []decode.Format {
	return []decode.Format{{
		ID:          FormatID,
		Description: "Windows XML Event Log (binary .evtx)",
		Sniff:       Sniff,
		New:         func() decode.Decoder { return New() },
	}}
}

// Sniff recognises an EVTX file header (100) or a bare, carved chunk (90).
func Sniff(head []byte) int {
	switch {
	case bytes.HasPrefix(head, fileMagic):
		return 100
	case bytes.HasPrefix(head, chunkMagic):
		return 90
	}
	return 0
}

// Decoder decodes EVTX streams. It keeps buffers and caches between streams and
// is not safe for concurrent use.
type Decoder struct {
	buf   []byte // one chunk
	keys  decode.KeyCache
	arena decode.Arena
	bx    binxml
	// norm fills the ECS core; its caches (canonical users, hosts, hashes) are pure
	// functions of their inputs, so keeping them across streams changes no output.
	norm *winevt.Normalizer
	// rawOnly skips normalization (benchmarks measure the parser alone).
	rawOnly bool
}

// New returns an EVTX decoder.
func New() *Decoder {
	d := &Decoder{buf: make([]byte, chunkSize), norm: winevt.NewNormalizer()}
	d.bx.init(&d.keys, &d.arena)
	return d
}

// stream is the state of one Decode call.
type stream struct {
	d     *Decoder
	ctx   context.Context
	in    decode.Input
	sink  decode.Sink
	count int
}

func (s *stream) reject(off int64, reason string, err error) {
	decode.Reject(s.sink, s.in, FormatID, off, 0, reason, err)
}

// Decode implements decode.Decoder.
func (d *Decoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	s := &stream{d: d, ctx: ctx, in: in, sink: sink}
	buf := d.buf
	n, err := io.ReadFull(in.R, buf[:fileHeaderSize])
	if err != nil && !isEOF(err) {
		return fmt.Errorf("reading file header: %w", err)
	}
	if n == 0 {
		return nil
	}
	var fileOff int64
	pending := 0 // bytes of the first chunk already in buf
	if bytes.HasPrefix(buf[:n], chunkMagic) {
		pending = n // a carved chunk: no file header
	} else {
		s.checkFileHeader(buf[:n])
		if n < fileHeaderSize {
			return nil
		}
		fileOff = fileHeaderSize
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := io.ReadFull(in.R, buf[pending:])
		m += pending
		pending = 0
		if err != nil && !isEOF(err) {
			return fmt.Errorf("reading chunk at offset %d: %w", fileOff, err)
		}
		if m == 0 {
			return nil
		}
		if err := s.chunk(buf[:m], fileOff, m < chunkSize); err != nil {
			return err
		}
		if m < chunkSize {
			return nil
		}
		fileOff += chunkSize
	}
}

var errNoEventID = errors.New("no System/EventID")

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// checkFileHeader rejects a file header with a bad magic, size or checksum. The
// chunks are read whatever it says.
func (s *stream) checkFileHeader(h []byte) {
	switch {
	case !bytes.HasPrefix(h, fileMagic):
		s.reject(0, decode.ReasonMalformed, errors.New("file header: bad magic, reading chunks anyway"))
	case len(h) < fileHeaderSize:
		s.reject(0, decode.ReasonTruncated, fmt.Errorf("file header: %d of %d bytes", len(h), fileHeaderSize))
	default:
		if got, want := crc32.ChecksumIEEE(h[:120]), le32(h, 124); got != want {
			s.reject(0, decode.ReasonBadChecksum,
				fmt.Errorf("file header: checksum %08x, header says %08x; reading chunks anyway", got, want))
		}
	}
}

// chunk decodes the records of one chunk; c is shorter than chunkSize when the
// stream ended inside it (partial).
func (s *stream) chunk(c []byte, fileOff int64, partial bool) error {
	if len(c) < chunkHeaderSize || !bytes.HasPrefix(c, chunkMagic) {
		switch {
		case allZero(c):
			return nil // unused, preallocated space
		case !bytes.HasPrefix(c, chunkMagic[:min(len(c), len(chunkMagic))]):
			s.reject(fileOff, decode.ReasonMalformed, errors.New("chunk: bad magic, skipping 64 KiB"))
		default:
			s.reject(fileOff, decode.ReasonTruncated, fmt.Errorf("chunk: header cut at %d bytes", len(c)))
		}
		return nil
	}
	headerOK := chunkHeaderCRC(c) == le32(c, 124)
	end := int(le32(c, 48)) // free-space offset: end of the records
	if end < chunkHeaderSize || end > chunkSize {
		end, headerOK = chunkHeaderSize, false // implausible: scan for records instead
	}
	switch {
	case !headerOK:
		s.reject(fileOff, decode.ReasonBadChecksum, errors.New("chunk: bad header checksum or free-space offset; decoding its records anyway"))
	case end <= len(c):
		if got, want := crc32.ChecksumIEEE(c[chunkHeaderSize:end]), le32(c, 52); got != want {
			s.reject(fileOff, decode.ReasonBadChecksum,
				fmt.Errorf("chunk: records checksum %08x, header says %08x; decoding its records anyway", got, want))
		}
	}
	s.d.bx.startChunk(c, partial)
	return s.records(c, end, fileOff, headerOK, partial)
}

// chunkHeaderCRC is the CRC32 of the chunk header's first 120 bytes and of its
// bytes 128..512 (the string and template tables).
func chunkHeaderCRC(c []byte) uint32 {
	crc := crc32.ChecksumIEEE(c[:120])
	return crc32.Update(crc, crc32.IEEETable, c[128:chunkHeaderSize])
}

const recordMagic = 0x00002a2a

// records decodes the event records of chunk c from offset 512. The header's
// free-space offset (end) bounds them; when the header cannot be trusted, valid
// records found past end are decoded too, up to the first position that does
// not hold one (a dirty chunk's header may be stale).
func (s *stream) records(c []byte, end int, fileOff int64, trusted, partial bool) error {
	lim := len(c) // where records may end
	if trusted {
		lim = min(end, len(c))
	}
	pos := chunkHeaderSize
	for pos+recordHeader <= len(c) {
		if pos >= end && (trusted || !validRecord(c, pos, len(c))) {
			break
		}
		if le32(c, pos) != recordMagic {
			s.reject(fileOff+int64(pos), decode.ReasonMalformed, errors.New("record: bad magic"))
			if pos = resync(c, pos+1, lim); pos < 0 {
				return nil
			}
			continue
		}
		size := int(le32(c, pos+4))
		switch {
		case size >= recordHeader+4 && pos+size > len(c) && partial:
			s.reject(fileOff+int64(pos), decode.ReasonTruncated,
				fmt.Errorf("record: %d bytes, stream ends after %d", size, len(c)-pos))
			return nil
		case size < recordHeader+4 || pos+size > lim:
			s.reject(fileOff+int64(pos), decode.ReasonMalformed, fmt.Errorf("record: bad size %d", size))
			if pos = resync(c, pos+1, lim); pos < 0 {
				return nil
			}
			continue
		case le32(c, pos+size-4) != uint32(size):
			s.reject(fileOff+int64(pos), decode.ReasonMalformed, fmt.Errorf("record: size %d, trailing copy %d", size, le32(c, pos+size-4)))
			if pos = resync(c, pos+1, lim); pos < 0 {
				return nil
			}
			continue
		}
		s.record(c, pos, size, fileOff)
		pos += size
		s.count++
		if s.count%256 == 0 {
			if err := s.ctx.Err(); err != nil {
				return err
			}
		}
	}
	if partial && pos < end && pos+recordHeader > len(c) {
		s.reject(fileOff+int64(pos), decode.ReasonTruncated, errors.New("record: header cut by the end of the stream"))
	}
	return nil
}

// validRecord reports whether c[pos:] starts with a whole record: magic, sane
// size within limit, and the trailing size copy.
func validRecord(c []byte, pos, limit int) bool {
	if pos+recordHeader > limit || le32(c, pos) != recordMagic {
		return false
	}
	size := int(le32(c, pos+4))
	return size >= recordHeader+4 && pos+size <= limit && le32(c, pos+size-4) == uint32(size)
}

// resync returns the position of the next whole record in c[from:end], or -1.
func resync(c []byte, from, end int) int {
	magic := []byte{0x2a, 0x2a, 0, 0}
	for from+recordHeader <= end {
		i := bytes.Index(c[from:end], magic)
		if i < 0 {
			return -1
		}
		if p := from + i; validRecord(c, p, end) {
			return p
		} else {
			from = p + 1
		}
	}
	return -1
}

// record decodes one event record at c[pos:pos+size] and emits or rejects it.
func (s *stream) record(c []byte, pos, size int, fileOff int64) {
	e := s.sink.Alloc()
	bx := &s.d.bx
	off := fileOff + int64(pos)
	if err := bx.record(e, pos+recordHeader, pos+size-4); err != nil {
		reason := decode.ReasonMalformed
		if errors.Is(err, errTruncated) {
			reason = decode.ReasonTruncated
		}
		s.reject(off, reason, fmt.Errorf("record %d: %w", le64(c, pos+8), err))
		return
	}
	if _, ok := e.RawValue(winevt.KeyEventID); !ok {
		s.reject(off, decode.ReasonMissingField, fmt.Errorf("record %d: %w", le64(c, pos+8), errNoEventID))
		return
	}
	ts, err := bx.timestamp(le64(c, pos+16))
	if err != nil {
		s.reject(off, decode.ReasonBadTimestamp, fmt.Errorf("record %d: %w", le64(c, pos+8), err))
		return
	}
	e.Timestamp = ts
	rec := bx.recordID
	if rec == 0 {
		rec = le64(c, pos+8)
	}
	e.Origin = event.Origin{Source: s.in.Source, Format: FormatID, Offset: off, Record: int64(rec)}
	if !s.d.rawOnly {
		s.d.norm.Normalize(e)
	}
	s.sink.Emit(e)
}

// zeros is a read-only block of zero bytes for allZero.
var zeros [4096]byte

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

func le16(b []byte, i int) uint16 { return uint16(b[i]) | uint16(b[i+1])<<8 }

func le32(b []byte, i int) uint32 {
	return uint32(b[i]) | uint32(b[i+1])<<8 | uint32(b[i+2])<<16 | uint32(b[i+3])<<24
}

func le64(b []byte, i int) uint64 { return uint64(le32(b, i)) | uint64(le32(b, i+4))<<32 }

var _ decode.Decoder = (*Decoder)(nil)
