package zeek

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// FormatTSV is the format id of Zeek's ASCII (tab-separated) logs.
const FormatTSV = "zeek-tsv"

// ctxEvery is how many records pass between checks of ctx.
const ctxEvery = 256

// maxColumns bounds a #fields header; a longer one is refused (its data lines are
// rejected) rather than planning a hostile number of columns.
const maxColumns = event.MaxRawFields

// TSVDecoder decodes Zeek ASCII logs: a header block (#separator, #set_separator,
// #empty_field, #unset_field, #path, #open, #fields, #types) followed by one record
// per line and an optional #close. Header blocks may repeat mid-stream (rotated or
// concatenated logs); each one replaces the previous.
type TSVDecoder struct{}

// NewTSV returns a Zeek TSV decoder.
func NewTSV() *TSVDecoder { return &TSVDecoder{} }

// colKind says how a column's values are rendered into raw fields.
type colKind uint8

const (
	colPlain colKind = iota
	colBool          // Zeek bool: "T"/"F" rendered "true"/"false" as Zeek's JSON writer does
	colSet           // set[...] or vector[...]: one raw field per element
)

type column struct {
	key  event.Key
	slot slot
	kind colKind
}

// plan is what a header block compiles to: per column its interned key, its slot
// for normalization and its kind, plus the log type. Built once per header.
type plan struct {
	cols  []column
	log   logType
	hasTS bool
}

// header is the state of the current header block.
type header struct {
	sep, setSep   string
	empty, unset  string
	path          string
	fields, types []string
	plan          *plan // nil until built from #fields; reset when the block changes
	refused       error // why the last #fields header was refused, if it was
}

func defaultHeader() header {
	return header{sep: "\t", setSep: ",", empty: "(empty)", unset: "-"}
}

// tsvStream is the state of decoding one stream.
type tsvStream struct {
	in    decode.Input
	sink  decode.Sink
	h     header
	keys  decode.KeyCache
	arena decode.Arena
	norm  normalizer
	rec   record
	tmp   []byte
	// srcPath is the log path guessed from the file name, used when #path is absent.
	srcPath string
}

// Decode implements decode.Decoder.
func (d *TSVDecoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	in.Limits = in.Limits.WithDefaults()
	s := &tsvStream{in: in, sink: sink, h: defaultHeader(), srcPath: pathFromSource(in.Source)}
	s.norm.arena = &s.arena
	lr := decode.NewLineReader(in.R, in.Limits.MaxLine)
	for n := 0; ; n++ {
		if n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		l, err := lr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading zeek log: %w", err)
		}
		if l.TooLong {
			s.reject(l, decode.ReasonLineTooLong,
				fmt.Errorf("line of %d bytes exceeds the %d-byte limit", l.Length, in.Limits.MaxLine))
			continue
		}
		s.line(l)
	}
}

func (s *tsvStream) reject(l decode.Line, reason string, err error) {
	decode.Reject(s.sink, s.in, FormatTSV, l.Offset, l.Number, reason, err)
}

func (s *tsvStream) line(l decode.Line) {
	b := l.Bytes
	if len(b) == 0 {
		return
	}
	if b[0] == '#' && s.directive(b) {
		return
	}
	if s.h.plan == nil {
		if s.h.fields == nil {
			err := s.h.refused
			if err == nil {
				err = errors.New("data line before any #fields header")
			}
			s.reject(l, decode.ReasonMissingField, err)
			return
		}
		s.h.plan = s.buildPlan()
	}
	s.record(l)
}

// directive applies a header line and reports whether b was one. Lines that start
// with '#' but name no directive are data.
func (s *tsvStream) directive(b []byte) bool {
	if bytes.HasPrefix(b, []byte("#separator ")) {
		// A new header block starts: forget the previous one.
		s.h = defaultHeader()
		s.h.sep = s.unescapeString(b[len("#separator "):])
		if s.h.sep == "" {
			s.h.sep = "\t"
		}
		return true
	}
	name, rest := b[1:], []byte(nil)
	if i := bytes.Index(b, []byte(s.h.sep)); i > 0 {
		name, rest = b[1:i], b[i+len(s.h.sep):]
	}
	switch string(name) {
	case "set_separator":
		if v := s.unescapeString(rest); v != "" {
			s.h.setSep = v
		}
	case "empty_field":
		s.h.empty = s.unescapeString(rest)
	case "unset_field":
		s.h.unset = s.unescapeString(rest)
	case "path":
		s.h.path = s.unescapeString(rest)
	case "fields":
		s.h.fields = s.splitHeader(rest)
		s.h.refused = nil
		if n := len(s.h.fields); n > maxColumns {
			s.h.fields = nil
			s.h.refused = fmt.Errorf("the #fields header has %d fields, more than the %d accepted", n, maxColumns)
		}
	case "types":
		s.h.types = s.splitHeader(rest)
	case "open", "close":
		return true
	default:
		return false
	}
	s.h.plan = nil
	return true
}

