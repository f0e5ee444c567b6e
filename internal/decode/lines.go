package decode

import (
	"bufio"
	"errors"
	"io"
)

// LineReader reads lines of at most a fixed length without ever buffering more.
// A longer line is skipped to its end and reported with TooLong set, so one hostile
// 10 MB line costs no memory and the lines after it still decode. Its buffer starts
// small (64 KiB, or the size of an in-memory input) and grows only while a line
// longer than that is being read.
type LineReader struct {
	br     *bufio.Reader
	max    int
	line   int64
	offset int64 // offset of the next line
	long   []byte
}

// Line is one line read by a LineReader. Bytes excludes the line terminator and is
// valid only until the next call to Next.
type Line struct {
	Bytes   []byte
	Number  int64 // 1-based
	Offset  int64 // byte offset of the line's first byte
	TooLong bool  // the line exceeded the limit; Bytes holds at most its first 256 bytes
	Length  int64 // the full length of the line, terminator excluded
}

const lineBufSize = 64 << 10

// NewLineReader reads from r with lines of at most max bytes (DefaultMaxLine if max <= 0).
func NewLineReader(r io.Reader, max int) *LineReader {
	if max <= 0 {
		max = DefaultMaxLine
	}
	size := min(lineBufSize, max+2)
	if l, ok := r.(interface{ Len() int }); ok {
		size = min(size, l.Len()+1) // an in-memory input (a bus record) needs no more
	}
	return &LineReader{br: bufio.NewReaderSize(r, size), max: max}
}

// Next returns the next line. It returns io.EOF after the last line; any other error
// is an I/O error of the underlying reader.
func (lr *LineReader) Next() (Line, error) {
	start := lr.offset
	b, err := lr.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// A line longer than the buffer: gather it up to the limit, then skip the rest.
		lr.long = append(lr.long[:0], b...)
		n := int64(len(b))
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = lr.br.ReadSlice('\n')
			n += int64(len(b))
			if len(lr.long) <= lr.max+2 {
				lr.long = append(lr.long, b...)
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Line{}, err
		}
		end := trailer(b) // the terminator is in the last slice read
		b = lr.long
		if len(lr.long) > lr.max+2 {
			lr.long = lr.long[:min(len(lr.long), 256)]
		}
		if cap(lr.long) > 4*lineBufSize {
			lr.long = nil // do not keep a huge buffer for the rest of the stream
		}
		lr.line++
		lr.offset += n
		full := n - end
		if full > int64(lr.max) {
			return Line{Bytes: b[:min(len(b), 256)], Number: lr.line, Offset: start, TooLong: true, Length: full}, nil
		}
		return Line{Bytes: b[:full], Number: lr.line, Offset: start, Length: full}, nil
	}
	if len(b) == 0 && err != nil {
		return Line{}, err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return Line{}, err
	}
	lr.line++
	lr.offset += int64(len(b))
	b = b[:len(b)-int(trailer(b))]
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
