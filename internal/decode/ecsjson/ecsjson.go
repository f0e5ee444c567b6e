// Package ecsjson decodes JSON documents already named in the Elastic Common Schema,
// as Beats, Elastic Agent, Vector and Fluent Bit write them: one object per line (or
// a JSON array), with "@timestamp" and ECS field names, nested
// ({"process":{"command_line":...}}) or dotted ({"process.command_line":...}) or both.
// Elasticsearch search hits ({"_source":{...}}) are unwrapped.
//
// It is the fallback for ECS-looking JSON: specific formats sniff higher. Every leaf is
// kept raw under its dotted ECS name, so a rule on "process.command_line" matches
// whether the producer nested it or not; the fields Vigil types are also set in the
// typed core (with user and host names canonicalized), event.category and event.type
// fill the bit sets, and related.* arrays fill Related.
package ecsjson

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// FormatID is the stable id of the generic ECS NDJSON format.
const FormatID = "ecs-ndjson"

// Formats lists the format this package decodes.
func Formats() []decode.Format {
	return []decode.Format{{
		ID:          FormatID,
		Description: "ECS JSON documents (Beats, Elastic Agent, Vector, Fluent Bit), one per line or an array",
		Sniff:       Sniff,
		New:         func() decode.Decoder { return NewDecoder() },
	}}
}

// ecsTopLevel are ECS field sets whose presence as an object (or a dotted-key prefix)
// marks a document as ECS. "message" and "log" are left out: non-ECS logs use them too.
var ecsTopLevel = []string{
	"agent", "client", "cloud", "container", "destination", "dns", "ecs", "error", "event", "file",
	"host", "http", "network", "observer", "orchestrator", "process", "registry", "related",
	"server", "service", "source", "tls", "url", "user", "user_agent",
}

// Sniff scores head as ECS JSON: 60 when the first object has "@timestamp" and
// ecs.version; 50 when it has "@timestamp" and at least two ECS field sets (as objects
// or dotted-key prefixes); 0 otherwise. Both are below every specific format.
func Sniff(head []byte) int {
	v := decode.FirstJSON(head)
	if v == nil {
		return 0
	}
	if src := v.Get("_source"); src != nil && v.Get("@timestamp") == nil {
		v = src
	}
	o, err := v.Object()
	if err != nil || o.Get("@timestamp") == nil {
		return 0
	}
	if v.Get("ecs", "version") != nil || o.Get("ecs.version") != nil {
		return 60
	}
	var seen uint32
	o.Visit(func(k []byte, c *fastjson.Value) {
		name, dotted := k, false
		if i := bytes.IndexByte(k, '.'); i > 0 {
			name, dotted = k[:i], true
		}
		for i, s := range ecsTopLevel {
			if string(name) == s && (dotted || c.Type() == fastjson.TypeObject || c.Type() == fastjson.TypeArray) {
				seen |= 1 << i
			}
		}
	})
	n := 0
	for ; seen != 0; seen &= seen - 1 {
		n++
	}
	if n >= 2 {
		return 50
	}
	return 0
}