func (s *tsvStream) splitHeader(b []byte) []string {
	out := make([]string, 0, 32)
	for _, f := range bytes.Split(b, []byte(s.h.sep)) {
		out = append(out, s.unescapeString(f))
	}
	return out
}

func (s *tsvStream) unescapeString(b []byte) string {
	s.tmp = unescape(s.tmp[:0], b)
	return string(s.tmp)
}

func (s *tsvStream) buildPlan() *plan {
	path := s.h.path
	if path == "" {
		path = s.srcPath
	}
	p := &plan{cols: make([]column, len(s.h.fields)), log: resolveLog(path)}
	typed := len(s.h.types) == len(s.h.fields)
	for i, name := range s.h.fields {
		c := column{key: s.keys.KeyString(name), slot: slotByName[name]}
		if typed {
			t := s.h.types[i]
			switch {
			case t == "bool":
				c.kind = colBool
			case strings.HasPrefix(t, "set[") || strings.HasPrefix(t, "vector["):
				c.kind = colSet
			}
		}
		if c.slot == sTS {
			p.hasTS = true
		}
		p.cols[i] = c
	}
	return p
}

// record decodes one data line against the current plan.
func (s *tsvStream) record(l decode.Line) {
	p := s.h.plan
	if !p.hasTS {
		s.reject(l, decode.ReasonBadTimestamp, errors.New("header has no ts field"))
		return
	}
	escaped := bytes.IndexByte(l.Bytes, '\\') >= 0
	line := s.arena.String(l.Bytes)
	e := s.sink.Alloc()
	s.rec.reset(s.h.setSep[0])
	sep := s.h.sep
	n := 0
	for rest, more := line, true; more; n++ {
		var v string
		if len(sep) == 1 {
			i := strings.IndexByte(rest, sep[0])
			if i < 0 {
				v, more = rest, false
			} else {
				v, rest = rest[:i], rest[i+1:]
			}
		} else {
			v, rest, more = strings.Cut(rest, sep)
		}
		if n < len(p.cols) {
			s.field(e, &p.cols[n], v, escaped)
		}
	}
	if n != len(p.cols) {
		s.reject(l, decode.ReasonMalformed, fmt.Errorf("line has %d fields, the #fields header has %d", n, len(p.cols)))
		return
	}
	ts := s.rec.vals[sTS]
	if ts == "" {
		s.reject(l, decode.ReasonBadTimestamp, errors.New("ts is unset"))
		return
	}
	t, err := decode.ParseEpoch(ts)
	if err != nil {
		s.reject(l, decode.ReasonBadTimestamp, fmt.Errorf("parsing ts: %w", err))
		return
	}
	e.Timestamp = t
	s.norm.normalize(e, &p.log, &s.rec)
	e.Origin = event.Origin{Source: s.in.Source, Format: FormatTSV, Offset: l.Offset, Line: l.Number}
	s.sink.Emit(e)
}

// field adds one column's value to e and to the record's slots.
func (s *tsvStream) field(e *event.Event, c *column, v string, escaped bool) {
	if v == s.h.unset {
		return
	}
	if v == s.h.empty {
		e.AddRaw(c.key, "")
		return
	}
	switch c.kind {
	case colBool:
		switch v {
		case "T":
			v = "true"
		case "F":
			v = "false"
		}
	case colSet:
		s.set(e, c, v, escaped)
		return
	}
	if escaped {
		v = s.unescapeValue(v)
	}
	e.AddRaw(c.key, v)
	if c.slot != sNone {
		s.rec.set(c.slot, v)
	}
}

// set adds each element of a set or vector as a repeated raw field. The slot keeps
// the elements joined by the set separator.
func (s *tsvStream) set(e *event.Event, c *column, v string, escaped bool) {
	sep := s.h.setSep
	for rest, more := v, true; more; {
		var el string
		el, rest, more = strings.Cut(rest, sep)
		if escaped {
			el = s.unescapeValue(el)
		}
		e.AddRaw(c.key, el)
	}
	if c.slot != sNone {
		if escaped {
			v = s.unescapeValue(v)
		}
		s.rec.set(c.slot, v)
	}
}

func (s *tsvStream) unescapeValue(v string) string {
	if strings.IndexByte(v, '\\') < 0 {
		return v
	}
	s.tmp = unescape(s.tmp[:0], []byte(v))
	return s.arena.String(s.tmp)
}

// unescape decodes Zeek's escapes: "\xHH" for a byte and "\\" for a backslash.
// Anything else after a backslash is kept as written.
func unescape(dst, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' || i+1 >= len(b) {
			dst = append(dst, c)
			continue
		}
		switch {
		case b[i+1] == '\\':
			dst = append(dst, '\\')
			i++
		case b[i+1] == 'x' && i+3 < len(b) && isHex(b[i+2]) && isHex(b[i+3]):
			dst = append(dst, unhex(b[i+2])<<4|unhex(b[i+3]))
			i += 3
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

var _ decode.Decoder = (*TSVDecoder)(nil)
