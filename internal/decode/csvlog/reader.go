package csvlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/vigilsec/vigil/internal/decode"
)

// maxRecordLines bounds how many physical lines one quoted record may span, so a
// stray opening quote costs at most this many lines.
const maxRecordLines = 1000

// record is one CSV record split into fields. Field i is buf[start(i):ends[i]].
type record struct {
	buf    []byte
	ends   []int
	line   int64 // line of its first byte
	offset int64 // offset of its first byte
	// reason is set when the record was rejected; detail says why.
	reason string
	detail string
}

func (r *record) n() int { return len(r.ends) }

func (r *record) field(i int) []byte {
	start := 0
	if i > 0 {
		start = r.ends[i-1]
	}
	return r.buf[start:r.ends[i]]
}

// reader splits RFC 4180 records out of bounded lines: fields separated by delim,
// optionally quoted with '"', a doubled quote inside quotes standing for one, and
// line breaks allowed inside quotes. A quote inside an unquoted field is taken
// literally (a common producer habit); text after a closing quote other than the
// delimiter is malformed. A record is at most maxRecord bytes and maxRecordLines lines.
type reader struct {
	lr        *decode.LineReader
	delim     byte
	maxRecord int
	rec       record
	firstLine bool
}

func newReader(r io.Reader, maxLine int) *reader {
	return &reader{lr: decode.NewLineReader(r, maxLine), maxRecord: maxLine, firstLine: true}
}

// errNeedMore says the line ended inside a quoted field.
var errNeedMore = errors.New("line ends inside a quoted field")

// next returns the next non-empty record; its reason is set when it is rejected.
// It returns io.EOF at the end, other errors for I/O failures only.
func (rd *reader) next() (*record, error) {
	r := &rd.rec
	for {
		l, err := rd.lr.Next()
		if err != nil {
			return nil, err
		}
		b := l.Bytes
		if rd.firstLine {
			b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
			if bytes.HasPrefix(b, []byte("#TYPE ")) {
				continue // Windows PowerShell Export-Csv's type line
			}
			rd.firstLine = false
			if rd.delim == 0 {
				rd.delim = detectDelimiter(b)
			}
		}
		r.buf, r.ends, r.line, r.offset, r.reason, r.detail = r.buf[:0], r.ends[:0], l.Number, l.Offset, "", ""
		if l.TooLong {
			r.reason = decode.ReasonLineTooLong
			r.detail = fmt.Sprintf("line of %d bytes exceeds the %d-byte limit", l.Length, rd.maxRecord)
			return r, nil
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		err = rd.split(b, false)
		for lines := 1; errors.Is(err, errNeedMore); lines++ {
			if len(r.buf) > rd.maxRecord || lines >= maxRecordLines {
				r.reason = decode.ReasonRecordTooLarge
				r.detail = fmt.Sprintf("quoted field still open after %d lines and %d bytes; resuming at the next line", lines, len(r.buf))
				return r, nil
			}
			l, lerr := rd.lr.Next()
			if errors.Is(lerr, io.EOF) {
				r.reason = decode.ReasonTruncated
				r.detail = "stream ends inside a quoted field"
				return r, nil
			}
			if lerr != nil {
				return nil, lerr
			}
			if l.TooLong {
				r.reason = decode.ReasonLineTooLong
				r.detail = fmt.Sprintf("line %d of the record (%d bytes) exceeds the %d-byte limit", l.Number, l.Length, rd.maxRecord)
				return r, nil
			}
			r.buf = append(r.buf, '\n')
			err = rd.split(l.Bytes, true)
		}
		if err != nil {
			r.reason = decode.ReasonMalformed
			r.detail = err.Error()
		}
		return r, nil
	}
}

// split appends the fields of line b to the record; inQuote says b continues a
// quoted field. It returns errNeedMore when b ends inside a quoted field.
func (rd *reader) split(b []byte, inQuote bool) error {
	r, d := &rd.rec, rd.delim
	i := 0
	for {
		if !inQuote {
			if i < len(b) && b[i] == '"' {
				inQuote = true
				i++
				continue
			}
			j := bytes.IndexByte(b[i:], d)
			if j < 0 {
				r.buf = append(r.buf, b[i:]...)
				r.ends = append(r.ends, len(r.buf))
				return nil
			}
			r.buf = append(r.buf, b[i:i+j]...)
			r.ends = append(r.ends, len(r.buf))
			i += j + 1
			continue
		}
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			r.buf = append(r.buf, b[i:]...)
			return errNeedMore
		}
		r.buf = append(r.buf, b[i:i+j]...)
		i += j + 1
		if i < len(b) && b[i] == '"' { // "" is one quote
			r.buf = append(r.buf, '"')
			i++
			continue
		}
		inQuote = false
		switch {
		case i == len(b):
			r.ends = append(r.ends, len(r.buf))
			return nil
		case b[i] == d:
			r.ends = append(r.ends, len(r.buf))
			i++
		default:
			return fmt.Errorf("unexpected %q after the closing quote of field %d", b[i], len(r.ends)+1)
		}
	}
}

// detectDelimiter picks the most frequent of ',', ';' and tab outside quotes in the
// header line; comma when none occurs or on a tie.
func detectDelimiter(line []byte) byte {
	var n [3]int
	inQuote := false
	for _, c := range line {
		switch {
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == ',':
			n[0]++
		case c == ';':
			n[1]++
		case c == '\t':
			n[2]++
		}
	}
	best := 0
	for i := 1; i < 3; i++ {
		if n[i] > n[best] {
			best = i
		}
	}
	return ",;\t"[best]
}
