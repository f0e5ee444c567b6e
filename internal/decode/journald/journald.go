// Package journald decodes the systemd journal as `journalctl -o json` (one object
// per line) and `-o json-pretty` export it.
//
// Every journal field is kept as a raw field under its own name (MESSAGE, _PID,
// _SYSTEMD_UNIT, __REALTIME_TIMESTAMP, ...). journalctl writes a field that occurs
// several times in an entry as an array: each value becomes a repeated raw field.
// A value that is not valid UTF-8 is written as an array of byte values; it is
// decoded back to its bytes. A null value (journalctl's stand-in for a field larger
// than its data threshold when --all is not given) is skipped.
//
// ECS: @timestamp from __REALTIME_TIMESTAMP (microseconds since the epoch; else
// _SOURCE_REALTIME_TIMESTAMP), host from _HOSTNAME, process.name/pid/executable/
// command_line from _COMM (else SYSLOG_IDENTIFIER), _PID (else SYSLOG_PID), _EXE,
// _CMDLINE, event.provider from SYSLOG_IDENTIFIER, service.name from _SYSTEMD_UNIT,
// log.level from PRIORITY, message from MESSAGE. Messages of sshd, sudo, su, the
// shadow tools, systemd-logind, cron and PAM are parsed by syslog.ParseAuthMessage
// (event.dataset "system.auth"; other entries get "journald.log").
package journald

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/syslog"
	"github.com/vigilsec/vigil/internal/event"
)

// FormatJSON is the format id of journalctl's JSON export.
const FormatJSON = "journald-json"

// Decoder decodes journalctl JSON. It is stateless; all state lives in Decode.
type Decoder struct{}

// New returns a journald JSON decoder.
func New() *Decoder { return &Decoder{} }

// Formats lists the formats this package decodes.
func Formats() []decode.Format {
	return []decode.Format{{
		ID:          FormatJSON,
		Description: "systemd journal exported by journalctl -o json / json-pretty",
		Sniff:       Sniff,
		New:         func() decode.Decoder { return New() },
	}}
}

// Sniff scores head as journalctl JSON: 90 when its first object has the journal's
// own __REALTIME_TIMESTAMP or __CURSOR field.
func Sniff(head []byte) int {
	v := decode.FirstJSON(head)
	if v == nil || v.Type() != fastjson.TypeObject {
		return 0
	}
	if v.Exists("__REALTIME_TIMESTAMP") || v.Exists("__CURSOR") {
		return 90
	}
	return 0
}

// Decode implements decode.Decoder.
func (d *Decoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	st := &stream{in: in, sink: sink}
	st.loop.Format, st.loop.What = FormatJSON, "journal entry"
	return st.loop.Run(ctx, in, sink, func(rec decode.JSONRecord, v *fastjson.Value) error {
		st.record(rec, v)
		return nil
	})
}

// stream is the state of one Decode call.
type stream struct {
	in    decode.Input
	sink  decode.Sink
	loop  decode.JSONLoop
	keys  decode.KeyCache
	arena decode.Arena
	buf   []byte
	tmp   []byte
	f     fields
	hosts syslog.HostCache
	// order remembers the field names of the previous entry by position: journald
	// writes fields in a stable order, so most names match without a map lookup.
	order []orderedKey
	pos   int
}

type orderedKey struct {
	name string
	key  event.Key
}

// key interns the name of the field at the current position.
func (st *stream) key(k []byte) event.Key {
	i := st.pos
	st.pos++
	if i < len(st.order) && st.order[i].name == string(k) {
		return st.order[i].key
	}
	key := st.keys.Key(k)
	if i < len(st.order) {
		st.order[i] = orderedKey{key.Value(), key}
	} else if i == len(st.order) && i < 256 {
		st.order = append(st.order, orderedKey{key.Value(), key})
	}
	return key
}

// fields are the journal fields the normalization reads, first value of each.
type fields struct {
	realtime, sourceRealtime              string
	hostname, ident, comm, pid, syslogPID string
	exe, cmdline, unit, priority, message string
	haveMessage                           bool
}

func (st *stream) reject(rec decode.JSONRecord, reason string, err error) {
	decode.Reject(st.sink, st.in, FormatJSON, rec.Offset, rec.Line, reason, err)
}

func (st *stream) record(rec decode.JSONRecord, v *fastjson.Value) {
	o, err := v.Object()
	if err != nil {
		st.reject(rec, decode.ReasonMalformed, fmt.Errorf("journal entry is a JSON %s, not an object", v.Type()))
		return
	}
	st.f = fields{}
	st.pos = 0
	e := st.sink.Alloc()
	o.Visit(func(k []byte, val *fastjson.Value) { st.field(e, k, val) })
	ts, err := st.timestamp()
	if err != nil {
		st.reject(rec, decode.ReasonBadTimestamp, err)
		return
	}
	e.Timestamp = ts
	e.Origin = event.Origin{Source: st.in.Source, Format: FormatJSON, Offset: rec.Offset, Line: rec.Line}
	normalize(e, &st.f, &st.hosts)
	st.sink.Emit(e)
}

