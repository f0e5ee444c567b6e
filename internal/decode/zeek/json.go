package zeek

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// FormatJSON is the format id of Zeek's JSON logs.
const FormatJSON = "zeek-json"

// JSONDecoder decodes Zeek logs written as JSON, one object per record: Zeek's own
// writer (LogAscii::use_json=T: "id.orig_h", "_path", "ts" as epoch or ISO 8601)
// and pipelines that rewrite the scope separator and add stream metadata
// (HELK/Logstash, Kafka writer: "id_orig_h", "@stream", "@system", "@proc"). Keys
// are mapped back to Zeek's dotted names, so raw fields match the TSV decoder's.
type JSONDecoder struct{}

// NewJSON returns a Zeek JSON decoder.
func NewJSON() *JSONDecoder { return &JSONDecoder{} }

// jcol is a JSON key resolved once per stream: its raw key under Zeek's dotted name
// and the slot normalization reads it from.
type jcol struct {
	key  event.Key
	name string // dotted name, the prefix for nested objects
	slot slot
}

// maxCached bounds the per-stream caches of keys and log paths against hostile
// input with endless distinct names.
const maxCached = 4096

type jsonStream struct {
	in     decode.Input
	sink   decode.Sink
	loop   decode.JSONLoop
	flat   decode.Flattener
	norm   normalizer
	rec    record
	cols   map[string]jcol
	logs   map[string]*logType
	srcLog *logType
	cur    *event.Event
	visit  func(k []byte, v *fastjson.Value)
	join   []byte
}

// Decode implements decode.Decoder.
func (d *JSONDecoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	in.Limits = in.Limits.WithDefaults()
	s := &jsonStream{in: in, sink: sink, cols: make(map[string]jcol, 64), logs: make(map[string]*logType, 8)}
	s.norm.arena = &s.flat.Arena
	s.visit = s.visitField
	s.loop.Format, s.loop.What = FormatJSON, "json"
	return s.loop.Run(ctx, in, sink, func(rec decode.JSONRecord, v *fastjson.Value) error {
		s.record(rec, v)
		return nil
	})
}

func (s *jsonStream) reject(rec decode.JSONRecord, reason string, err error) {
	decode.Reject(s.sink, s.in, FormatJSON, rec.Offset, rec.Line, reason, err)
}

func (s *jsonStream) record(rec decode.JSONRecord, v *fastjson.Value) {
	o, err := v.Object()
	if err != nil {
		s.reject(rec, decode.ReasonMalformed, errors.New("record is not a JSON object"))
		return
	}
	e := s.sink.Alloc()
	s.cur = e
	s.rec.reset(',')
	o.Visit(s.visit)
	s.cur = nil
	ts := s.rec.vals[sTS]
	if ts == "" {
		s.reject(rec, decode.ReasonBadTimestamp, errors.New("record has no ts"))
		return
	}
	t, err := parseTS(ts)
	if err != nil {
		s.reject(rec, decode.ReasonBadTimestamp, fmt.Errorf("parsing ts: %w", err))
		return
	}
	e.Timestamp = t
	s.norm.normalize(e, s.logType(), &s.rec)
	e.Origin = event.Origin{Source: s.in.Source, Format: FormatJSON, Offset: rec.Offset, Line: rec.Line}
	s.sink.Emit(e)
}

// parseTS reads Zeek's ts as its JSON writer prints it: epoch seconds (the default)
// or ISO 8601 (JSON::TS_ISO8601), and tolerates a float in exponent form.
func parseTS(ts string) (time.Time, error) {
	if isDecimal(ts) {
		return decode.ParseEpoch(ts)
	}
	if c := ts[0]; c >= '0' && c <= '9' && strings.IndexAny(ts, "eE") > 0 && !strings.ContainsAny(ts, "-:T") {
		f, err := strconv.ParseFloat(ts, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > 1e12 {
			return time.Time{}, fmt.Errorf("unrecognized epoch timestamp %q", ts)
		}
		sec, frac := math.Modf(f)
		return decode.CheckTime(time.Unix(int64(sec), int64(frac*1e9)))
	}
	return decode.ParseTime(ts)
}

// isDecimal reports whether s is digits with at most one '.', as epoch seconds are.
func isDecimal(s string) bool {
	dot := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return s != ""
}

// logType resolves the record's log from _path/@stream, else from the file name.
func (s *jsonStream) logType() *logType {
	if p := s.rec.vals[sZeekPath]; p != "" {
		if lt, ok := s.logs[p]; ok {
			return lt
		}
		lt := resolveLog(p)
		if len(s.logs) < maxCached && lt.path == p {
			s.logs[lt.path] = &lt
		}
		return &lt
	}
	if s.srcLog == nil {
		lt := resolveLog(pathFromSource(s.in.Source))
		s.srcLog = &lt
	}
	return s.srcLog
}

// col resolves a JSON key once per stream.
func (s *jsonStream) col(k []byte) jcol {
	if c, ok := s.cols[string(k)]; ok {
		return c
	}
	raw := string(k)
	name := dottedName(raw)
	c := jcol{key: s.flat.Keys.KeyString(name), name: name, slot: slotByName[name]}
	if len(s.cols) < maxCached {
		s.cols[raw] = c
	}
	return c
}

func (s *jsonStream) visitField(k []byte, v *fastjson.Value) {
	e := s.cur
	c := s.col(k)
	switch v.Type() {
	case fastjson.TypeNull:
		return
	case fastjson.TypeObject:
		s.flat.Flatten(e, c.name, v)
		return
	case fastjson.TypeArray:
		s.array(e, c, v)
		return
	}
	text := s.flat.Text(v)
	e.AddRaw(c.key, text)
	if c.slot != sNone {
		s.rec.set(c.slot, text)
	}
}

// array adds each element as a repeated raw field (an empty array as one empty
// value, as the TSV writer's "(empty)"); the slot keeps the elements joined by ','.
func (s *jsonStream) array(e *event.Event, c jcol, v *fastjson.Value) {
	a, _ := v.Array()
	if len(a) == 0 {
		e.AddRaw(c.key, "")
		return
	}
	s.join = s.join[:0]
	last := ""
	for i, el := range a {
		if el.Type() == fastjson.TypeObject || el.Type() == fastjson.TypeArray {
			s.flat.Flatten(e, c.name, el)
			continue
		}
		text := s.flat.Text(el)
		e.AddRaw(c.key, text)
		last = text
		if c.slot != sNone {
			if i > 0 {
				s.join = append(s.join, ',')
			}
			s.join = append(s.join, text...)
		}
	}
	if c.slot != sNone && len(s.join) > 0 {
		if len(a) == 1 {
			s.rec.set(c.slot, last)
		} else {
			s.rec.set(c.slot, s.flat.Arena.String(s.join))
		}
	}
}

var _ decode.Decoder = (*JSONDecoder)(nil)
