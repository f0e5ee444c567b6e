package decode

import (
	"math"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

// maxFlattenDepth bounds recursion into nested JSON; deeper values are kept whole as
// their JSON text under the last key reached.
const maxFlattenDepth = 16

// Flattener turns nested JSON into raw fields with dotted names
// ("requestParameters.bucketName"); arrays become repeated fields. It keeps its
// buffers between records, so one Flattener per stream makes no garbage per field
// beyond the arena's chunks.
//
// Records of one stream mostly have the same shape, so the n-th leaf of a record
// usually has the same name as the n-th leaf of the previous one: the Flattener
// remembers the names by position and compares with them before asking the
// KeyCache. Call Begin at the start of each record so positions line up.
type Flattener struct {
	Keys  KeyCache
	Arena Arena
	name  []byte
	tmp   []byte

	// Limits of the walk in progress (see FlattenLimited).
	left     int    // leaves still allowed in the subtree being walked
	maxValue int    // longest value kept, bytes
	skip     string // object member names not descended into
	clipped  bool   // a leaf was dropped or a value shortened since Begin
	track    bool   // keep last (FlattenLimited only: a pointer write per leaf costs)
	last     string // the text of the last string or number leaf added

	pos   int
	names []posKey

	// FlattenJSON's state.
	src     []byte          // the text being read
	kbuf    []byte          // an unescaped key
	top     []TopMember     // members of the top-level object
	topKeys []byte          // their unescaped names
	sub     fastjson.Parser // for values read as trees (deep leaves, TopValue)
}

// posWindow is how far from its expected position the positional cache looks for a name.
const posWindow = 3

type posKey struct {
	name string
	key  event.Key
}

// Limit bounds one FlattenLimited call.
type Limit struct {
	MaxLeaves int    // leaves kept at most; more are dropped (0: no limit)
	MaxValue  int    // longest value kept, bytes; longer ones are clipped (0: no limit)
	Skip      string // a member name whose objects are not flattened ("" skips nothing)
}

// Begin starts a new record: positions restart and Clipped is cleared.
func (f *Flattener) Begin() {
	f.pos = 0
	f.clipped = false
}

// Clipped reports whether a leaf was dropped or a value shortened since Begin.
func (f *Flattener) Clipped() bool { return f.clipped }

// Last returns the text of the last string or number leaf the previous
// FlattenLimited call added ("" when it added none).
func (f *Flattener) Last() string { return f.last }

// Flatten adds every leaf of v under prefix (which may be empty) to e.Raw.
// null values are skipped: for Sigma a null field and an absent one match alike.
func (f *Flattener) Flatten(e *event.Event, prefix string, v *fastjson.Value) {
	f.name = append(f.name[:0], prefix...)
	f.left, f.maxValue, f.skip, f.last, f.track = math.MaxInt, math.MaxInt, "", "", false
	f.flatten(e, v, 0)
}

// FlattenLimited is Flatten within lim: past lim.MaxLeaves leaves are dropped, values
// longer than lim.MaxValue are clipped (at a UTF-8 boundary), objects under the member
// name lim.Skip are left out; dropping or clipping sets Clipped.
func (f *Flattener) FlattenLimited(e *event.Event, prefix []byte, v *fastjson.Value, lim Limit) {
	f.name = append(f.name[:0], prefix...)
	f.left, f.maxValue, f.skip, f.last, f.track = lim.MaxLeaves, lim.MaxValue, lim.Skip, "", true
	if f.left <= 0 {
		f.left = math.MaxInt
	}
	if f.maxValue <= 0 {
		f.maxValue = math.MaxInt
	}
	f.flatten(e, v, 0)
}

func (f *Flattener) flatten(e *event.Event, v *fastjson.Value, depth int) {
	switch v.Type() {
	case fastjson.TypeObject:
		if depth >= maxFlattenDepth {
			f.leaf(e, v)
			return
		}
		o, _ := v.Object()
		base := len(f.name)
		o.Visit(func(k []byte, child *fastjson.Value) {
			if f.skip != "" && string(k) == f.skip {
				return
			}
			f.name = f.name[:base]
			if base > 0 {
				f.name = append(f.name, '.')
			}
			f.name = append(f.name, k...)
			f.flatten(e, child, depth+1)
		})
		f.name = f.name[:base]
	case fastjson.TypeArray:
		if depth >= maxFlattenDepth {
			f.leaf(e, v)
			return
		}
		a, _ := v.Array()
		for _, child := range a {
			f.flatten(e, child, depth+1)
		}
	case fastjson.TypeNull:
	default:
		f.leaf(e, v)
	}
}

func (f *Flattener) leaf(e *event.Event, v *fastjson.Value) {
	if len(f.name) == 0 {
		return
	}
	if f.left <= 0 {
		f.clipped = true
		return
	}
	f.left--
	var b []byte
	switch v.Type() {
	case fastjson.TypeString:
		b, _ = v.StringBytes()
	case fastjson.TypeTrue:
		e.AddRaw(f.key(), "true")
		return
	case fastjson.TypeFalse:
		e.AddRaw(f.key(), "false")
		return
	default:
		f.tmp = v.MarshalTo(f.tmp[:0])
		b = f.tmp
	}
	if len(b) > f.maxValue {
		b = ClipUTF8(b, f.maxValue)
		f.clipped = true
	}
	text := f.Arena.String(b)
	if f.track {
		f.last = text
	}
	e.AddRaw(f.key(), text)
}

// key returns the interned key of the current name, from the positional cache when
// the name is where it was in the previous record.
func (f *Flattener) key() event.Key {
	i := f.pos
	f.pos++
	if i < len(f.names) && f.names[i].name == string(f.name) {
		return f.names[i].key
	}
	// An optional field present or absent shifts the sequence a little: look nearby
	// and resynchronise.
	for j := max(0, i-posWindow); j < min(len(f.names), i+posWindow+1); j++ {
		if f.names[j].name == string(f.name) {
			f.pos = j + 1
			return f.names[j].key
		}
	}
	k := f.Keys.Key(f.name)
	switch {
	case i < len(f.names):
		f.names[i] = posKey{k.Value(), k}
	case i == len(f.names) && i < event.MaxRawFields:
		f.names = append(f.names, posKey{k.Value(), k})
	}
	return k
}

// ClipUTF8 shortens b to at most n bytes without splitting a UTF-8 sequence.
func ClipUTF8(b []byte, n int) []byte {
	b = b[:n]
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		r, size := utf8.DecodeLastRune(b)
		if r != utf8.RuneError || size > 1 {
			break
		}
		b = b[:len(b)-1]
	}
	return b
}

// Text returns a scalar's text (strings unquoted, numbers as written, true/false),
// or the JSON text of an object or array, backed by the arena.
func (f *Flattener) Text(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return f.Arena.String(b)
	case fastjson.TypeTrue:
		return "true"
	case fastjson.TypeFalse:
		return "false"
	case fastjson.TypeNull:
		return ""
	}
	f.tmp = v.MarshalTo(f.tmp[:0])
	return f.Arena.String(f.tmp)
}

// Str returns the text of the field at the key path in v, "" when absent or null.
func (f *Flattener) Str(v *fastjson.Value, keys ...string) string {
	c := v.Get(keys...)
	if c == nil {
		return ""
	}
	return f.Text(c)
}
