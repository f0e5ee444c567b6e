package winevt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// Format ids of the JSON decoders.
const (
	FormatEvtxDump   = "winevt-evtxdump"
	FormatWinlogbeat = "winevt-winlogbeat"
	FormatFlat       = "winevt-flat"
)

// shape is one JSON layout of Windows events.
type shape uint8

const (
	shapeEvtxDump shape = iota
	shapeWinlogbeat
	shapeFlat
)

func (s shape) id() string {
	switch s {
	case shapeWinlogbeat:
		return FormatWinlogbeat
	case shapeFlat:
		return FormatFlat
	}
	return FormatEvtxDump
}

// Decoder decodes one JSON shape of Windows events into normalized events. It keeps
// its parser, buffers and caches between streams (the caches of names, values, users
// and hosts are pure functions of their inputs, so keeping them changes no output)
// and is not safe for concurrent use.
type Decoder struct {
	shape    shape
	treeOnly bool // tests: records always take the parsed-tree path
	s        *stream
}

// NewEvtxDump returns a decoder of evtx_dump/Chainsaw JSON.
func NewEvtxDump() *Decoder { return &Decoder{shape: shapeEvtxDump} }

// NewWinlogbeat returns a decoder of Winlogbeat and Elastic Agent documents.
func NewWinlogbeat() *Decoder { return &Decoder{shape: shapeWinlogbeat} }

// NewFlat returns a decoder of flat NXLog/OTRF documents.
func NewFlat() *Decoder { return &Decoder{shape: shapeFlat} }

// errMissingEventID is wrapped by rejects of records without an event id.
var errMissingEventID = errors.New("no EventID")

// Decode implements decode.Decoder. Objects are framed by decode.JSONReader (NDJSON,
// arrays, pretty-printed objects one after another).
func (d *Decoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	if d.s == nil {
		d.s = &stream{shape: d.shape, format: d.shape.id(), norm: NewNormalizer(), treeOnly: d.treeOnly}
		d.s.loop.Format, d.s.loop.What = d.s.format, "JSON"
	}
	s := d.s
	s.in, s.sink = in, sink
	defer func() { s.in, s.sink = decode.Input{}, nil }() // keep no reference to the stream
	if !s.treeOnly {
		return s.loop.RunRaw(ctx, in, sink, func(rec decode.JSONRecord) error {
			s.recordText(rec)
			return nil
		})
	}
	return s.loop.Run(ctx, in, sink, func(rec decode.JSONRecord, v *fastjson.Value) error {
		s.record(rec, v)
		return nil
	})
}

// stream is the per-stream state: parser, interning and scratch buffers reused
// across records.
type stream struct {
	shape  shape
	format string
	in     decode.Input
	sink   decode.Sink

	loop  decode.JSONLoop
	norm  *Normalizer
	keys  decode.KeyCache
	vals  valueCache
	arena decode.Arena
	name  []byte // dotted name being built while flattening
	tmp   []byte
	// The fast paths (evtxfast.go, jsonfast.go).
	treeOnly bool   // see Decoder.treeOnly
	src      []byte // the record's text
	utmp     []byte // unescaped strings
	ntmp     []byte // unescaped Data names
	kways    []keyWays
	slab     []byte // storage of the names and values in kways
	kpos     int    // names read in this record
	kslot    int    // position of the name read last
	kway     int    // its way in kways[kslot], or -1
	dots     []dotWays

	// Per record.
	times    [3]timeCandidate // by priority: 0 best
	hasEID   bool
	hasComp  bool
	hostname string
	// Flat documents: NXLog's text Opcode, kept only without a numeric one.
	opcodeText string
	hasOpcode  bool
	ecs        []ecsValue // Winlogbeat document fields with Vigil ECS names
	// Winlogbeat documents: event.code and event.provider, for fillWinlogbeat's fallbacks.
	code, provider noted
}

// timeCandidate is a field the event time may be taken from.
type timeCandidate struct {
	text string
	set  bool
}

func (s *stream) record(rec decode.JSONRecord, v *fastjson.Value) {
	if v.Type() != fastjson.TypeObject {
		s.reject(rec, decode.ReasonMalformed, errors.New("record is not a JSON object"))
		return
	}
	s.resetRecord()
	s.fill(rec, s.sink.Alloc(), v)
}

