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
package okta

import (
	"bytes"
	"context"
	"errors"
	"fmt"

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
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder { return &Decoder{} }

// Decode implements decode.Decoder.
func (d *Decoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	d.loop.Format, d.loop.What = FormatID, "LogEvent"
	return d.loop.Run(ctx, in, sink, func(rec decode.JSONRecord, v *fastjson.Value) error {
		e := sink.Alloc()
		if reason, err := d.fill(e, v); err != nil {
			decode.Reject(sink, in, FormatID, rec.Offset, rec.Line, reason, err)
			return nil
		}
		e.Origin = event.Origin{Source: in.Source, Format: FormatID, Offset: rec.Offset, Line: rec.Line}
		sink.Emit(e)
		return nil
	})
}

// fill normalizes one LogEvent into e, or says why it cannot.
func (d *Decoder) fill(e *event.Event, v *fastjson.Value) (reason string, err error) {
	if v.Type() != fastjson.TypeObject {
		return decode.ReasonMalformed, fmt.Errorf("LogEvent is a JSON %s, not an object", v.Type())
	}
	eventType := v.GetStringBytes("eventType")
	if len(eventType) == 0 {
		return decode.ReasonMissingField, errors.New("no eventType: not an Okta LogEvent")
	}
	pub := v.Get("published")
	if pub == nil || pub.Type() == fastjson.TypeNull {
		return decode.ReasonBadTimestamp, errors.New("no published time")
	}
	ts, err := decode.ParseTime(d.flat.Text(pub))
	if err != nil {
		return decode.ReasonBadTimestamp, fmt.Errorf("parsing published: %w", err)
	}
	e.Timestamp = ts
	d.flat.Begin()
	d.flat.Flatten(e, "", v)
	d.normalize(e, v, d.flat.Arena.String(eventType))
	return "", nil
}

// normalize fills the ECS core from the LogEvent v.
func (d *Decoder) normalize(e *event.Event, v *fastjson.Value, eventType string) {
	a := &d.flat.Arena
	e.SetStr(event.EventKind, "event")
	e.SetStr(event.EventModule, "okta")
	e.SetStr(event.EventDataset, "okta.system")
	e.SetStr(event.EventAction, eventType)
	e.SetStr(event.EventID, a.String(v.GetStringBytes("uuid")))
	e.SetStr(event.Message, a.String(v.GetStringBytes("displayMessage")))
	e.SetStr(event.EventReason, a.String(v.GetStringBytes("outcome", "reason")))

	result := v.GetStringBytes("outcome", "result")
	e.SetStr(event.EventOutcome, outcome(result))
	e.Category, e.Type = classify(eventType)

	if sev, level := severity(v.GetStringBytes("severity")); sev > 0 {
		e.SetNum(event.EventSeverity, sev)
		e.SetStr(event.LogLevel, level)
	}

	if actor := v.Get("actor"); actor != nil && isUserType(actor.GetStringBytes("type")) {
		d.setActor(e, actor)
	}
	for _, t := range v.GetArray("target") {
		if isUserType(t.GetStringBytes("type")) {
			e.SetTargetUser(event.ParseUser(a.String(t.GetStringBytes("alternateId"))))
			if id := t.GetStringBytes("id"); !isUnknown(id) {
				e.SetStr(event.UserTargetID, a.String(id))
			}
			break
		}
	}

	if client := v.Get("client"); client != nil {
		ip := event.ParseIP(a.String(client.GetStringBytes("ipAddress")))
		e.SetIP(event.SourceIP, ip)
		e.SetIP(event.ClientIP, ip)
		if ua := client.GetStringBytes("userAgent", "rawUserAgent"); !isUnknown(ua) {
			e.SetStr(event.UserAgentOriginal, a.String(ua))
		}
	}
	for _, hop := range v.GetArray("request", "ipChain") {
		e.AddRelatedIP(event.ParseIP(a.String(hop.GetStringBytes("ip"))))
	}
}

// setActor fills user.* from an actor of type User.
func (d *Decoder) setActor(e *event.Event, actor *fastjson.Value) {
	a := &d.flat.Arena
	alt := actor.GetStringBytes("alternateId")
	if isUnknown(alt) {
		return
	}
	altS := a.String(alt)
	e.SetUser(event.ParseUser(altS))
	if bytes.IndexByte(alt, '@') > 0 && bytes.IndexByte(alt, ' ') < 0 {
		e.SetStr(event.UserEmail, altS)
	}
	if id := actor.GetStringBytes("id"); !isUnknown(id) {
		e.SetStr(event.UserID, a.String(id))
	}
	if name := actor.GetStringBytes("displayName"); !isUnknown(name) {
		e.SetStr(event.UserFullName, a.String(name))
	}
}

// isUserType reports whether an actor or target type names an Okta user.
func isUserType(t []byte) bool { return bytes.EqualFold(t, []byte("User")) }

// isUnknown reports whether an Okta string is absent or Okta's placeholder for an
// unknown value ("unknown" ids and names of failed logins, "UNKNOWN" user agents).
func isUnknown(b []byte) bool {
	return len(b) == 0 || bytes.EqualFold(b, []byte("unknown"))
}

// outcome maps outcome.result to ECS event.outcome.
func outcome(result []byte) string {
	switch string(result) {
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
func severity(s []byte) (int64, string) {
	switch string(s) {
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