// Decoder decodes one stream of ECS JSON documents. It keeps its parser and buffers
// between records; use one Decoder per goroutine.
type Decoder struct {
	loop decode.JSONLoop
	flat decode.Flattener
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder { return &Decoder{} }

// Decode implements decode.Decoder.
func (d *Decoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	d.loop.Format, d.loop.What = FormatID, "document"
	return d.loop.RunRaw(ctx, in, sink, func(rec decode.JSONRecord) error {
		e := sink.Alloc()
		reason, err := d.fillText(e, rec.Bytes)
		if errors.Is(err, errTree) {
			v, perr := d.loop.Parser.ParseBytes(rec.Bytes)
			if perr != nil {
				d.loop.RejectMalformed(in, sink, rec, perr)
				return nil
			}
			e.ClearRaw()
			reason, err = d.fill(e, v)
		}
		if err != nil {
			decode.Reject(sink, in, FormatID, rec.Offset, rec.Line, reason, err)
			return nil
		}
		e.Origin = event.Origin{Source: in.Source, Format: FormatID, Offset: rec.Offset, Line: rec.Line}
		sink.Emit(e)
		return nil
	})
}

// errTree says a document takes the parsed-tree path (fill): it is invalid (the parser
// says why), not an object, or an Elasticsearch hit.
var errTree = errors.New("document needs the tree path")

// fillText is fill in one pass over the document's text, for the common case: an
// object with a top-level @timestamp.
func (d *Decoder) fillText(e *event.Event, doc []byte) (reason string, err error) {
	d.flat.Begin()
	if len(doc) == 0 || doc[0] != '{' || d.flat.FlattenJSON(e, "", doc) != nil {
		return "", errTree
	}
	tv := d.flat.Top("@timestamp")
	if tv.Kind == decode.KindNone {
		return "", errTree // maybe an Elasticsearch hit with _source
	}
	if tv.Kind == decode.KindNull {
		return decode.ReasonBadTimestamp, errors.New("no @timestamp")
	}
	ts, err := decode.ParseTime(d.flat.TopText(tv))
	if err != nil {
		return decode.ReasonBadTimestamp, fmt.Errorf("parsing @timestamp: %w", err)
	}
	e.Timestamp = ts
	setCore(e)
	return "", nil
}

// fill normalizes one document into e, or says why it cannot.
func (d *Decoder) fill(e *event.Event, v *fastjson.Value) (reason string, err error) {
	if v.Type() != fastjson.TypeObject {
		return decode.ReasonMalformed, fmt.Errorf("document is a JSON %s, not an object", v.Type())
	}
	tv := v.Get("@timestamp")
	if src := v.Get("_source"); tv == nil && src != nil && src.Type() == fastjson.TypeObject {
		v, tv = src, src.Get("@timestamp") // an Elasticsearch hit
	}
	if tv == nil || tv.Type() == fastjson.TypeNull {
		return decode.ReasonBadTimestamp, errors.New("no @timestamp")
	}
	ts, err := decode.ParseTime(d.flat.Text(tv))
	if err != nil {
		return decode.ReasonBadTimestamp, fmt.Errorf("parsing @timestamp: %w", err)
	}
	e.Timestamp = ts
	d.flat.Begin()
	d.flat.Flatten(e, "", v)
	setCore(e)
	return "", nil
}

// Keys of the ECS fields that are not plain typed fields.
var (
	keyCategory     = event.MakeKey("event.category")
	keyType         = event.MakeKey("event.type")
	keyRelatedIP    = event.MakeKey("related.ip")
	keyRelatedUser  = event.MakeKey("related.user")
	keyRelatedHosts = event.MakeKey("related.hosts")
	keyRelatedHash  = event.MakeKey("related.hash")
)

// setCore fills the typed core from the raw fields. A typed field takes the first
// value of an array (host.ip: [v4, v6]); the Flattener emits an array's scalars as
// consecutive raw fields of one name, so later ones are skipped.
func setCore(e *event.Event) {
	for i, r := range e.Raw {
		switch r.Key {
		case keyCategory:
			if c, ok := event.ParseCategory(r.Value); ok {
				e.Category |= c
			}
		case keyType:
			if t, ok := event.ParseType(r.Value); ok {
				e.Type |= t
			}
		case keyRelatedIP:
			e.AddRelatedIP(event.ParseIP(r.Value))
		case keyRelatedUser:
			e.AddRelatedUser(r.Value)
		case keyRelatedHosts:
			e.AddRelatedHost(r.Value)
		case keyRelatedHash:
			e.AddRelatedHash(r.Value)
		default:
			if i == 0 || e.Raw[i-1].Key != r.Key {
				event.Set(e, r.Key.Value(), r.Value)
			}
		}
	}
	canonicalize(e)
}

// canonicalize rewrites the entity fields the producer gave into Vigil's canonical
// forms (lower case, DOMAIN\user and user@domain split, short host names) and records
// them in related.*.
func canonicalize(e *event.Event) {
	if n := e.Str(event.UserName); n != "" {
		e.SetStr(event.UserName, "")
		e.SetUser(event.CanonicalUser(n, e.Str(event.UserDomain)))
	}
	if n := e.Str(event.UserTargetName); n != "" {
		e.SetStr(event.UserTargetName, "")
		e.SetTargetUser(event.CanonicalUser(n, e.Str(event.UserTargetDomain)))
	}
	h := e.Str(event.HostName)
	if h == "" {
		h = e.Str(event.HostHostname)
	}
	e.SetHost(h)
}

var _ decode.Decoder = (*Decoder)(nil)
