// Package okta decodes the Okta System Log: the LogEvent objects the /api/v1/logs API
// returns, one per line (as log shippers and `okta-logs` exporters write them) or a
// JSON array (one API page as returned).
//
// Every field of the LogEvent is kept as a raw field under its dotted API name
// (eventType, actor.alternateId, outcome.result, debugContext.debugData.requestUri,
// target.type repeated per target, ...), which are the names SigmaHQ's Okta rules
// use. The ECS core is filled the way Elastic's Okta integration does: event.action is
// the eventType, event.outcome comes from outcome.result, the actor is the user and a
// target of type User is user.target.
//
// A record is read in one pass over its text: decode.Flattener.FlattenJSON adds the
// raw fields and notes the values the normalization needs (Flattener.Marks), without
// building a tree. Those values are therefore found by their dotted name, as the raw
// fields and Sigma rules see them: a producer writing {"outcome.result":"FAILURE"} is
// read like {"outcome":{"result":"FAILURE"}}; of a name given twice, the first
// non-null value counts. Values inside arrays are read only where the LogEvent has
// arrays: the first target whose type is User (its type, alternateId and id being
// members of one element of the target array) and each hop of request.ipChain. The
// parsed tree is built only for what the one pass cannot take: invalid JSON (for the
// parser's message) and a record whose published member is not found.
package okta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// FormatID is the stable id of the Okta System Log format.
const FormatID = "okta"

// Formats lists the format this package decodes.
func Formats() []decode.Format {
	return []decode.Format{{
		ID:          FormatID,
		Description: "Okta System Log events (/api/v1/logs LogEvent objects, NDJSON or a JSON array page)",
		Sniff:       Sniff,
		New:         func() decode.Decoder { return NewDecoder() },
	}}
}

// Sniff scores head as Okta System Log: 90 when the first object has eventType,
// published and actor; 70 when the first object is too large to parse from head but
// the keys that only LogEvents carry together are there.
func Sniff(head []byte) int {
	if v := decode.FirstJSON(head); v != nil {
		if v.Get("eventType") != nil && v.Get("published") != nil && v.Get("actor") != nil {
			return 90
		}
		return 0
	}
	b := bytes.TrimLeft(head, " \t\r\n[\ufeff")
	if len(b) > 0 && b[0] == '{' &&
		bytes.Contains(head, []byte(`"eventType"`)) && bytes.Contains(head, []byte(`"published"`)) &&
		bytes.Contains(head, []byte(`"displayMessage"`)) && bytes.Contains(head, []byte(`"actor"`)) {
		return 70
	}
	return 0
}

