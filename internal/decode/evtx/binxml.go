package evtx

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// BinXML tokens (the 0x40 bit marks "has more data": attributes follow, or
// another attribute follows).
const (
	tokEOF           = 0x00
	tokOpenStart     = 0x01
	tokCloseStart    = 0x02
	tokCloseEmpty    = 0x03
	tokEndElement    = 0x04
	tokValue         = 0x05
	tokAttribute     = 0x06
	tokCDATA         = 0x07
	tokCharRef       = 0x08
	tokEntityRef     = 0x09
	tokPITarget      = 0x0a
	tokPIData        = 0x0b
	tokTemplate      = 0x0c
	tokSubst         = 0x0d
	tokOptSubst      = 0x0e
	tokFragmentStart = 0x0f
	tokMoreBit       = 0x40
)

// Limits that keep hostile input cheap.
const (
	maxDepth        = 8  // nested BinXML levels (substitution values of type BinXml)
	maxElementDepth = 64 // element nesting inside one template
)

var (
	errTruncated = errors.New("data cut by the end of the stream")
	errBounds    = errors.New("reference outside the chunk")
)

// section is where an element sits in the event document; it decides the raw
// field names of the leaves and attributes below it.
type section uint8

const (
	secRoot       section = iota // expecting <Event>
	secEvent                     // children of <Event>: System, EventData, UserData, ...
	secSystem                    // children of <System>
	secSystemDeep                // below a System child
	secEventData                 // children of <EventData>: Data Name="X", Binary
	secLeaves                    // UserData and others: each leaf by its own name
	secSkip                      // RenderingInfo: nothing kept
)

// special marks plan fields whose values the decoder also needs.
type special uint8

const (
	spNone special = iota
	spTime
	spRecordID
)

type opKind uint8

const (
	opField  opKind = iota // emit a raw field
	opNested               // walk the substitution when it holds BinXML
)

// op is one step of a compiled template plan.
type op struct {
	kind   opKind
	attr   bool    // the field is an attribute: omitted when its value is null or empty
	sp     special // TimeCreated or EventRecordID
	child  section // section of BinXML found in the value
	sub    int32   // >= 0: the value is exactly this substitution
	keySub int32   // >= 0: the key is the text of this substitution (<Data Name="%n">)
	p0, p1 int32   // parts[p0:p1]: a value mixing text and substitutions
	key    event.Key
	static string // the value when it is only text
}

// part is one piece of mixed content: text, or a substitution when sub >= 0.
type part struct {
	sub  int32
	text string
}

// plan is a compiled template definition: what to emit for each record using it.
type plan struct {
	ops   []op
	parts []part
}

// subValue is one entry of a template instance's substitution array.
type subValue struct {
	off  int32 // chunk offset of the value bytes
	size int32
	typ  uint8
}

// frame is an open element while compiling.
type frame struct {
	name   event.Key
	parent section // section the element is in
	child  section // section of its children
	leaf   bool    // no child element seen yet
	hasKey bool    // key set from a Name attribute
	key    event.Key
	keySub int32
	p0     int // its content parts start at binxml.cparts[p0]
}

// binxml holds the per-chunk template plans and the scratch state of the
// record being decoded.
type binxml struct {
	keys  *decode.KeyCache
	arena *decode.Arena

	c       []byte // the current chunk
	partial bool   // the stream ended inside this chunk
	plans   map[uint64]*plan
	failed  map[uint64]error // templates that did not compile, by plans key
	pool    []*plan          // plans reused from chunk to chunk
	used    int
	raw     plan // plan of a record written without a template
	subs    [maxDepth + 1][]subValue
	scratch []byte

	// compile scratch
	stack  []frame
	cparts []part // content parts of open elements
	aparts []part // parts of the attribute being read
	inAttr bool
	attr   event.Key
	name   []byte

	// per record
	e        *event.Event
	timeFT   uint64
	hasFT    bool
	timeText string
	recordID uint64

	kData, kName, kEvent, kSystem, kEventData, kUserData, kRendering event.Key
	kTimeCreated, kSystemTime, kExecution, kProcessID, kThreadID     event.Key
	kEventRecordID, kEventID, kQualifiers                            event.Key
}

func (b *binxml) init(keys *decode.KeyCache, arena *decode.Arena) {
	b.keys, b.arena = keys, arena
	b.plans = make(map[uint64]*plan, 64)
	b.failed = make(map[uint64]error)
	k := keys.KeyString
	b.kData, b.kName, b.kEvent, b.kSystem = k("Data"), k("Name"), k("Event"), k("System")
	b.kEventData, b.kUserData, b.kRendering = k("EventData"), k("UserData"), k("RenderingInfo")
	b.kTimeCreated, b.kSystemTime, b.kExecution = k("TimeCreated"), k("SystemTime"), k("Execution")
	b.kProcessID, b.kThreadID, b.kEventRecordID = k("ProcessID"), k("ThreadID"), k("EventRecordID")
	b.kEventID, b.kQualifiers = k("EventID"), k("Qualifiers")
}

// startChunk drops the previous chunk's plans.
func (b *binxml) startChunk(c []byte, partial bool) {
	b.c, b.partial = c, partial
	clear(b.plans)
	clear(b.failed)
	b.used = 0
}

