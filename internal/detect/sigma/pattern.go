package sigma

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A Sigma string is literal text with the wildcards * and ? (escaped with \); it is
// parsed into pieces: literal runs and wildcards.
type piece struct {
	lit  string // a literal run; "" for a wildcard
	wild byte   // '*' or '?' for a wildcard, 0 for a literal
}

// parseSigmaString splits s into literal runs and wildcards. A backslash escapes *, ?
// and \ itself; before any other character it is a plain backslash, as the
// specification's escape rules (and pySigma) read it.
func parseSigmaString(s string) []piece {
	var out []piece
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, piece{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\'):
			lit.WriteByte(s[i+1])
			i++
		case c == '*' || c == '?':
			flush()
			if c == '*' && len(out) > 0 && out[len(out)-1].wild == '*' {
				continue // ** is *
			}
			out = append(out, piece{wild: c})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out
}

// plain returns the text of pieces without wildcards (wildcards kept as written);
// the encoding modifiers work on it.
func plain(ps []piece) string {
	var b strings.Builder
	for _, p := range ps {
		if p.wild != 0 {
			b.WriteByte(p.wild)
		} else {
			b.WriteString(p.lit)
		}
	}
	return b.String()
}

// strKind is how a string matcher compares.
type strKind uint8

const (
	strExact strKind = iota
	strPrefix
	strSuffix
	strContains
	strGlob
	strAny // * alone: any value, even empty
)

// strMatcher matches a field value against one Sigma string. Unless cased, the
// pattern is lower-cased at compile time and compared with the lower-cased value.
type strMatcher struct {
	kind  strKind
	s     string  // the literal for exact, prefix, suffix, contains
	glob  []piece // for strGlob
	cased bool

	// Prefilter (see prefilter.go): the literal every match contains (-1: none),
	// the occurrence it needs, and its automaton.
	lit  int32
	need uint8
	auto int32
}

func (m *strMatcher) String() string {
	switch m.kind {
	case strPrefix:
		return m.s + "*"
	case strSuffix:
		return "*" + m.s
	case strContains:
		return "*" + m.s + "*"
	case strGlob:
		return plain(m.glob)
	case strAny:
		return "*"
	}
	return m.s
}

// newStrMatcher builds the matcher of pieces, picking the fastest comparison their
// shape allows.
func newStrMatcher(ps []piece, cased bool) strMatcher {
	if !cased {
		for i := range ps {
			ps[i].lit = lower(ps[i].lit)
		}
	}
	m := strMatcher{cased: cased, lit: -1}
	n := len(ps)
	switch {
	case n == 0:
		m.kind = strExact
	case n == 1 && ps[0].wild == 0:
		m.kind, m.s = strExact, ps[0].lit
	case n == 1 && ps[0].wild == '*':
		m.kind = strAny
	case n == 2 && ps[0].wild == 0 && ps[1].wild == '*':
		m.kind, m.s = strPrefix, ps[0].lit
	case n == 2 && ps[0].wild == '*' && ps[1].wild == 0:
		m.kind, m.s = strSuffix, ps[1].lit
	case n == 3 && ps[0].wild == '*' && ps[1].wild == 0 && ps[2].wild == '*':
		m.kind, m.s = strContains, ps[1].lit
	default:
		m.kind, m.glob = strGlob, ps
	}
	return m
}

// match reports whether v (already lower-cased unless m is cased) matches.
func (m *strMatcher) match(v string) bool {
	switch m.kind {
	case strExact:
		return v == m.s
	case strPrefix:
		return strings.HasPrefix(v, m.s)
	case strSuffix:
		return strings.HasSuffix(v, m.s)
	case strContains:
		return strings.Contains(v, m.s)
	case strAny:
		return true
	}
	return globMatch(m.glob, v)
}

// globMatch matches v against pieces with * (any run) and ? (one character),
// backtracking only to the last *, which bounds the work by len(pattern)*len(v).
func globMatch(ps []piece, v string) bool {
	pi, vi := 0, 0
	starP, starV := -1, 0
	for {
		if pi < len(ps) {
			p := ps[pi]
			switch {
			case p.wild == '*':
				starP, starV = pi, vi
				pi++
				continue
			case p.wild == '?':
				if vi < len(v) {
					_, size := utf8.DecodeRuneInString(v[vi:])
					vi += size
					pi++
					continue
				}
			case strings.HasPrefix(v[vi:], p.lit):
				vi += len(p.lit)
				pi++
				continue
			}
		} else if vi == len(v) {
			return true
		}
		if starP < 0 || starV >= len(v) {
			return false
		}
		// Retry after the last * with one more character consumed by it.
		_, size := utf8.DecodeRuneInString(v[starV:])
		starV += size
		pi, vi = starP+1, starV
	}
}

// lower lower-cases s the way field values are lower-cased, without allocating when
// s is already lower case ASCII.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return strings.ToLower(s)
		}
	}
	return s
}

