package cloudtrail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/vigilsec/vigil/internal/decode"
)

// frame is one unit the framer hands to the decoder: a Records element, or a whole
// top-level object (index -1), or a rejected span (reason set).
type frame struct {
	bytes  []byte // valid until the next call to next
	offset int64
	line   int64
	index  int
	reason string
	detail string
}

// framer streams the elements of {"Records":[...]} objects one by one, so a
// delivered file costs the memory of its largest record, not of the whole file.
// Top-level objects whose first key is not "Records" are framed whole (several
// Records files and single records may follow each other). It scans buffered chunks
// rather than bytes, keeps offsets and lines, and bounds each frame by max bytes.
type framer struct {
	br   *bufio.Reader
	max  int
	off  int64 // offset of the next unread byte
	line int64 // line of the next unread byte
	buf  []byte
	over bool // buf exceeded max

	inRecords bool // between the elements of a Records array
	index     int  // index of the next Records element
}

func newFramer(br *bufio.Reader, max int, off int64) *framer {
	return &framer{br: br, max: max, off: off, line: 1}
}

// next returns the next frame, io.EOF at the end, or an I/O error.
func (f *framer) next() (frame, error) {
	for {
		if f.inRecords {
			fr, done, err := f.element()
			if err != nil || !done {
				return fr, err
			}
			continue // the array ended; look for the next top-level object
		}
		if err := f.skipSpace(false); err != nil {
			return frame{}, err
		}
		start, line := f.off, f.line
		c, err := f.peek()
		if err != nil {
			return frame{}, err
		}
		if c != '{' {
			if err := f.skipLine(); err != nil && !errors.Is(err, io.EOF) {
				return frame{}, err
			}
			return frame{offset: start, line: line, reason: "malformed",
				detail: fmt.Sprintf("unexpected byte %q outside a JSON object", c)}, nil
		}
		isRecords, err := f.objectStart()
		if errors.Is(err, io.EOF) {
			return frame{offset: start, line: line, reason: "truncated", detail: "stream ends inside a JSON object"}, nil
		}
		if err != nil {
			return frame{}, err
		}
		if isRecords {
			f.inRecords, f.index = true, 0
			continue
		}
		// Any other object: the bytes read so far are in f.buf; frame the rest.
		if err := f.composite(true, 1); err != nil {
			if errors.Is(err, io.EOF) {
				return frame{offset: start, line: line, reason: "truncated", detail: "stream ends inside a JSON object"}, nil
			}
			return frame{}, err
		}
		if f.over {
			return frame{offset: start, line: line, reason: "record-too-large",
				detail: fmt.Sprintf("object exceeds the %d-byte limit", f.max)}, nil
		}
		return frame{bytes: f.buf, offset: start, line: line, index: -1}, nil
	}
}

// objectStart consumes '{' and, when the first key is "Records" followed by ':' and
// '[', that prefix too and reports true. Otherwise what it consumed is in f.buf.
func (f *framer) objectStart() (bool, error) {
	f.buf, f.over = f.buf[:0], false
	f.consume(1, true) // '{'
	if err := f.skipSpace(true); err != nil {
		return false, err
	}
	if c, err := f.peek(); err != nil || c != '"' {
		return false, err
	}
	mark := len(f.buf)
	if err := f.str(true); err != nil {
		return false, err
	}
	if string(f.buf[mark:]) != `"Records"` {
		return false, nil
	}
	if err := f.skipSpace(true); err != nil {
		return false, err
	}
	if c, err := f.peek(); err != nil || c != ':' {
		return false, err
	}
	f.consume(1, true)
	if err := f.skipSpace(true); err != nil {
		return false, err
	}
	if c, err := f.peek(); err != nil || c != '[' {
		return false, err // Records is not an array: the decoder reports it on the whole object
	}
	f.consume(1, false)
	return true, nil
}

