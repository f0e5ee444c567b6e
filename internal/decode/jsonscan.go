package decode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

// FlattenJSON is Flatten straight from a JSON text: one pass over b that checks the
// syntax and adds the leaves, without building a tree. It accepts exactly what
// fastjson.Parser accepts and adds exactly the raw fields Flatten adds for the parsed
// value (the tests and FuzzFlattenJSON compare the two). On invalid JSON it returns
// ErrInvalidJSON, having possibly added some fields: the caller rejects the record
// (or re-parses it with fastjson for the parser's own error message).
//
// It also notes the members of a top-level object for Top and TopText.
func (f *Flattener) FlattenJSON(e *event.Event, prefix string, b []byte) error {
	f.name = append(f.name[:0], prefix...)
	f.left, f.maxValue, f.skip, f.last, f.track = math.MaxInt, math.MaxInt, "", "", false
	f.src = b
	f.top = f.top[:0]
	f.topKeys = f.topKeys[:0]
	i, ok := f.value(e, skipWSAt(b, 0), 0, true)
	f.src = nil
	if !ok || skipWSAt(b, i) != len(b) {
		return ErrInvalidJSON
	}
	return nil
}

// ErrInvalidJSON is returned by FlattenJSON for a text fastjson would not parse.
var ErrInvalidJSON = errors.New("invalid JSON")

// JSONKind is the type of a JSON value seen by FlattenJSON.
type JSONKind uint8

// Kinds of JSON values.
const (
	KindNone JSONKind = iota // absent
	KindString
	KindNumber
	KindTrue
	KindFalse
	KindNull
	KindObject
	KindArray
)

// TopMember is one member of the top-level object FlattenJSON read.
type TopMember struct {
	Kind JSONKind
	// Raw is the value's text as written: for a string, between the quotes and
	// still escaped (see Escaped); for the others, the whole value.
	Raw     []byte
	Escaped bool
	key     [2]int // span of the unescaped key in Flattener.topKeys
	rawKey  []byte // the key as written
}

// maxTopMembers bounds the top-level members noted per record, so a hostile record
// of millions of tiny members costs no more memory than its text.
const maxTopMembers = 1024

// Top returns the member of the top-level object named name that fastjson's Get
// returns on a freshly parsed object (the first whose key is written as name, else
// the first whose unescaped key is name), with KindNone when there is none or when it
// comes after the first maxTopMembers members (callers then use the parsed tree). Its
// Raw is valid until the bytes given to FlattenJSON change.
func (f *Flattener) Top(name string) TopMember {
	if indexBackslash([]byte(name)) < 0 {
		for _, m := range f.top {
			if string(m.rawKey) == name {
				return m
			}
		}
	}
	for _, m := range f.top {
		if string(f.topKeys[m.key[0]:m.key[1]]) == name {
			return m
		}
	}
	return TopMember{}
}

// TopText returns the text of a top-level member as Text does for the parsed value
// (strings unescaped, numbers as written, objects and arrays as compact JSON), backed
// by the arena; "" for null or absent.
func (f *Flattener) TopText(m TopMember) string {
	switch m.Kind {
	case KindString:
		if !m.Escaped {
			return f.Arena.String(m.Raw)
		}
		f.tmp = unescapeJSON(f.tmp[:0], m.Raw)
		return f.Arena.String(f.tmp)
	case KindNumber:
		return f.Arena.String(m.Raw)
	case KindTrue:
		return "true"
	case KindFalse:
		return "false"
	case KindObject, KindArray:
		v, err := f.sub.ParseBytes(m.Raw)
		if err != nil {
			return ""
		}
		return f.Text(v)
	}
	return ""
}

// TopString returns a top-level member's string value (unescaped; nil when it is not
// a string), like fastjson's GetStringBytes. It is valid until the next call.
func (f *Flattener) TopString(name string) []byte {
	m := f.Top(name)
	if m.Kind != KindString {
		return nil
	}
	if !m.Escaped {
		return m.Raw
	}
	f.tmp = unescapeJSON(f.tmp[:0], m.Raw)
	return f.tmp
}

// TopValue parses a top-level member with a parser of the Flattener's own, for the
// few values a normalizer needs as a tree; nil when absent. The value is valid until
// the next TopValue call.
func (f *Flattener) TopValue(name string) *fastjson.Value {
	m := f.Top(name)
	if m.Kind == KindNone {
		return nil
	}
	raw := m.Raw
	if m.Kind == KindString {
		f.tmp = append(append(append(f.tmp[:0], '"'), raw...), '"')
		raw = f.tmp
	}
	v, err := f.sub.ParseBytes(raw)
	if err != nil {
		return nil
	}
	return v
}