// bounds returns the error for a read past end.
func (b *binxml) bounds(what string, pos, n, end int) error {
	if b.partial && pos+n > len(b.c) {
		return fmt.Errorf("%s at chunk offset %d: %w", what, pos, errTruncated)
	}
	return fmt.Errorf("%s at chunk offset %d (%d bytes, limit %d): %w", what, pos, n, end, errBounds)
}

// record decodes the BinXML of one record, c[start:end], into e.
func (b *binxml) record(e *event.Event, start, end int) error {
	b.e = e
	b.hasFT, b.timeText, b.recordID = false, "", 0
	return b.fragment(start, end, secRoot, 0)
}

// timestamp returns the event time: System/TimeCreated, else the record's
// written time.
func (b *binxml) timestamp(written uint64) (time.Time, error) {
	if b.hasFT {
		if t, err := decode.CheckTime(filetime(b.timeFT)); err == nil {
			return t, nil
		}
	} else if b.timeText != "" {
		if t, err := decode.ParseTime(b.timeText); err == nil {
			return t, nil
		}
	}
	t, err := decode.CheckTime(filetime(written))
	if err != nil {
		return time.Time{}, fmt.Errorf("no valid TimeCreated and written time: %w", err)
	}
	return t, nil
}

// fragment walks one BinXML fragment: a template instance, or elements written
// without a template.
func (b *binxml) fragment(pos, end int, sec section, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("BinXML nested deeper than %d levels", maxDepth)
	}
	c := b.c
	if pos < end && c[pos] == tokFragmentStart {
		pos += 4
	}
	if pos >= end {
		if pos > end {
			return b.bounds("fragment header", pos-4, 4, end)
		}
		return nil
	}
	switch c[pos] {
	case tokTemplate:
		return b.instance(pos, end, sec, depth)
	case tokOpenStart, tokOpenStart | tokMoreBit:
		b.raw.ops, b.raw.parts = b.raw.ops[:0], b.raw.parts[:0]
		if err := b.compile(&b.raw, pos, end, sec, false); err != nil {
			return err
		}
		return b.apply(&b.raw, nil, depth)
	case tokEOF:
		return nil
	}
	return fmt.Errorf("unexpected BinXML token 0x%02x at chunk offset %d", c[pos], pos)
}

// instance applies the template instance at c[pos].
func (b *binxml) instance(pos, end int, sec section, depth int) error {
	c := b.c
	if pos+10 > end {
		return b.bounds("template instance", pos, 10, end)
	}
	def := int(le32(c, pos+6))
	p := pos + 10
	if def == p { // the definition follows inline: skip it
		if p+24 > end {
			return b.bounds("template definition", p, 24, end)
		}
		size := int(le32(c, p+20))
		if size > end-p-24 {
			return b.bounds("template definition", p, 24+size, end)
		}
		p += 24 + size
	}
	pl, err := b.planFor(def, sec)
	if err != nil {
		return err
	}
	if p+4 > end {
		return b.bounds("substitution count", p, 4, end)
	}
	n := int(le32(c, p))
	p += 4
	if n > (end-p)/4 {
		return fmt.Errorf("substitution count %d exceeds the record (%d bytes left)", n, end-p)
	}
	subs := b.subs[depth][:0]
	v := p + 4*n
	for i := 0; i < n; i++ {
		size := int(le16(c, p+4*i))
		if v+size > end {
			return b.bounds("substitution value", v, size, end)
		}
		subs = append(subs, subValue{off: int32(v), size: int32(size), typ: c[p+4*i+2]})
		v += size
	}
	b.subs[depth] = subs
	return b.apply(pl, subs, depth)
}

// planFor returns the compiled plan of the template defined at chunk offset def,
// compiling it on first use in this chunk.
func (b *binxml) planFor(def int, sec section) (*plan, error) {
	k := uint64(def)<<8 | uint64(sec)
	if pl, ok := b.plans[k]; ok {
		return pl, nil
	}
	if err, ok := b.failed[k]; ok {
		return nil, err // compiled once per chunk, failure included
	}
	pl, err := b.compileAt(def, sec)
	if err != nil {
		b.failed[k] = err
		return nil, err
	}
	b.plans[k] = pl
	return pl, nil
}

// compileAt compiles the template definition at chunk offset def.
func (b *binxml) compileAt(def int, sec section) (*plan, error) {
	c := b.c
	if def < 0 || def+24 > len(c) {
		return nil, b.bounds("template definition", def, 24, len(c))
	}
	size := int(le32(c, def+20))
	start := def + 24
	if size > len(c)-start {
		return nil, b.bounds("template definition", def, 24+size, len(c))
	}
	if size < 4 || c[start] != tokFragmentStart {
		return nil, fmt.Errorf("template definition at chunk offset %d does not start with a BinXML fragment header", def)
	}
	pl := b.newPlan()
	if err := b.compile(pl, start, start+size, sec, true); err != nil {
		b.used-- // give the plan back
		return nil, fmt.Errorf("compiling template at chunk offset %d: %w", def, err)
	}
	return pl, nil
}

func (b *binxml) newPlan() *plan {
	if b.used == len(b.pool) {
		b.pool = append(b.pool, &plan{})
	}
	pl := b.pool[b.used]
	b.used++
	pl.ops, pl.parts = pl.ops[:0], pl.parts[:0]
	return pl
}