// element frames the next Records element. done reports the end of the array (the
// rest of the enclosing object has then been skipped).
func (f *framer) element() (fr frame, done bool, err error) {
	defer func() {
		if errors.Is(err, io.EOF) {
			f.inRecords = false
			fr, done, err = frame{offset: f.off, line: f.line, reason: "truncated",
				detail: "stream ends inside the Records array"}, false, nil
		}
	}()
	for {
		if err := f.skipSpace(false); err != nil {
			return frame{}, false, err
		}
		c, err := f.peek()
		if err != nil {
			return frame{}, false, err
		}
		if c != ',' {
			break
		}
		f.consume(1, false)
	}
	c, _ := f.peek()
	if c == ']' {
		f.consume(1, false)
		f.inRecords = false
		return frame{}, true, f.composite(false, 1) // the rest of the enclosing object
	}
	start, line, i := f.off, f.line, f.index
	f.index++
	f.buf, f.over = f.buf[:0], false
	if c != '{' {
		kind, err := f.skipValue(c)
		if err != nil {
			return frame{}, false, err
		}
		return frame{offset: start, line: line, index: i, reason: "malformed",
			detail: fmt.Sprintf("Records[%d] is a %s, not an object", i, kind)}, false, nil
	}
	if err := f.composite(true, 0); err != nil {
		return frame{}, false, err
	}
	if f.over {
		return frame{offset: start, line: line, index: i, reason: "record-too-large",
			detail: fmt.Sprintf("Records[%d] exceeds the %d-byte limit", i, f.max)}, false, nil
	}
	return frame{bytes: f.buf, offset: start, line: line, index: i}, false, nil
}

// skipValue consumes a non-object value starting with c and names its kind.
func (f *framer) skipValue(c byte) (string, error) {
	switch c {
	case '[':
		return "array", f.composite(false, 0)
	case '"':
		return "string", f.str(false)
	}
	kind := "number"
	switch c {
	case 't', 'f':
		kind = "boolean"
	case 'n':
		kind = "null"
	case '}', ':':
		kind = fmt.Sprintf("stray %q", c)
	}
	f.consume(1, false) // at least one byte, so a stray '}' cannot stall the framer
	for {
		chunk, err := f.chunk()
		if err != nil {
			return kind, err
		}
		for i, c := range chunk {
			switch c {
			case ',', ']', '}', ' ', '\t', '\r', '\n':
				f.consume(i, false)
				return kind, nil
			}
		}
		f.consume(len(chunk), false)
	}
}

// composite consumes bytes until the bracket depth, starting at depth, returns to
// zero, keeping them in f.buf when keep is set.
func (f *framer) composite(keep bool, depth int) error {
	st := decode.ObjectScanner{Depth: depth}
	for {
		chunk, err := f.chunk()
		if err != nil {
			return err
		}
		n := st.Scan(chunk)
		f.consume(n, keep)
		if st.Depth == 0 {
			return nil
		}
	}
}

// str consumes a string starting at its opening quote.
func (f *framer) str(keep bool) error {
	f.consume(1, keep)
	esc := false
	for {
		chunk, err := f.chunk()
		if err != nil {
			return err
		}
		for i, c := range chunk {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				f.consume(i+1, keep)
				return nil
			}
		}
		f.consume(len(chunk), keep)
	}
}

// skipSpace consumes whitespace.
func (f *framer) skipSpace(keep bool) error {
	for {
		chunk, err := f.chunk()
		if err != nil {
			return err
		}
		i := 0
		for i < len(chunk) && (chunk[i] == ' ' || chunk[i] == '\t' || chunk[i] == '\n' || chunk[i] == '\r') {
			i++
		}
		f.consume(i, keep)
		if i < len(chunk) {
			return nil
		}
	}
}

func (f *framer) skipLine() error {
	for {
		chunk, err := f.chunk()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			f.consume(i+1, false)
			return nil
		}
		f.consume(len(chunk), false)
	}
}

// chunk returns the buffered bytes, reading more when none are; io.EOF at the end.
func (f *framer) chunk() ([]byte, error) {
	if f.br.Buffered() == 0 {
		if _, err := f.br.Peek(1); err != nil {
			return nil, err
		}
	}
	b, _ := f.br.Peek(f.br.Buffered())
	return b, nil
}

func (f *framer) peek() (byte, error) {
	b, err := f.chunk()
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// consume moves past the first n buffered bytes, appending them to f.buf when keep
// is set and the frame is within its limit.
func (f *framer) consume(n int, keep bool) {
	if n == 0 {
		return
	}
	b, _ := f.br.Peek(n)
	if keep && !f.over {
		if len(f.buf)+n > f.max {
			f.over = true
			f.buf = f.buf[:0]
		} else {
			f.buf = append(f.buf, b...)
		}
	}
	f.line += int64(bytes.Count(b, []byte{'\n'}))
	f.off += int64(n)
	_, _ = f.br.Discard(n) // n bytes are buffered: Discard cannot fail
}