// recordText decodes a record in one pass over its text when the fast path
// understands it, else through the parsed tree.
func (s *stream) recordText(rec decode.JSONRecord) {
	s.resetRecord()
	e := s.sink.Alloc()
	if s.fastRecord(e, rec.Bytes) {
		s.finish(rec, e, nil)
		return
	}
	v, err := s.loop.Parser.ParseBytes(rec.Bytes)
	if err != nil {
		s.loop.RejectMalformed(s.in, s.sink, rec, err)
		return
	}
	if v.Type() != fastjson.TypeObject {
		s.reject(rec, decode.ReasonMalformed, errors.New("record is not a JSON object"))
		return
	}
	e.ClearRaw()
	s.resetRecord()
	s.fill(rec, e, v)
}

// resetRecord clears the per-record state.
func (s *stream) resetRecord() {
	s.times = [3]timeCandidate{}
	s.hasEID, s.hasComp, s.hostname = false, false, ""
	s.opcodeText, s.hasOpcode = "", false
	s.ecs = s.ecs[:0]
	s.code, s.provider = noted{}, noted{}
}

// fill maps the parsed record v onto e and finishes it.
func (s *stream) fill(rec decode.JSONRecord, e *event.Event, v *fastjson.Value) {
	var err error
	switch s.shape {
	case shapeEvtxDump:
		err = s.fillEvtxDump(e, v)
	case shapeWinlogbeat:
		err = s.fillWinlogbeat(e, v)
	default:
		err = s.fillFlat(e, v)
	}
	s.finish(rec, e, err)
}

// finish rejects the record for a fill error, a missing event id or time, else
// completes e and emits it.
func (s *stream) finish(rec decode.JSONRecord, e *event.Event, err error) {
	if err != nil {
		s.reject(rec, decode.ReasonMissingField, err)
		return
	}
	if !s.hasEID {
		s.reject(rec, decode.ReasonMissingField, errMissingEventID)
		return
	}
	ts, err := s.eventTime()
	if err != nil {
		s.reject(rec, decode.ReasonBadTimestamp, err)
		return
	}
	e.Timestamp = ts
	s.tmp = appendTimeCreated(s.tmp[:0], ts)
	e.AddRaw(KeyTimeCreated, s.arena.String(s.tmp))
	e.Origin = event.Origin{Source: s.in.Source, Format: s.format, Offset: rec.Offset, Line: rec.Line}
	s.norm.Normalize(e)
	if n, ok := e.Num(event.WinlogRecordID); ok { // Normalize's reading of EventRecordID
		e.Origin.Record = n
	}
	if len(s.ecs) > 0 {
		s.applyECS(e)
	}
	s.sink.Emit(e)
}

func (s *stream) reject(rec decode.JSONRecord, reason string, err error) {
	decode.Reject(s.sink, s.in, s.format, rec.Offset, rec.Line, reason, err)
}

// eventTime parses the best time candidate, falling back to the next ones.
func (s *stream) eventTime() (time.Time, error) {
	var first error
	for _, c := range s.times {
		if !c.set {
			continue
		}
		t, err := parseWinTime(c.text)
		if err == nil {
			return t, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = errors.New("no event time field")
	}
	return time.Time{}, first
}

// parseWinTime parses the RFC 3339 times Windows exports use, quickly, and falls
// back to decode.ParseTime for the other forms.
func parseWinTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return decode.CheckTime(t)
	}
	t, err := decode.ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parsing event time: %w", err)
	}
	return t, nil
}

// setTime records a time candidate of priority prio (0 is best).
func (s *stream) setTime(prio int, v *fastjson.Value) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return
	}
	s.times[prio] = timeCandidate{text: s.text(v), set: true}
}

// text returns a scalar's text (strings unquoted, numbers as written), or the JSON
// text of an object or array, backed by the arena; null is "".
func (s *stream) text(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return s.str(b)
	case fastjson.TypeTrue:
		return "true"
	case fastjson.TypeFalse:
		return "false"
	case fastjson.TypeNull:
		return ""
	}
	s.tmp = v.MarshalTo(s.tmp[:0])
	return s.str(s.tmp)
}

