package jetstream

import (
	"errors"
	"strings"
)

const hexDigits = "0123456789ABCDEF"

// encodeKey maps a lease key (any bytes) to a valid key of a NATS key-value
// bucket, one subject token: letters, digits, '-', '_' and '/' stay, every
// other byte becomes "=XX" (hex). The mapping is one-to-one and decodeKey
// inverts it: "partition/events/3" stays as it is.
func encodeKey(key string) string {
	return escape(key, '=', func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '/'
	})
}

// decodeKey inverts encodeKey.
func decodeKey(enc string) (string, error) {
	return unescape(enc, '=')
}

// escapeID maps a message ID (any bytes) to a header value that survives the
// NATS protocol: printable ASCII but '%' stays, every other byte (controls,
// spaces, non-ASCII) becomes "%XX". Common IDs (hex, UUIDs, "source:offset")
// stay as they are.
func escapeID(id string) string {
	return escape(id, '%', func(c byte) bool { return c > ' ' && c < 0x7f })
}

// unescapeID inverts escapeID.
func unescapeID(enc string) (string, error) {
	return unescape(enc, '%')
}

// escape writes every byte of s that keep accepts (but esc) as it is, and
// every other as esc and two uppercase hex digits.
func escape(s string, esc byte, keep func(byte) bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == esc || !keep(c) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != esc && keep(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte(esc)
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

var errBadEscape = errors.New("malformed escape")

// unescape inverts escape: it accepts only what escape writes (uppercase hex
// digits), so that every string has at most one encoded form.
func unescape(s string, esc byte) (string, error) {
	i := strings.IndexByte(s, esc)
	if i < 0 {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c != esc {
			b = append(b, c)
			continue
		}
		if i+2 >= len(s) {
			return "", errBadEscape
		}
		hi, lo := strings.IndexByte(hexDigits, s[i+1]), strings.IndexByte(hexDigits, s[i+2])
		if hi < 0 || lo < 0 {
			return "", errBadEscape
		}
		b = append(b, byte(hi<<4|lo))
		i += 2
	}
	return string(b), nil
}