// Members reads the members of a record's top-level object from its parsed tree,
// or, when Tree is nil, from what FlattenJSON noted, so one normalizer serves the
// one-pass path and the tree path.
type Members struct {
	F    *Flattener
	Tree *fastjson.Value
}

// Kind is the kind of the member named name (KindNone when absent).
func (m Members) Kind(name string) JSONKind {
	if m.Tree == nil {
		return m.F.Top(name).Kind
	}
	return KindOf(m.Tree.Get(name))
}

// Text is the text of the member named name, as Flattener.Text gives it.
func (m Members) Text(name string) string {
	if m.Tree == nil {
		return m.F.TopText(m.F.Top(name))
	}
	return m.F.Text(m.Tree.Get(name))
}

// KindOf is the kind of a parsed value (KindNone for nil).
func KindOf(v *fastjson.Value) JSONKind {
	if v == nil {
		return KindNone
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return KindNull
	case fastjson.TypeObject:
		return KindObject
	case fastjson.TypeArray:
		return KindArray
	case fastjson.TypeString:
		return KindString
	case fastjson.TypeTrue:
		return KindTrue
	case fastjson.TypeFalse:
		return KindFalse
	}
	return KindNumber
}

// maxJSONDepth is fastjson's nesting limit (fastjson.MaxDepth): deeper texts are invalid.
const maxJSONDepth = fastjson.MaxDepth

// value reads the value at b[i] at nesting depth d (the root is 0), adding its leaves
// when emit is set, and returns the index just past it.
func (f *Flattener) value(e *event.Event, i, d int, emit bool) (int, bool) {
	b := f.src
	if i >= len(b) || d >= maxJSONDepth {
		return i, false
	}
	switch c := b[i]; c {
	case '{':
		if emit && d >= maxFlattenDepth {
			return f.deepLeaf(e, i, d)
		}
		return f.object(e, i, d, emit)
	case '[':
		if emit && d >= maxFlattenDepth {
			return f.deepLeaf(e, i, d)
		}
		i = skipWSAt(b, i+1)
		if i >= len(b) {
			return i, false
		}
		if b[i] == ']' {
			return i + 1, true
		}
		outer := f.elem
		for {
			var ok bool
			if emit {
				f.nextElem++
				f.elem = f.nextElem
			}
			if i, ok = f.value(e, skipWSAt(b, i), d+1, emit); !ok {
				return i, false
			}
			i = skipWSAt(b, i)
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case ',':
				i++
			case ']':
				f.elem = outer
				return i + 1, true
			default:
				return i, false
			}
		}
	case '"':
		end, esc, ok := stringEnd(b, i+1)
		if !ok {
			return end, false
		}
		if emit {
			f.stringLeaf(e, b[i+1:end-1], esc)
		}
		return end, true
	case 't':
		if !hasLiteral(b[i:], "true") {
			return i, false
		}
		if emit {
			f.literalLeaf(e, "true", KindTrue)
		}
		return i + 4, true
	case 'f':
		if !hasLiteral(b[i:], "false") {
			return i, false
		}
		if emit {
			f.literalLeaf(e, "false", KindFalse)
		}
		return i + 5, true
	case 'n':
		if hasLiteral(b[i:], "null") {
			return i + 4, true
		}
		if len(b)-i >= 3 && equalFold3(b[i:i+3], "nan") {
			if emit {
				f.numberLeaf(e, b[i:i+3])
			}
			return i + 3, true
		}
		return i, false
	}
	end, ok := numberEnd(b, i)
	if !ok {
		return i, false
	}
	if emit {
		f.numberLeaf(e, b[i:end])
	}
	return end, true
}

