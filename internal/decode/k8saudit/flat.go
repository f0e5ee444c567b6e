package k8saudit

import (
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// maxDepth bounds recursion into nested JSON; deeper values are kept whole as JSON text.
const maxDepth = 16

// walker flattens JSON into dotted raw fields like decode.Flattener, but within a
// budget of leaves per subtree and with long values clipped, so one huge
// requestObject cannot crowd out the fields rules need. It shares the Flattener's key
// cache and arena.
type walker struct {
	fl       *decode.Flattener
	name     []byte
	tmp      []byte
	left     int    // leaves still allowed in the subtree being walked
	maxValue int    // longest value kept, bytes
	skip     bool   // skip "managedFields" objects (server-side apply bookkeeping)
	clipped  bool   // a leaf was dropped or a value shortened
	last     string // the text of the last string or number leaf added

	// Records of one stream mostly have the same shape, so the n-th leaf of a record
	// usually has the same name as the n-th leaf of the previous one: comparing with
	// it is cheaper than the KeyCache's map lookup.
	pos   int
	names []posKey
}

// posWindow is how far from its expected position walker.key looks for a name.
const posWindow = 3

type posKey struct {
	name string
	key  event.Key
}

// begin starts a new record.
func (w *walker) begin() {
	w.pos = 0
	w.clipped = false
}

// key returns the interned key of the current name.
func (w *walker) key() event.Key {
	i := w.pos
	w.pos++
	if i < len(w.names) && w.names[i].name == string(w.name) {
		return w.names[i].key
	}
	// An optional field present or absent shifts the sequence a little: look nearby
	// and resynchronise.
	for j := max(0, i-posWindow); j < min(len(w.names), i+posWindow+1); j++ {
		if w.names[j].name == string(w.name) {
			w.pos = j + 1
			return w.names[j].key
		}
	}
	k := w.fl.Keys.Key(w.name)
	switch {
	case i < len(w.names):
		w.names[i] = posKey{k.Value(), k}
	case i == len(w.names) && i < event.MaxRawFields:
		w.names = append(w.names, posKey{k.Value(), k})
	}
	return k
}

// walk adds the leaves of v under prefix to e, at most budget of them.
func (w *walker) walk(e *event.Event, prefix []byte, v *fastjson.Value, budget, maxValue int, skip bool) {
	w.name = append(w.name[:0], prefix...)
	w.left, w.maxValue, w.skip, w.last = budget, maxValue, skip, ""
	w.visit(e, v, 0)
}

func (w *walker) visit(e *event.Event, v *fastjson.Value, depth int) {
	switch v.Type() {
	case fastjson.TypeObject:
		if depth >= maxDepth {
			w.leaf(e, v)
			return
		}
		o, _ := v.Object()
		base := len(w.name)
		o.Visit(func(k []byte, child *fastjson.Value) {
			if w.skip && string(k) == "managedFields" {
				return
			}
			w.name = w.name[:base]
			if base > 0 {
				w.name = append(w.name, '.')
			}
			w.name = append(w.name, k...)
			w.visit(e, child, depth+1)
		})
		w.name = w.name[:base]
	case fastjson.TypeArray:
		if depth >= maxDepth {
			w.leaf(e, v)
			return
		}
		a, _ := v.Array()
		for _, child := range a {
			w.visit(e, child, depth+1)
		}
	case fastjson.TypeNull:
	default:
		w.leaf(e, v)
	}
}

func (w *walker) leaf(e *event.Event, v *fastjson.Value) {
	if len(w.name) == 0 {
		return
	}
	if w.left <= 0 {
		w.clipped = true
		return
	}
	w.left--
	var b []byte
	switch v.Type() {
	case fastjson.TypeString:
		b, _ = v.StringBytes()
	case fastjson.TypeTrue:
		e.AddRaw(w.key(), "true")
		return
	case fastjson.TypeFalse:
		e.AddRaw(w.key(), "false")
		return
	default:
		w.tmp = v.MarshalTo(w.tmp[:0])
		b = w.tmp
	}
	if len(b) > w.maxValue {
		b = clip(b, w.maxValue)
		w.clipped = true
	}
	w.last = w.fl.Arena.String(b)
	e.AddRaw(w.key(), w.last)
}

// clip shortens b to at most n bytes without splitting a UTF-8 sequence.
func clip(b []byte, n int) []byte {
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