// Decoder decodes one Okta System Log stream. It keeps its parser and buffers between
// records; use one Decoder per goroutine.
type Decoder struct {
	loop decode.JSONLoop
	flat decode.Flattener
	at   [numTags]uint16 // per tag: 1 + the index in flat.Marks of its first mark outside arrays, 0 when none
	kbuf []byte          // a user key being built
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder {
	d := &Decoder{}
	d.flat.Map = mapField
	return d
}

// Tags of the LogEvent fields the normalization reads (decode.FieldRule.Mark).
const (
	tagNone uint16 = iota
	tagEventType
	tagPublished
	tagUUID
	tagMessage
	tagOutcomeReason
	tagOutcomeResult
	tagSeverity
	tagActorType
	tagActorAltID
	tagActorID
	tagActorName
	tagClientIP
	tagUserAgent
	tagTargetType  // in the target array
	tagTargetAltID // in the target array
	tagTargetID    // in the target array
	tagHopIP       // in the request.ipChain array
	numTags
)

// tagOf maps the dotted names the normalization reads to their tags.
var tagOf = map[string]uint16{
	"eventType":                     tagEventType,
	"published":                     tagPublished,
	"uuid":                          tagUUID,
	"displayMessage":                tagMessage,
	"outcome.reason":                tagOutcomeReason,
	"outcome.result":                tagOutcomeResult,
	"severity":                      tagSeverity,
	"actor.type":                    tagActorType,
	"actor.alternateId":             tagActorAltID,
	"actor.id":                      tagActorID,
	"actor.displayName":             tagActorName,
	"client.ipAddress":              tagClientIP,
	"client.userAgent.rawUserAgent": tagUserAgent,
	"target.type":                   tagTargetType,
	"target.alternateId":            tagTargetAltID,
	"target.id":                     tagTargetID,
	"request.ipChain.ip":            tagHopIP,
}

// mapField is the Flattener's Mapper: every leaf is kept under its own name, and the
// ones the normalization reads are marked.
func mapField(name []byte) decode.FieldRule {
	return decode.FieldRule{Mark: tagOf[string(name)]}
}

// errTree says a record takes the parsed-tree path: its text is invalid JSON (the
// parser says why), or its published member was not found in one pass.
var errTree = errors.New("record needs the tree path")

// Decode implements decode.Decoder.
func (d *Decoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	d.loop.Format, d.loop.What = FormatID, "LogEvent"
	if d.flat.Map == nil {
		d.flat.Map = mapField
	}
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

// fillText normalizes one LogEvent from its text in one pass, or says why it cannot
// (errTree: take the tree path).
func (d *Decoder) fillText(e *event.Event, doc []byte) (reason string, err error) {
	d.flat.Begin()
	if len(doc) == 0 || doc[0] != '{' || d.flat.FlattenJSON(e, "", doc) != nil {
		return "", errTree
	}
	return d.normalize(e, decode.Members{F: &d.flat})
}

// fill normalizes one parsed LogEvent into e, or says why it cannot.
func (d *Decoder) fill(e *event.Event, v *fastjson.Value) (reason string, err error) {
	if v.Type() != fastjson.TypeObject {
		return decode.ReasonMalformed, fmt.Errorf("LogEvent is a JSON %s, not an object", v.Type())
	}
	d.flat.Begin()
	d.flat.Flatten(e, "", v)
	return d.normalize(e, decode.Members{F: &d.flat, Tree: v})
}

// collect notes in d.at where the marks of the record just flattened are, and returns
// the array element of the first target of type User (0 when there is none).
func (d *Decoder) collect() (target int32) {
	d.at = [numTags]uint16{}
	var typeElem int32
	for i := range d.flat.Marks {
		m := &d.flat.Marks[i]
		switch m.Tag {
		case tagTargetType:
			// A target's own type is the first leaf of the name in its element.
			if m.Elem == 0 || m.Elem == typeElem {
				continue
			}
			typeElem = m.Elem
			if target == 0 && m.Kind == decode.KindString && isUserType(m.Value) {
				target = m.Elem
			}
		case tagTargetAltID, tagTargetID, tagHopIP: // array members, read where used
		default:
			if m.Elem == 0 && d.at[m.Tag] == 0 {
				d.at[m.Tag] = uint16(i + 1) // Marks holds at most event.MaxRawFields
			}
		}
	}
	return target
}

// noMark is the mark of an absent field.
var noMark decode.Marked

// mark returns the first mark of tag outside arrays, or noMark.
func (d *Decoder) mark(tag uint16) *decode.Marked {
	if i := d.at[tag]; i > 0 {
		return &d.flat.Marks[i-1]
	}
	return &noMark
}

// str is the string value of tag's field, "" when it is absent or not a string.
func (d *Decoder) str(tag uint16) string {
	if m := d.mark(tag); m.Kind == decode.KindString {
		return m.Value
	}
	return ""
}

// elemStr is the string value of the first leaf of tag in array element elem.
func (d *Decoder) elemStr(tag uint16, elem int32) string {
	for _, m := range d.flat.Marks {
		if m.Tag == tag && m.Elem == elem {
			if m.Kind == decode.KindString {
				return m.Value
			}
			return ""
		}
	}
	return ""
}

// normalize checks the LogEvent just flattened into e and fills the ECS core from its
// marked fields; t reads its top-level members for what marks do not show (null and
// object values).
func (d *Decoder) normalize(e *event.Event, t decode.Members) (reason string, err error) {
	target := d.collect()
	eventType := d.str(tagEventType)
	if eventType == "" {
		return decode.ReasonMissingField, errors.New("no eventType: not an Okta LogEvent")
	}
	pub := d.mark(tagPublished).Value
	if d.at[tagPublished] == 0 {
		switch t.Kind("published") {
		case decode.KindNone:
			if t.Tree == nil {
				return "", errTree // maybe past the members FlattenJSON notes
			}
			return decode.ReasonBadTimestamp, errors.New("no published time")
		case decode.KindNull:
			return decode.ReasonBadTimestamp, errors.New("no published time")
		case decode.KindObject, decode.KindArray:
			// Said without the value's text: fastjson renders nested keys differently
			// depending on whether they were read, so the two paths would disagree.
			return decode.ReasonBadTimestamp, errors.New("published is a JSON object or array, not a time")
		}
		pub = t.Text("published")
	}
	ts, err := decode.ParseTime(pub)
	if err != nil {
		return decode.ReasonBadTimestamp, fmt.Errorf("parsing published: %w", err)
	}
	e.Timestamp = ts

	e.SetStr(event.EventKind, "event")
	e.SetStr(event.EventModule, "okta")
	e.SetStr(event.EventDataset, "okta.system")
	e.SetStr(event.EventAction, eventType)
	e.SetStr(event.EventID, d.str(tagUUID))
	e.SetStr(event.Message, d.str(tagMessage))
	e.SetStr(event.EventReason, d.str(tagOutcomeReason))
	e.SetStr(event.EventOutcome, outcome(d.str(tagOutcomeResult)))
	e.Category, e.Type = classify(eventType)
	if sev, level := severity(d.str(tagSeverity)); sev > 0 {
		e.SetNum(event.EventSeverity, sev)
		e.SetStr(event.LogLevel, level)
	}

	if isUserType(d.str(tagActorType)) {
		d.setActor(e)
	}
	if target != 0 {
		alt := d.elemStr(tagTargetAltID, target)
		u := event.ParseUser(alt)
		e.SetTargetUserKey(u, d.userKey(u, alt))
		if id := d.elemStr(tagTargetID, target); !isUnknown(id) {
			e.SetStr(event.UserTargetID, id)
		}
	}

	ip := event.ParseIP(d.str(tagClientIP))
	e.SetIP(event.SourceIP, ip)
	e.SetIP(event.ClientIP, ip)
	if ua := d.str(tagUserAgent); !isUnknown(ua) {
		e.SetStr(event.UserAgentOriginal, ua)
	}
	var hop int32
	for _, m := range d.flat.Marks {
		// A hop's own ip is the first leaf of the name in its element.
		if m.Tag == tagHopIP && m.Elem != 0 && m.Elem != hop {
			hop = m.Elem
			if m.Kind == decode.KindString {
				e.AddRelatedIP(event.ParseIP(m.Value))
			}
		}
	}
	return "", nil
}

// setActor fills user.* from an actor of type User.
func (d *Decoder) setActor(e *event.Event) {
	alt := d.str(tagActorAltID)
	if isUnknown(alt) {
		return
	}
	u := event.ParseUser(alt)
	e.SetUserKey(u, d.userKey(u, alt))
	if strings.IndexByte(alt, '@') > 0 && strings.IndexByte(alt, ' ') < 0 {
		e.SetStr(event.UserEmail, alt)
	}
	if id := d.str(tagActorID); !isUnknown(id) {
		e.SetStr(event.UserID, id)
	}
	if name := d.str(tagActorName); !isUnknown(name) {
		e.SetStr(event.UserFullName, name)
	}
}

// userKey returns u.Key() without allocating: s, the text u was parsed from, when it
// already is the key (a user@domain name in lower case, the usual case), else the key
// built in the arena.
func (d *Decoder) userKey(u event.UserRef, s string) string {
	if u.Domain == "" {
		return u.Name
	}
	if n := len(u.Name); len(s) == n+1+len(u.Domain) && s[:n] == u.Name && s[n] == '@' && s[n+1:] == u.Domain {
		return s
	}
	d.kbuf = u.AppendKey(d.kbuf[:0])
	return d.flat.Arena.String(d.kbuf)
}

// isUserType reports whether an actor or target type names an Okta user.
func isUserType(t string) bool { return strings.EqualFold(t, "User") }

// isUnknown reports whether an Okta string is absent or Okta's placeholder for an
// unknown value ("unknown" ids and names of failed logins, "UNKNOWN" user agents).
func isUnknown(s string) bool {
	return s == "" || strings.EqualFold(s, "unknown")
}

// outcome maps outcome.result to ECS event.outcome.
func outcome(result string) string {
	switch result {
	case "SUCCESS", "ALLOW":
		return "success"
	case "FAILURE", "DENY":
		return "failure"
	case "":
		return ""
	}
	return "unknown" // SKIPPED, CHALLENGE, UNKNOWN
}

// severity maps the LogEvent severity to ECS event.severity (as Elastic's integration
// numbers them) and log.level; 0 when absent or unknown.
func severity(s string) (int64, string) {
	switch s {
	case "DEBUG":
		return 1, "debug"
	case "INFO":
		return 2, "info"
	case "WARN":
		return 3, "warn"
	case "ERROR":
		return 4, "error"
	}
	return 0, ""
}

var _ decode.Decoder = (*Decoder)(nil)