// object reads the object at b[i].
func (f *Flattener) object(e *event.Event, i, d int, emit bool) (int, bool) {
	b := f.src
	i = skipWSAt(b, i+1)
	if i >= len(b) {
		return i, false
	}
	if b[i] == '}' {
		return i + 1, true
	}
	base := len(f.name)
	for {
		i = skipWSAt(b, i)
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		kend, kesc, ok := stringEnd(b, i+1)
		if !ok {
			return kend, false
		}
		key := b[i+1 : kend-1]
		i = skipWSAt(b, kend)
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		i = skipWSAt(b, i+1)
		emitChild := emit
		if emit {
			if d == 0 && len(f.top) < maxTopMembers {
				ks := len(f.topKeys)
				if kesc {
					f.topKeys = unescapeJSON(f.topKeys, key)
				} else {
					f.topKeys = append(f.topKeys, key...)
				}
				f.top = append(f.top, TopMember{key: [2]int{ks, len(f.topKeys)}, rawKey: key})
				key = f.topKeys[ks:]
			} else if kesc {
				f.kbuf = unescapeJSON(f.kbuf[:0], key)
				key = f.kbuf
			}
			if f.skip != "" && string(key) == f.skip {
				emitChild = false
			} else {
				f.name = f.name[:base]
				if base > 0 {
					f.name = append(f.name, '.')
				}
				f.name = append(f.name, key...)
			}
		}
		vstart := i
		if i, ok = f.value(e, i, d+1, emitChild); !ok {
			return i, false
		}
		if emit && d == 0 && len(f.top) > 0 && f.top[len(f.top)-1].Kind == KindNone {
			t := &f.top[len(f.top)-1]
			t.Kind, t.Raw = topKind(b[vstart:i]), b[vstart:i]
			if t.Kind == KindString {
				t.Raw = t.Raw[1 : len(t.Raw)-1]
				t.Escaped = indexBackslash(t.Raw) >= 0
			}
		}
		i = skipWSAt(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			if emit {
				f.name = f.name[:base]
			}
			return i + 1, true
		default:
			return i, false
		}
	}
}

// topKind is the kind of the valid value starting at b[0].
func topKind(b []byte) JSONKind {
	switch b[0] {
	case '{':
		return KindObject
	case '[':
		return KindArray
	case '"':
		return KindString
	case 't':
		return KindTrue
	case 'f':
		return KindFalse
	case 'n':
		if hasLiteral(b, "null") {
			return KindNull
		}
	}
	return KindNumber
}

// deepLeaf keeps a value nested deeper than maxFlattenDepth whole, as its compact
// JSON text (as Flatten does with MarshalTo).
func (f *Flattener) deepLeaf(e *event.Event, i, d int) (int, bool) {
	end, ok := f.value(e, i, d, false)
	if !ok {
		return end, false
	}
	v, err := f.sub.ParseBytes(f.src[i:end])
	if err != nil {
		return end, false
	}
	if len(f.name) > 0 && f.take() {
		f.tmp = v.MarshalTo(f.tmp[:0])
		kind := KindObject
		if f.src[i] == '[' {
			kind = KindArray
		}
		f.add(e, f.tmp, kind)
	}
	return end, true
}

// take counts a leaf against the budget, reporting whether it is kept.
func (f *Flattener) take() bool {
	if f.left <= 0 {
		f.clipped = true
		return false
	}
	f.left--
	return true
}

func (f *Flattener) stringLeaf(e *event.Event, raw []byte, esc bool) {
	if len(f.name) == 0 || !f.take() {
		return
	}
	if esc {
		f.tmp = unescapeJSON(f.tmp[:0], raw)
		raw = f.tmp
	}
	f.add(e, raw, KindString)
}

func (f *Flattener) numberLeaf(e *event.Event, raw []byte) {
	if len(f.name) == 0 || !f.take() {
		return
	}
	f.add(e, raw, KindNumber)
}

func (f *Flattener) literalLeaf(e *event.Event, lit string, kind JSONKind) {
	if len(f.name) == 0 || !f.take() {
		return
	}
	f.addLiteral(e, lit, kind)
}

// skipWSAt returns the index of the first byte at or after i that is not JSON
// whitespace (space, tab, CR, LF), as fastjson skips it.
func skipWSAt(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the closing quote of the string whose
// contents start at b[i], and whether it holds a backslash.
func stringEnd(b []byte, i int) (end int, esc, ok bool) {
	// Eight bytes at a time: find the first quote or backslash with word
	// arithmetic (most keys and values are short and hold no backslash).
	start := i
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if m := hasByte(x, '"') | hasByte(x, '\\'); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
			if b[i] == '"' {
				return i + 1, false, true
			}
			return stringEndEsc(b, start, i)
		}
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			return i + 1, false, true
		case '\\':
			return stringEndEsc(b, start, i)
		}
	}
	return len(b), false, false
}

// hasByte returns a word with the high bit set in the bytes of x equal to c; the
// lowest such bit is exact (higher ones may be false after a match).
func hasByte(x uint64, c byte) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	y := x ^ (lo * uint64(c))
	return (y - lo) &^ y & hi
}

