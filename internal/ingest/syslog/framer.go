package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Frame errors; each closes the connection it happened on.
var (
	errTooLong   = errors.New("frame over the maximum message size")
	errBadLength = errors.New("bad octet-count length")
	errTruncated = errors.New("connection closed inside an octet-counted frame")
)

// frameReason is the metric label of a frame error.
func frameReason(err error) string {
	switch {
	case errors.Is(err, errTooLong):
		return "too_long"
	case errors.Is(err, errBadLength):
		return "bad_length"
	case errors.Is(err, errTruncated):
		return "truncated"
	}
	return ""
}

// framer splits a TCP stream into syslog messages per RFC 6587: a frame that
// starts with a digit is octet-counted ("LEN SP MSG"); any other is
// non-transparent, ended by LF, CRLF or NUL. Empty non-transparent frames are
// skipped. It is resumable: when a read fails (a deadline), the partial frame
// stays buffered and the next call continues it.
type framer struct {
	r    io.Reader
	max  int
	buf  []byte
	s, e int // buffered bytes are buf[s:e]
	scan int // bytes of buf[s:e] already searched for a trailer
	// lastLen is the declared length of the last octet-counted frame, -1 for a
	// non-transparent one (for tests).
	lastLen int
	err     error // sticky read error (EOF)
}

const initialFrameBuf = 16 << 10

func newFramer(r io.Reader, maxMessage int) *framer {
	return &framer{r: r, max: maxMessage, buf: make([]byte, min(initialFrameBuf, maxMessage+32))}
}

// fill reads more bytes, compacting or growing the buffer (up to max+32) first.
func (f *framer) fill() error {
	if f.err != nil {
		return f.err
	}
	if f.e == len(f.buf) {
		if f.s > 0 {
			copy(f.buf, f.buf[f.s:f.e])
			f.e -= f.s
			f.s = 0
		} else if len(f.buf) < f.max+32 {
			nb := make([]byte, min(2*len(f.buf), f.max+32))
			copy(nb, f.buf[:f.e])
			f.buf = nb
		} else {
			return errTooLong // unreachable: callers check sizes first
		}
	}
	n, err := f.r.Read(f.buf[f.e:])
	f.e += n
	if n > 0 {
		return nil // report the error on the next call, after the bytes are used
	}
	if err == nil {
		return nil
	}
	if !isTimeout(err) {
		f.err = err
	}
	return err
}

// Next returns the next message, valid until the following call. At the end of
// the stream it returns io.EOF (a last non-transparent frame without a trailer
// is returned first); a frame error is errTooLong, errBadLength or errTruncated.
func (f *framer) Next() ([]byte, error) {
	for {
		if f.s == f.e {
			if err := f.fill(); err != nil {
				return nil, err
			}
			continue
		}
		if isDigit(f.buf[f.s]) {
			return f.octet()
		}
		msg, ok, err := f.line()
		if err != nil || ok {
			return msg, err
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// octet reads one octet-counted frame starting at buf[s].
func (f *framer) octet() ([]byte, error) {
	maxDigits := len(fmt.Sprint(f.max))
	for {
		b := f.buf[f.s:f.e]
		n, i := 0, 0
		for ; i < len(b) && isDigit(b[i]); i++ {
			if i >= maxDigits {
				return nil, fmt.Errorf("%w: length has more than %d digits", errTooLong, maxDigits)
			}
			n = n*10 + int(b[i]-'0')
		}
		if i == len(b) { // need more digits or the space
			if err := f.fill(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil, errTruncated
				}
				return nil, err
			}
			continue
		}
		if b[i] != ' ' {
			return nil, fmt.Errorf("%w: byte 0x%02x after %d digits", errBadLength, b[i], i)
		}
		if b[0] == '0' {
			return nil, fmt.Errorf("%w: zero or leading zero", errBadLength)
		}
		if n > f.max {
			return nil, fmt.Errorf("%w: length %d over %d", errTooLong, n, f.max)
		}
		start := i + 1
		for len(b) < start+n {
			if err := f.fill(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil, errTruncated
				}
				return nil, err
			}
			b = f.buf[f.s:f.e]
		}
		msg := b[start : start+n]
		f.s += start + n
		f.scan = 0
		f.lastLen = n
		return msg, nil
	}
}

// line reads one non-transparent frame; ok is false for an empty frame.
func (f *framer) line() (msg []byte, ok bool, err error) {
	for {
		b := f.buf[f.s:f.e]
		if j := indexTrailer(b[f.scan:]); j >= 0 {
			end := f.scan + j
			msg = b[:end]
			f.s += end + 1
			f.scan = 0
			if len(msg) > 0 && msg[len(msg)-1] == '\r' {
				msg = msg[:len(msg)-1]
			}
			if len(msg) > f.max {
				return nil, false, fmt.Errorf("%w: %d bytes over %d", errTooLong, len(msg), f.max)
			}
			f.lastLen = -1
			return msg, len(msg) > 0, nil
		}
		f.scan = len(b)
		if len(b) > f.max+1 { // max bytes and a CR, still no trailer
			return nil, false, fmt.Errorf("%w: no trailer within %d bytes", errTooLong, f.max)
		}
		if err := f.fill(); err != nil {
			if errors.Is(err, io.EOF) && f.e > f.s {
				msg = bytes.TrimSuffix(f.buf[f.s:f.e], []byte{'\r'})
				f.s, f.scan = f.e, 0
				if len(msg) > f.max {
					return nil, false, fmt.Errorf("%w: %d bytes over %d", errTooLong, len(msg), f.max)
				}
				f.lastLen = -1
				return msg, len(msg) > 0, nil
			}
			return nil, false, err
		}
	}
}

// indexTrailer returns the index of the first LF or NUL in b, or -1.
func indexTrailer(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		i = len(b)
	}
	if j := bytes.IndexByte(b[:i], 0); j >= 0 {
		return j
	}
	if i == len(b) {
		return -1
	}
	return i
}

// isTimeout reports whether err is a read deadline expiring.
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
