package decode

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// LineReader reads lines of at most a fixed length without ever buffering more.
// A longer line is skipped to its end and reported with TooLong set, so one hostile
// 10 MB line costs no memory and the lines after it still decode.
type LineReader struct {
	br     *bufio.Reader
	max    int
	line   int64
	offset int64 // offset of the next line
}

// Line is one line read by a LineReader. Bytes excludes the line terminator and is
// valid only until the next call to Next.
type Line struct {
	Bytes   []byte
	Number  int64 // 1-based
	Offset  int64 // byte offset of the line's first byte
	TooLong bool  // the line exceeded the limit; Bytes holds its first bytes only
	Length  int64 // the full length of the line, terminator excluded
}

// NewLineReader reads from r with lines of at most max bytes (DefaultMaxLine if max <= 0).
func NewLineReader(r io.Reader, max int) *LineReader {
	if max <= 0 {
		max = DefaultMaxLine
	}
	// ReadSlice returns ErrBufferFull at the buffer size, so the buffer holds the
	// longest accepted line plus its terminator.
	return &LineReader{br: bufio.NewReaderSize(r, max+2), max: max}
}

// Next returns the next line. It returns io.EOF after the last line; any other error
// is an I/O error of the underlying reader.
func (lr *LineReader) Next() (Line, error) {
	start := lr.offset
	b, err := lr.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || (err == nil && len(b) > lr.max+2) {
		head := b
		if len(head) > 256 {
			head = head[:256]
		}
		// Keep a copy of the head: skipping overwrites the buffer.
		head = bytes.Clone(head)
		n := int64(len(b))
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = lr.br.ReadSlice('\n')
			n += int64(len(b))
		}
		lr.line++
		lr.offset += n
		if err != nil && !errors.Is(err, io.EOF) {
			return Line{}, err
		}
		return Line{Bytes: head, Number: lr.line, Offset: start, TooLong: true, Length: n - trailer(b)}, nil
	}
	if len(b) == 0 && err != nil {
		return Line{}, err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return Line{}, err
	}
	lr.line++
	lr.offset += int64(len(b))
	t := trailer(b)
	b = b[:len(b)-int(t)]
	if len(b) > lr.max {
		// bufio's minimum buffer (16 bytes) can exceed a tiny limit.
		return Line{Bytes: b[:min(len(b), 256)], Number: lr.line, Offset: start, TooLong: true, Length: int64(len(b))}, nil
	}
	return Line{Bytes: b, Number: lr.line, Offset: start, Length: int64(len(b))}, nil
}

// trailer returns the length of the "\n" or "\r\n" ending b.
func trailer(b []byte) int64 {
	n := len(b)
	if n > 0 && b[n-1] == '\n' {
		if n > 1 && b[n-2] == '\r' {
			return 2
		}
		return 1
	}
	return 0
}