// field adds one journal field (every value of it) to e.
func (st *stream) field(e *event.Event, k []byte, v *fastjson.Value) {
	key := st.key(k)
	switch v.Type() {
	case fastjson.TypeNull:
		return
	case fastjson.TypeArray:
		if s, ok := st.bytesValue(v); ok {
			st.add(e, key, k, s)
			return
		}
		a, _ := v.Array()
		for _, x := range a {
			if x.Type() == fastjson.TypeNull {
				continue
			}
			if s, ok := st.bytesValue(x); ok {
				st.add(e, key, k, s)
				continue
			}
			st.add(e, key, k, st.text(x))
		}
	default:
		st.add(e, key, k, st.text(v))
	}
}

// add appends a raw field and remembers the first value of the fields ECS uses.
func (st *stream) add(e *event.Event, key event.Key, k []byte, s string) {
	e.AddRaw(key, s)
	f := &st.f
	var dst *string
	switch string(k) {
	case "__REALTIME_TIMESTAMP":
		dst = &f.realtime
	case "_SOURCE_REALTIME_TIMESTAMP":
		dst = &f.sourceRealtime
	case "_HOSTNAME":
		dst = &f.hostname
	case "SYSLOG_IDENTIFIER":
		dst = &f.ident
	case "_COMM":
		dst = &f.comm
	case "_PID":
		dst = &f.pid
	case "SYSLOG_PID":
		dst = &f.syslogPID
	case "_EXE":
		dst = &f.exe
	case "_CMDLINE":
		dst = &f.cmdline
	case "_SYSTEMD_UNIT":
		dst = &f.unit
	case "PRIORITY":
		dst = &f.priority
	case "MESSAGE":
		if f.haveMessage {
			return
		}
		f.haveMessage = true
		dst = &f.message
	default:
		return
	}
	if *dst == "" {
		*dst = s
	}
}

// text returns a scalar's text backed by the arena.
func (st *stream) text(v *fastjson.Value) string {
	if v.Type() == fastjson.TypeString {
		b, _ := v.StringBytes()
		return st.arena.String(b)
	}
	switch v.Type() {
	case fastjson.TypeTrue:
		return "true"
	case fastjson.TypeFalse:
		return "false"
	}
	st.tmp = v.MarshalTo(st.tmp[:0])
	return st.arena.String(st.tmp)
}

// bytesValue decodes journalctl's array-of-byte-values form of a non-UTF-8 value.
func (st *stream) bytesValue(v *fastjson.Value) (string, bool) {
	if v.Type() != fastjson.TypeArray {
		return "", false
	}
	a, _ := v.Array()
	if len(a) == 0 {
		return "", false
	}
	st.buf = st.buf[:0]
	for _, x := range a {
		if x.Type() != fastjson.TypeNumber {
			return "", false
		}
		n, err := x.Int()
		if err != nil || n < 0 || n > 255 {
			return "", false
		}
		st.buf = append(st.buf, byte(n))
	}
	return st.arena.String(st.buf), true
}

// timestamp reads the entry's time in microseconds since the epoch.
func (st *stream) timestamp() (time.Time, error) {
	s, name := st.f.realtime, "__REALTIME_TIMESTAMP"
	if s == "" {
		s, name = st.f.sourceRealtime, "_SOURCE_REALTIME_TIMESTAMP"
	}
	if s == "" {
		return time.Time{}, errors.New("entry has neither __REALTIME_TIMESTAMP nor _SOURCE_REALTIME_TIMESTAMP")
	}
	us, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parsing %s: %w", name, err)
	}
	if us <= 0 {
		return time.Time{}, fmt.Errorf("%s is %d, not a time", name, us)
	}
	t, err := decode.CheckTime(time.UnixMicro(us))
	if err != nil {
		return time.Time{}, fmt.Errorf("checking %s: %w", name, err)
	}
	return t, nil
}

// normalize fills the ECS core of e from the entry's fields.
func normalize(e *event.Event, f *fields, hosts *syslog.HostCache) {
	e.SetStr(event.EventKind, "event")
	e.SetStr(event.EventModule, "journald")
	hosts.Set(e, f.hostname)
	e.SetStr(event.EventProvider, f.ident)
	name := f.comm
	if name == "" {
		name = f.ident
	}
	e.SetStr(event.ProcessName, name)
	pid := f.pid
	if pid == "" {
		pid = f.syslogPID
	}
	if n, err := strconv.ParseInt(pid, 10, 64); err == nil && n >= 0 {
		e.SetNum(event.ProcessPID, n)
	}
	e.SetStr(event.ProcessExecutable, f.exe)
	e.SetStr(event.ProcessCommandLine, f.cmdline)
	e.SetStr(event.ServiceName, f.unit)
	if p, err := strconv.Atoi(f.priority); err == nil {
		e.SetStr(event.LogLevel, syslog.SeverityName(p))
	}
	e.SetStr(event.Message, f.message)
	program := f.ident
	if program == "" {
		program = f.comm
	}
	if syslog.ParseAuthMessage(e, program, f.message) {
		e.SetStr(event.EventDataset, "system.auth")
	} else {
		e.SetStr(event.EventDataset, "journald.log")
	}
}

var _ decode.Decoder = (*Decoder)(nil)
