package decode

import (
	"math"
	"unicode/utf8"
	"unsafe"

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
	xbuf  []byte // a leaf's transformed text

	// Limits of the walk in progress (see FlattenLimited).
	left     int    // leaves still allowed in the subtree being walked
	maxValue int    // longest value kept, bytes
	skip     string // object member names not descended into
	clipped  bool   // a leaf was dropped or a value shortened since Begin
	track    bool   // keep last (FlattenLimited only: a pointer write per leaf costs)
	last     string // the text of the last string or number leaf added

	pos   int
	names []posKey

	// Map, when set, decides per dotted name how leaves are added and noted (see
	// FieldRule); its answers are cached per name.
	Map   Mapper
	rules []FieldRule // Map's answers, indexed by KeyCache aux - 1
	extra FieldRule   // the rule of a name past the positional cache's end
	// Marks are the leaves noted since Begin, in document order (see FieldRule.Mark).
	Marks    []Marked
	stopped  bool  // a leaf's rule had Stop
	elem     int32 // the array element being read (0: none)
	nextElem int32 // the last element number handed out since Begin

	// FlattenJSON's state.
	src     []byte          // the text being read
	kbuf    []byte          // an unescaped key
	top     []TopMember     // members of the top-level object
	topKeys []byte          // their unescaped names
	sub     fastjson.Parser // for values read as trees (deep leaves, TopValue)
}

type posKey struct {
	name string
	key  event.Key
	rule FieldRule
}

// FieldRule says what the Flattener does with the leaves of one dotted name.
type FieldRule struct {
	// Key is the raw field the leaves are added under; the zero Key means the
	// dotted name itself.
	Key event.Key
	// Drop leaves the leaves out of e.Raw (the decoder reads them from Marks).
	Drop bool
	// Mark, when non-zero, notes each leaf in Marks under this tag, so a
	// normalizer reads the fields it needs without scanning e.Raw.
	Mark uint16
	// Stop says the decoder cannot take this name in its usual way: Stopped
	// reports it after the walk (the decoder then takes another path).
	Stop bool
	// Transform, when set, rewrites a string or number leaf's text (dst is
	// scratch to append to) before it is added and noted.
	Transform func(dst, v []byte) []byte
}

// Mapper returns the rule for a dotted name. A Flattener asks once per name and
// caches the answer, so a Mapper may take its time; it must depend on name only.
type Mapper func(name []byte) FieldRule

// Marked is a leaf noted for its rule's Mark.
type Marked struct {
	Tag  uint16
	Kind JSONKind // KindString, KindNumber, KindTrue, KindFalse, or KindObject/KindArray for a value kept whole
	// Elem numbers the innermost array element holding the leaf: 0 outside
	// arrays, else a number shared by the leaves of that element only, so the
	// members of one object in an array can be told apart from another's.
	Elem  int32
	Value string // the text added (or that would have been, for Drop), arena-backed
}

// maxMarks bounds the leaves noted per record, so a hostile record of endless
// marked leaves costs no more than the raw fields it fills.
const maxMarks = event.MaxRawFields

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
	f.Marks = f.Marks[:0]
	f.stopped = false
	f.elem, f.nextElem = 0, 0
}

// Stopped reports whether a leaf whose rule has Stop was met since Begin.
func (f *Flattener) Stopped() bool { return f.stopped }

// Mark returns the first leaf noted with tag outside arrays since Begin, and whether there is one.
func (f *Flattener) Mark(tag uint16) (Marked, bool) {
	for _, m := range f.Marks {
		if m.Tag == tag && m.Elem == 0 {
			return m, true
		}
	}
	return Marked{}, false
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
		outer := f.elem
		for _, child := range a {
			f.nextElem++
			f.elem = f.nextElem
			f.flatten(e, child, depth+1)
		}
		f.elem = outer
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
	kind := KindString
	switch v.Type() {
	case fastjson.TypeString:
		b, _ = v.StringBytes()
	case fastjson.TypeTrue:
		f.addLiteral(e, "true", KindTrue)
		return
	case fastjson.TypeFalse:
		f.addLiteral(e, "false", KindFalse)
		return
	case fastjson.TypeNumber:
		kind = KindNumber
		f.tmp = v.MarshalTo(f.tmp[:0])
		b = f.tmp
	case fastjson.TypeArray:
		kind = KindArray
		f.tmp = v.MarshalTo(f.tmp[:0])
		b = f.tmp
	default:
		kind = KindObject
		f.tmp = v.MarshalTo(f.tmp[:0])
		b = f.tmp
	}
	f.add(e, b, kind)
}