// str returns b as a string: a cached equal one for short repeated values, else a
// copy in the arena.
func (s *stream) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxCachedValue {
		return s.arena.String(b)
	}
	slot, ok := s.vals.lookup(b)
	if ok {
		return *slot
	}
	v := s.arena.String(b)
	*slot = v
	return v
}

// add adds raw field k with v's text. EventID and Computer are tracked.
func (s *stream) add(e *event.Event, k event.Key, v *fastjson.Value) {
	s.addStr(e, k, s.text(v))
}

func (s *stream) addStr(e *event.Event, k event.Key, v string) {
	switch k {
	case KeyEventID:
		if s.hasEID || v == "" {
			return // a second EventID (e.g. winlog.event_id and event.code) is the same
		}
		s.hasEID = true
	case KeyComputer:
		s.hasComp = true
	}
	e.AddRaw(k, v)
}

// addGUID adds raw field k from a GUID value, restoring the braces evtx_dump drops.
func (s *stream) addGUID(e *event.Event, k event.Key, v *fastjson.Value) {
	if v.Type() == fastjson.TypeString {
		b, _ := v.StringBytes()
		if isBareGUID(b) {
			s.tmp = append(s.tmp[:0], '{')
			for _, c := range b {
				if c >= 'a' && c <= 'f' {
					c -= 'a' - 'A'
				}
				s.tmp = append(s.tmp, c)
			}
			s.tmp = append(s.tmp, '}')
			e.AddRaw(k, s.arena.String(s.tmp))
			return
		}
	}
	s.add(e, k, v)
}

// isBareGUID reports whether b is 8-4-4-4-12 hex digits without braces.
func isBareGUID(b []byte) bool {
	if len(b) != 36 {
		return false
	}
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if _, ok := hexVal(c); !ok {
				return false
			}
		}
	}
	return true
}

// isGUIDName reports whether a field name ends in Guid or GUID (ProcessGuid,
// SourceProcessGUID, LogonGuid, ...): fields whose values are GUIDs.
func isGUIDName(k []byte) bool {
	n := len(k)
	if n < 4 || k[n-4] != 'G' {
		return false
	}
	t := k[n-3:] // compared without making a string of it
	return string(t) == "uid" || string(t) == "UID"
}

// flatten adds every leaf of v under the dotted name in s.name (arrays become
// repeated fields; null leaves are skipped). Depth is bounded; deeper values are
// kept whole as JSON text.
func (s *stream) flatten(e *event.Event, v *fastjson.Value, depth int, ecs bool) {
	switch v.Type() {
	case fastjson.TypeObject:
		if depth >= maxDepth {
			s.leaf(e, v, ecs)
			return
		}
		o, _ := v.Object()
		base := len(s.name)
		o.Visit(func(k []byte, c *fastjson.Value) {
			s.name = s.name[:base]
			if base > 0 {
				s.name = append(s.name, '.')
			}
			s.name = append(s.name, k...)
			s.flatten(e, c, depth+1, ecs)
		})
		s.name = s.name[:base]
	case fastjson.TypeArray:
		if depth >= maxDepth {
			s.leaf(e, v, ecs)
			return
		}
		a, _ := v.Array()
		for _, c := range a {
			s.flatten(e, c, depth+1, ecs)
		}
	case fastjson.TypeNull:
	default:
		s.leaf(e, v, ecs)
	}
}

// leaf adds a leaf under the name in s.name: as a raw field, or, when ecs is set
// and the name is one of Vigil's ECS fields, as a value for applyECS.
func (s *stream) leaf(e *event.Event, v *fastjson.Value, ecs bool) {
	if len(s.name) == 0 {
		return
	}
	if ecs {
		if t := ecsTargets[string(s.name)]; t != nil {
			s.ecs = append(s.ecs, ecsValue{target: t, value: s.text(v)})
			return
		}
	}
	e.AddRaw(s.keys.Key(s.name), s.text(v))
}

// maxDepth bounds recursion into nested JSON.
const maxDepth = 16

var _ decode.Decoder = (*Decoder)(nil)
