package identity

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// utf16Reader transcodes UTF-16 (after its byte-order mark) to UTF-8: what
// "ldifde -u" and Windows PowerShell's Out-File write.
type utf16Reader struct {
	r      *bufio.Reader
	big    bool
	out    []byte
	err    error
	offset int64 // bytes of input read, for errors
}

// utf16BOM tells whether head starts with a UTF-16 byte-order mark, and which.
func utf16BOM(head []byte) (isUTF16, bigEndian bool) {
	if len(head) >= 2 {
		switch {
		case head[0] == 0xFF && head[1] == 0xFE:
			return true, false
		case head[0] == 0xFE && head[1] == 0xFF:
			return true, true
		}
	}
	return false, false
}

// newUTF16Reader reads r, which starts with a UTF-16 byte-order mark.
func newUTF16Reader(r *bufio.Reader, bigEndian bool) io.Reader {
	u := &utf16Reader{r: r, big: bigEndian}
	if _, err := r.Discard(2); err != nil {
		u.err = err
	}
	u.offset = 2
	return u
}

func (u *utf16Reader) unit() (uint16, error) {
	a, err := u.r.ReadByte()
	if err != nil {
		return 0, err
	}
	b, err := u.r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("utf-16: odd byte at offset %d", u.offset)
		}
		return 0, err
	}
	u.offset += 2
	if u.big {
		return uint16(a)<<8 | uint16(b), nil
	}
	return uint16(b)<<8 | uint16(a), nil
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.out) < len(p) && len(u.out) < 4096 && u.err == nil {
		c, err := u.unit()
		if err != nil {
			u.err = err
			break
		}
		r := rune(c)
		if utf16.IsSurrogate(r) {
			c2, err := u.unit()
			if err != nil {
				u.err = err
				break
			}
			r = utf16.DecodeRune(r, rune(c2)) // U+FFFD when not a pair
		}
		u.out = utf8.AppendRune(u.out, r)
	}
	if len(u.out) == 0 {
		return 0, u.err
	}
	n := copy(p, u.out)
	u.out = u.out[:copy(u.out, u.out[n:])]
	return n, nil
}
