package decode

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// JSONRecord is one top-level JSON object found by a JSONReader.
type JSONRecord struct {
	Bytes  []byte // the object's text; valid until the next call to Next
	Offset int64  // byte offset of its first byte
	Line   int64  // 1-based line of its first byte
	// Reason is set when the span could not be framed as an object (garbage between
	// objects, an object cut off by EOF, one larger than the limit); Detail says more.
	Reason string
	Detail string
}

// JSONReader frames a stream of JSON objects in the three layouts producers use:
// one object per line (NDJSON), a top-level array of objects, and pretty-printed
// objects one after another. It does not parse values; decoders do, with their own
// parser, and reject what is malformed inside an object.
type JSONReader struct {
	br     *bufio.Reader
	lim    Limits
	lines  *LineReader // NDJSON mode
	mode   int
	buf    []byte
	offset int64
	line   int64
	inArr  bool
}

const (
	modeUnknown = iota
	modeLines
	modeScan
)

// NewJSONReader frames JSON objects from r.
func NewJSONReader(r io.Reader, lim Limits) *JSONReader {
	lim = lim.WithDefaults()
	return &JSONReader{br: AcquireReader(r), lim: lim, line: 1}
}

// Release gives the reader's buffer back for other readers (AcquireReader):
// call it when done, once no record it returned is in use. The reader is not
// used after.
func (j *JSONReader) Release() {
	if j.br != nil {
		ReleaseReader(j.br)
		j.br, j.lines = nil, nil
	}
}

// Next returns the next object, or a rejected span (Reason set). It returns io.EOF at
// the end and other errors only for I/O failures.
func (j *JSONReader) Next() (JSONRecord, error) {
	if j.mode == modeUnknown {
		j.mode = j.detectMode()
		if j.mode == modeLines {
			j.lines = NewLineReader(j.br, j.lim.MaxLine)
		}
	}
	if j.mode == modeLines {
		return j.nextLine()
	}
	return j.nextScan()
}

// detectMode peeks at the start: a top-level array or an object spanning several
// lines means scanning; one object per line means the fast line path.
func (j *JSONReader) detectMode() int {
	head, _ := j.br.Peek(64 << 10)
	i := 0
	for i < len(head) && isSpace(head[i]) {
		i++
	}
	if i < len(head) && head[i] == '[' {
		return modeScan
	}
	if i >= len(head) || head[i] != '{' {
		return modeLines // garbage or empty: lines reject it line by line
	}
	depth, inStr, esc := 0, false, false
	for ; i < len(head); i++ {
		c := head[i]
		switch {
		case inStr:
			if esc {
				esc = false
			} else if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return modeLines
			}
		case c == '\n':
			return modeScan
		}
	}
	return modeLines
}

func (j *JSONReader) nextLine() (JSONRecord, error) {
	for {
		l, err := j.lines.Next()
		if err != nil {
			return JSONRecord{}, err
		}
		if l.TooLong {
			return JSONRecord{Offset: l.Offset, Line: l.Number, Reason: ReasonLineTooLong,
				Detail: fmt.Sprintf("line of %d bytes exceeds the %d-byte limit", l.Length, j.lim.MaxLine)}, nil
		}
		b := trimSpace(l.Bytes)
		if len(b) == 0 {
			continue
		}
		if b[0] != '{' {
			return JSONRecord{Offset: l.Offset, Line: l.Number, Reason: ReasonMalformed,
				Detail: fmt.Sprintf("line does not start a JSON object (%q)", preview(b))}, nil
		}
		return JSONRecord{Bytes: b, Offset: l.Offset, Line: l.Number}, nil
	}
}