// add adds a leaf's text under the current name, after its rule's Transform, with
// the value clipped to the walk's limit, and notes it when its rule says so.
func (f *Flattener) add(e *event.Event, b []byte, kind JSONKind) {
	k, r := f.key()
	if r.Transform != nil && (kind == KindString || kind == KindNumber) {
		f.xbuf = r.Transform(f.xbuf[:0], b)
		b = f.xbuf
	}
	if len(b) > f.maxValue {
		b = ClipUTF8(b, f.maxValue)
		f.clipped = true
	}
	text := f.Arena.String(b)
	if f.track {
		f.last = text
	}
	if r.Mark != 0 {
		f.mark(r.Mark, kind, text)
	}
	if !r.Drop {
		e.AddRaw(k, text)
	}
}

// addLiteral adds true or false under the current name.
func (f *Flattener) addLiteral(e *event.Event, lit string, kind JSONKind) {
	k, r := f.key()
	if r.Mark != 0 {
		f.mark(r.Mark, kind, lit)
	}
	if !r.Drop {
		e.AddRaw(k, lit)
	}
}

// mark notes a leaf under tag.
func (f *Flattener) mark(tag uint16, kind JSONKind, text string) {
	if len(f.Marks) < maxMarks {
		f.Marks = append(f.Marks, Marked{Tag: tag, Kind: kind, Elem: f.elem, Value: text})
	}
}

// key returns the key the current name's leaves are added under and the name's
// rule (noting Stop), from the positional cache when the name is where it was in the
// previous record. The rule is valid until the next call.
func (f *Flattener) key() (event.Key, *FieldRule) {
	i := f.pos
	f.pos++
	if i < len(f.names) && f.names[i].name == string(f.name) {
		return f.hit(i)
	}
	// An optional field present or absent, or an array of another length, shifts
	// the sequence: the name's last position, kept in its KeyCache slot, says
	// where to resynchronise.
	k, slot := f.Keys.keySlot(f.name)
	if slot != nil && slot.pos > 0 {
		if j := int(slot.pos) - 1; j < len(f.names) && f.names[j].name == string(f.name) {
			f.pos = j + 1
			return f.hit(j)
		}
	}
	pk := posKey{name: k.Value(), key: k}
	var aux *int32
	if slot != nil {
		aux = &slot.aux
	}
	if f.Map != nil {
		pk.rule = f.ruleOf(k, aux)
		if pk.rule.Key != (event.Key{}) {
			pk.key = pk.rule.Key
		}
	}
	f.stopped = f.stopped || pk.rule.Stop
	switch {
	case i < len(f.names):
		f.names[i] = pk
		if slot != nil {
			slot.pos = int32(i) + 1
		}
	case i == len(f.names) && i < event.MaxRawFields:
		f.names = append(f.names, pk)
		if slot != nil {
			slot.pos = int32(i) + 1
		}
	default:
		f.extra = pk.rule
		return pk.key, &f.extra
	}
	return pk.key, &f.names[i].rule
}

// hit returns the key and rule of positional cache entry i.
func (f *Flattener) hit(i int) (event.Key, *FieldRule) {
	p := &f.names[i]
	if p.rule.Stop {
		f.stopped = true
	}
	return p.key, &p.rule
}

// ruleOf returns Map's rule for the current name, cached with the name's key.
func (f *Flattener) ruleOf(k event.Key, aux *int32) FieldRule {
	if aux != nil && *aux > 0 {
		return f.rules[*aux-1]
	}
	name := k.Value()
	r := f.Map(unsafe.Slice(unsafe.StringData(name), len(name))) // #nosec G103 -- read only
	if aux != nil {
		f.rules = append(f.rules, r)
		*aux = int32(len(f.rules))
	}
	return r
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
