package decode

import (
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
type Flattener struct {
	Keys  KeyCache
	Arena Arena
	name  []byte
	tmp   []byte
}

// Flatten adds every leaf of v under prefix (which may be empty) to e.Raw.
// null values are skipped: for Sigma a null field and an absent one match alike.
func (f *Flattener) Flatten(e *event.Event, prefix string, v *fastjson.Value) {
	f.name = append(f.name[:0], prefix...)
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
	e.AddRaw(f.Keys.Key(f.name), f.Text(v))
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