// stringEndEsc is stringEnd for a string (contents from start) known to hold a
// backslash at or after i: each quote is found with a vectorised search, and it
// closes the string when an even number of backslashes precedes it.
func stringEndEsc(b []byte, start, i int) (end int, esc, ok bool) {
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b), true, false
		}
		q += i
		j := q
		for j > start && b[j-1] == '\\' {
			j--
		}
		if (q-j)%2 == 0 {
			return q + 1, true, true
		}
		i = q + 1
	}
}

func hasLiteral(b []byte, lit string) bool {
	return len(b) >= len(lit) && string(b[:len(lit)]) == lit
}

func equalFold3(b []byte, s string) bool {
	for i := 0; i < 3; i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// numberEnd returns the end of the number at b[i] as fastjson delimits it: a run of
// digits, '.', '-', '+', 'e', 'E', or an optionally signed inf/nan.
func numberEnd(b []byte, i int) (int, bool) {
	start := i
	for ; i < len(b); i++ {
		c := b[i]
		if (c >= '0' && c <= '9') || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+' {
			continue
		}
		n := i - start
		if n == 0 || n == 1 && (b[start] == '-' || b[start] == '+') {
			if len(b)-i >= 3 && (equalFold3(b[i:i+3], "inf") || equalFold3(b[i:i+3], "nan")) {
				return i + 3, true
			}
			return i, false
		}
		return i, true
	}
	return i, true
}

// unescapeJSON appends the unescaped form of the string contents s to dst, with
// fastjson's best-effort rules (invalid escapes are kept as written), so values match
// what fastjson's StringBytes returns.
func unescapeJSON(dst, s []byte) []byte {
	// The runs between backslashes are copied whole and the one-letter escapes
	// decoded here; from the first other escape on, unescapeJSONSlow does the rest.
	for {
		n := bytes.IndexByte(s, '\\')
		if n < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:n]...)
		if n+1 == len(s) {
			return unescapeJSONSlow(dst, s[n:])
		}
		var c byte
		switch s[n+1] {
		case '"', '\\', '/':
			c = s[n+1]
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		default:
			return unescapeJSONSlow(dst, s[n:])
		}
		dst = append(dst, c)
		s = s[n+2:]
	}
}

// unescapeJSONSlow is unescapeJSON one escape at a time, with every rule
// (\u escapes, surrogate pairs, invalid escapes kept as written).
func unescapeJSONSlow(dst, s []byte) []byte {
	for len(s) > 0 {
		n := indexBackslash(s)
		if n < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:n]...)
		s = s[n+1:]
		if len(s) == 0 {
			return dst
		}
		ch := s[0]
		s = s[1:]
		switch ch {
		case '"':
			dst = append(dst, '"')
		case '\\':
			dst = append(dst, '\\')
		case '/':
			dst = append(dst, '/')
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			if len(s) < 4 {
				dst = append(dst, `\u`...)
				break
			}
			xs := s[:4]
			x, err := strconv.ParseUint(string(xs), 16, 16)
			if err != nil {
				dst = append(dst, `\u`...)
				break
			}
			s = s[4:]
			if !utf16.IsSurrogate(rune(x)) {
				dst = append(dst, string(rune(x))...)
				break
			}
			if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
				dst = append(dst, `\u`...)
				dst = append(dst, xs...)
				break
			}
			x1, err := strconv.ParseUint(string(s[2:6]), 16, 16)
			if err != nil {
				dst = append(dst, `\u`...)
				dst = append(dst, xs...)
				break
			}
			dst = append(dst, string(utf16.DecodeRune(rune(x), rune(x1)))...)
			s = s[6:]
		default:
			dst = append(dst, '\\', ch)
		}
	}
	return dst
}

func indexBackslash(s []byte) int {
	for i, c := range s {
		if c == '\\' {
			return i
		}
	}
	return -1
}

// SkipJSONSpace returns the index of the first byte of b at or after i that is not
// JSON whitespace, as fastjson skips it.
func SkipJSONSpace(b []byte, i int) int { return skipWSAt(b, i) }

// JSONStringEnd returns the index just past the closing quote of the string whose
// contents start at b[i], whether it holds a backslash, and whether it is closed:
// the string fastjson reads there.
func JSONStringEnd(b []byte, i int) (end int, esc, ok bool) { return stringEnd(b, i) }

// JSONNumberEnd returns the end of the number at b[i] as fastjson delimits it.
func JSONNumberEnd(b []byte, i int) (int, bool) { return numberEnd(b, i) }

// AppendUnescapedJSON appends the unescaped form of the string contents s to dst,
// as fastjson's StringBytes unescapes them (invalid escapes kept as written).
func AppendUnescapedJSON(dst, s []byte) []byte { return unescapeJSON(dst, s) }