// appendLower appends s lower-cased to dst, as lower does.
func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			for _, r := range s[i:] {
				dst = utf8.AppendRune(dst, unicode.ToLower(r))
			}
			return dst
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// isLower reports whether s is unchanged by lower.
func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// windashChars are the dashes windash makes interchangeable: -, /, en dash, em dash,
// horizontal bar.
var windashChars = []string{"-", "/", "\u2013", "\u2014", "\u2015"}

// maxWindashVariants bounds the permutations one value may expand to.
const maxWindashVariants = 5 * 5 * 5 * 5

// windash expands a value into every permutation of its command-line dashes: a - or /
// that starts a flag (not preceded by a word character, followed by one), as pySigma
// places them.
func windash(s string) ([]string, error) {
	var at []int
	for i := 0; i < len(s); i++ {
		if s[i] != '-' && s[i] != '/' {
			continue
		}
		prevWord := i > 0 && isWordByte(s[i-1])
		nextWord := i+1 < len(s) && isWordByte(s[i+1])
		if !prevWord && nextWord {
			at = append(at, i)
		}
	}
	if len(at) == 0 {
		return []string{s}, nil
	}
	total := 1
	for range at {
		total *= len(windashChars)
		if total > maxWindashVariants {
			return nil, fmt.Errorf("windash: %q has too many dashes (%d variants at most)", s, maxWindashVariants)
		}
	}
	out := make([]string, 0, total)
	idx := make([]int, len(at))
	for {
		var b strings.Builder
		prev := 0
		for k, pos := range at {
			b.WriteString(s[prev:pos])
			b.WriteString(windashChars[idx[k]])
			prev = pos + 1
		}
		b.WriteString(s[prev:])
		out = append(out, b.String())
		k := len(idx) - 1
		for k >= 0 {
			idx[k]++
			if idx[k] < len(windashChars) {
				break
			}
			idx[k] = 0
			k--
		}
		if k < 0 {
			return out, nil
		}
	}
}

func isWordByte(c byte) bool {
	return c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c >= utf8.RuneSelf
}

// Encodings of the utf16 modifiers.
func utf16le(s string) string {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, x := range u {
		b = append(b, byte(x), byte(x>>8))
	}
	return string(b)
}

func utf16be(s string) string {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, x := range u {
		b = append(b, byte(x>>8), byte(x))
	}
	return string(b)
}

// base64Offsets returns the three base64 forms of s as it may appear inside a longer
// encoded text, at byte offsets 0, 1 and 2, with the characters that depend on the
// unknown neighbours cut, as pySigma computes them.
func base64Offsets(s string) []string {
	out := make([]string, 0, 3)
	for i := 0; i < 3; i++ {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, i), s...))
		start := []int{0, 2, 3}[i]
		end := len(enc) - []int{0, 3, 2}[(len(s)+i)%3]
		if start > end {
			start = end
		}
		out = append(out, enc[start:end])
	}
	return out
}
