package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The binary form of a Record, one per bus message between an ingest node and
// the workers: a version byte, then Source, Format, Context and Data, each as
// a uvarint length and bytes, then Received as a varint of Unix nanoseconds (0
// for the zero time). Every length is checked against what is left, so a
// hostile message costs at most its own size, and only the shortest
// varints are read, so a record has exactly one binary form.
const (
	recordCodecV1 = 1
	// MaxRecordField bounds Source and Format in the binary form.
	MaxRecordField = 4 << 10
)

// ErrRecordEncoding is wrapped by DecodeRecord's errors.
var ErrRecordEncoding = errors.New("decoding a record")

// AppendRecord appends the binary form of r to b.
func AppendRecord(b []byte, r *Record) []byte {
	b = append(b, recordCodecV1)
	b = binary.AppendUvarint(b, uint64(len(r.Source)))
	b = append(b, r.Source...)
	b = binary.AppendUvarint(b, uint64(len(r.Format)))
	b = append(b, r.Format...)
	b = binary.AppendUvarint(b, uint64(len(r.Context)))
	b = append(b, r.Context...)
	b = binary.AppendUvarint(b, uint64(len(r.Data)))
	b = append(b, r.Data...)
	var ns int64
	if !r.Received.IsZero() {
		ns = r.Received.UnixNano()
	}
	return binary.AppendVarint(b, ns)
}

// DecodeRecord decodes the binary form of a record. Context and Data alias b
// (the caller keeps b unchanged while it uses them); Source and Format are
// copied. An error names the part that is wrong and wraps ErrRecordEncoding.
func DecodeRecord(b []byte) (Record, error) {
	var r Record
	if len(b) == 0 {
		return r, fmt.Errorf("%w: empty", ErrRecordEncoding)
	}
	if b[0] != recordCodecV1 {
		return r, fmt.Errorf("%w: version %d, want %d", ErrRecordEncoding, b[0], recordCodecV1)
	}
	p := b[1:]
	var src, format []byte
	var err error
	if src, p, err = recordField(p, "source", MaxRecordField); err != nil {
		return r, err
	}
	if format, p, err = recordField(p, "format", MaxRecordField); err != nil {
		return r, err
	}
	if r.Context, p, err = recordField(p, "context", len(p)); err != nil {
		return r, err
	}
	if r.Data, p, err = recordField(p, "data", len(p)); err != nil {
		return r, err
	}
	ns, n := binary.Varint(p)
	if n <= 0 || n != varintLen(ns) {
		return Record{}, fmt.Errorf("%w: received time truncated or overlong", ErrRecordEncoding)
	}
	if n != len(p) {
		return Record{}, fmt.Errorf("%w: %d bytes after the record", ErrRecordEncoding, len(p)-n)
	}
	if ns != 0 {
		r.Received = time.Unix(0, ns)
	}
	r.Source, r.Format = string(src), string(format)
	if len(r.Context) == 0 {
		r.Context = nil
	}
	return r, nil
}

// uvarintLen and varintLen are the lengths of the shortest encodings: a longer
// one (0x80 0x00 for 0) is refused, so a record has one binary form.
func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func varintLen(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	return uvarintLen(ux)
}

// recordField reads a uvarint length of at most limit and that many bytes.
func recordField(p []byte, name string, limit int) (field, rest []byte, err error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || k != uvarintLen(n) {
		return nil, nil, fmt.Errorf("%w: %s length truncated or overlong", ErrRecordEncoding, name)
	}
	p = p[k:]
	if n > uint64(limit) || n > uint64(len(p)) {
		return nil, nil, fmt.Errorf("%w: %s of %d bytes, %d left (at most %d)", ErrRecordEncoding, name, n, len(p), limit)
	}
	return p[:n:n], p[n:], nil
}