func (j *JSONReader) nextScan() (JSONRecord, error) {
	for {
		c, err := j.readByte()
		if err != nil {
			return JSONRecord{}, err
		}
		switch {
		case isSpace(c) || c == ',':
			continue
		case c == '[' && !j.inArr:
			j.inArr = true
			continue
		case c == ']' && j.inArr:
			j.inArr = false
			continue
		case c == '{':
			return j.scanObject()
		}
		// Garbage between objects: report it and resynchronise at the next line.
		off, line := j.offset-1, j.line
		if c == '\n' {
			line--
		}
		if err := j.skipLine(); err != nil && !errors.Is(err, io.EOF) {
			return JSONRecord{}, err
		}
		return JSONRecord{Offset: off, Line: line, Reason: ReasonMalformed,
			Detail: fmt.Sprintf("unexpected byte %q outside a JSON object", c)}, nil
	}
}

func (j *JSONReader) scanObject() (JSONRecord, error) {
	start, startLine := j.offset-1, j.line
	j.buf = append(j.buf[:0], '{')
	st := ObjectScanner{Depth: 1}
	over := false
	for st.Depth > 0 {
		// Scan what is buffered in one tight loop rather than a call per byte.
		if j.br.Buffered() == 0 {
			if _, err := j.br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					return JSONRecord{Offset: start, Line: startLine, Reason: ReasonTruncated,
						Detail: "stream ends inside a JSON object"}, nil
				}
				return JSONRecord{}, err
			}
		}
		chunk, _ := j.br.Peek(j.br.Buffered())
		n := st.Scan(chunk)
		used := chunk[:n]
		if !over {
			if len(j.buf)+len(used) > j.lim.MaxRecord {
				over = true
				j.buf = j.buf[:0]
			} else {
				j.buf = append(j.buf, used...)
			}
		}
		j.offset += int64(n)
		j.line += int64(bytes.Count(used, newline))
		if _, err := j.br.Discard(n); err != nil {
			return JSONRecord{}, err
		}
	}
	if over {
		return JSONRecord{Offset: start, Line: startLine, Reason: ReasonRecordTooLarge,
			Detail: fmt.Sprintf("object exceeds the %d-byte limit", j.lim.MaxRecord)}, nil
	}
	return JSONRecord{Bytes: j.buf, Offset: start, Line: startLine}, nil
}

var newline = []byte{'\n'}

// ObjectScanner finds where a JSON object or array ends, across chunks of its
// text: it tracks bracket depth and strings without parsing values. Inside strings
// it jumps from quote to quote, since most of a record's bytes are string contents.
type ObjectScanner struct {
	// Depth is the bracket depth: 0 before the opening bracket has been scanned and
	// again once the value is closed. Set it to start inside a value.
	Depth      int
	inStr, esc bool
}

// Scan consumes b until the value closes (returning the index just past its last
// byte, with Depth back to 0) or b ends (returning len(b)).
func (s *ObjectScanner) Scan(b []byte) int {
	i := 0
	if s.esc && len(b) > 0 { // the previous chunk ended with a backslash inside a string
		s.esc, i = false, 1
	}
	for i < len(b) {
		if s.inStr {
			rest := b[i:]
			q := bytes.IndexByte(rest, '"')
			lim := len(rest)
			if q >= 0 {
				lim = q
			}
			if k := bytes.IndexByte(rest[:lim], '\\'); k >= 0 {
				i += k + 2 // the backslash and the byte it escapes
				if i > len(b) {
					s.esc = true
					return len(b)
				}
				continue
			}
			if q < 0 {
				return len(b)
			}
			i += q + 1
			s.inStr = false
			continue
		}
		switch b[i] {
		case '"':
			s.inStr = true
		case '{', '[':
			s.Depth++
		case '}', ']':
			s.Depth--
			if s.Depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return len(b)
}

func (j *JSONReader) readByte() (byte, error) {
	c, err := j.br.ReadByte()
	if err != nil {
		return 0, err
	}
	j.offset++
	if c == '\n' {
		j.line++
	}
	return c, nil
}

func (j *JSONReader) skipLine() error {
	for {
		c, err := j.readByte()
		if err != nil {
			return err
		}
		if c == '\n' {
			return nil
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	// A UTF-8 byte order mark at the start of a file.
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		b = b[3:]
	}
	return b
}

// preview returns at most 40 bytes of b for error messages.
func preview(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
