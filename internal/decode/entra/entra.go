// Package entra decodes Microsoft Entra ID (Azure AD) sign-in logs in the shapes
// teams export them:
//
//   - Azure Monitor diagnostic-settings records, as Event Hub delivers them
//     ({"records":[...]}) or as storage-account blobs write them (one record per
//     line): time, category (SignInLogs, NonInteractiveUserSignInLogs,
//     ServicePrincipalSignInLogs, ManagedIdentitySignInLogs), operationName,
//     resultType, resultDescription, callerIpAddress, properties{...}.
//   - Microsoft Graph /auditLogs/signIns objects: the sign-in at top level, one per
//     line, in a JSON array, or in a {"value":[...]} page.
//
// Every field is kept raw under its producer's dotted name: "properties.status.errorCode"
// and "resultType" for diagnostic records, "status.errorCode" for Graph objects.
// Records of other diagnostic categories met in the same stream (AuditLogs, ...) are
// kept with a generic normalization rather than rejected.
//
// A record on a line of its own (or an element of a bare JSON array) is read in one
// pass over its text: decode.Flattener.FlattenJSON adds the raw fields and notes the
// values the normalization needs (Flattener.Marks), without building a tree. Those
// values are therefore found by their dotted name, as the raw fields and Sigma rules
// see them: {"properties.status.errorCode":0} is read like
// {"properties":{"status":{"errorCode":0}}}; of a name given twice, the first non-null
// value counts, and values inside arrays are not read. The shape of a record (an
// envelope, a diagnostic record with a properties object, a Graph sign-in) is told
// from its top-level members as written. Envelopes ({"records":[...]},
// {"value":[...]}) are parsed into a tree and each record in them is flattened from
// it with the same rules, so both paths give the same events.
package entra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
	"github.com/valyala/fastjson/fastfloat"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// FormatID is the stable id of the Entra ID sign-in log format.
const FormatID = "entra-signin"

// Formats lists the format this package decodes.
func Formats() []decode.Format {
	return []decode.Format{{
		ID:          FormatID,
		Description: "Microsoft Entra ID sign-in logs (Azure Monitor / Event Hub records, Microsoft Graph auditLogs/signIns)",
		Sniff:       Sniff,
		New:         func() decode.Decoder { return NewDecoder() },
	}}
}

// Sniff scores head as Entra ID sign-in logs: 90 when the first record is a
// diagnostic record of a sign-in category (or operationName "Sign-in activity"), or a
// Graph sign-in (userPrincipalName, appDisplayName and createdDateTime), bare or first
// in a records/value envelope; 75 when the envelope is too large to parse from head
// but its start and a sign-in category are there.
func Sniff(head []byte) int {
	v := decode.FirstJSON(head)
	if v == nil {
		return sniffBytes(head)
	}
	for _, env := range []string{"records", "value"} {
		if a := v.Get(env); a != nil {
			arr, err := a.Array()
			if err != nil || len(arr) == 0 {
				return 0
			}
			v = arr[0]
			break
		}
	}
	if isDiagSignIn(v) || isGraphSignIn(v) {
		return 90
	}
	return 0
}

// sniffBytes recognises an envelope whose first record does not fit in head.
func sniffBytes(head []byte) int {
	b := bytes.TrimLeft(head, " \t\r\n\ufeff")
	if !bytes.HasPrefix(b, []byte("{")) {
		return 0
	}
	b = bytes.TrimLeft(b[1:], " \t\r\n")
	switch {
	case bytes.HasPrefix(b, []byte(`"records"`)):
		for _, c := range signInCategories {
			if bytes.Contains(head, []byte(`"`+c+`"`)) {
				return 75
			}
		}
	case bytes.Contains(head, []byte(`"userPrincipalName"`)) && bytes.Contains(head, []byte(`"appDisplayName"`)) &&
		bytes.Contains(head, []byte(`"createdDateTime"`)):
		return 75
	}
	return 0
}

// signInCategories are the diagnostic categories holding sign-ins.
var signInCategories = []string{
	"SignInLogs", "NonInteractiveUserSignInLogs", "ServicePrincipalSignInLogs",
	"ManagedIdentitySignInLogs", "ADFSSignInLogs",
}

func isSignInCategory(c string) bool {
	for _, s := range signInCategories {
		if c == s {
			return true
		}
	}
	return false
}

func isDiagSignIn(v *fastjson.Value) bool {
	return isSignInCategory(string(v.GetStringBytes("category"))) ||
		string(v.GetStringBytes("operationName")) == "Sign-in activity"
}

func isGraphSignIn(v *fastjson.Value) bool {
	return v.Get("createdDateTime") != nil && v.Get("appDisplayName") != nil &&
		(v.Get("userPrincipalName") != nil || v.Get("servicePrincipalId") != nil)
}

// Decoder decodes one stream of Entra ID sign-in logs. It keeps its parser and
// buffers between records; use one Decoder per goroutine.
type Decoder struct {
	loop decode.JSONLoop
	flat decode.Flattener
	at   [2 * numFields]uint16 // per field (own, then properties'): 1 + its index in flat.Marks, 0 when absent
	buf  []byte                // scratch for a text built per record (error code, user key)
	n    int                   // records decoded, for context checks
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder {
	d := &Decoder{}
	d.flat.Map = mapField
	return d
}

// ctxCheckEvery is how many records are decoded between checks of the context.
const ctxCheckEvery = 256

// pos is where a top-level JSON object starts, shared by the records it holds.
type pos struct {
	offset, line int64
}

// Fields the normalization reads. A field's mark tag is its number plus one for the
// record's own member (a Graph sign-in's, or a diagnostic record's envelope field),
// plus numFields more under "properties." (a diagnostic record's sign-in).
const (
	fCategory = iota
	fOperationName
	fResultType
	fResultDescription
	fCallerIP
	fTime
	fServicePrincipalID
	fCreated
	fTenantID
	fID
	fUPN
	fUserDisplayName
	fUserID
	fAppDisplayName
	fUserAgent
	fIPAddress
	fErrorCode
	fFailureReason
	numFields

	firstPropField = fCreated // the fields also read under "properties."
)

// fieldNames are the dotted names of the fields, relative to the record or to its properties.
var fieldNames = [numFields]string{
	fCategory:           "category",
	fOperationName:      "operationName",
	fResultType:         "resultType",
	fResultDescription:  "resultDescription",
	fCallerIP:           "callerIpAddress",
	fTime:               "time",
	fServicePrincipalID: "servicePrincipalId",
	fCreated:            "createdDateTime",
	fTenantID:           "tenantId",
	fID:                 "id",
	fUPN:                "userPrincipalName",
	fUserDisplayName:    "userDisplayName",
	fUserID:             "userId",
	fAppDisplayName:     "appDisplayName",
	fUserAgent:          "userAgent",
	fIPAddress:          "ipAddress",
	fErrorCode:          "status.errorCode",
	fFailureReason:      "status.failureReason",
}

// tagOf maps the dotted names the normalization reads to their mark tags.
var tagOf = func() map[string]uint16 {
	m := make(map[string]uint16, 2*numFields)
	for f, name := range fieldNames {
		m[name] = uint16(f + 1)
		if f >= firstPropField {
			m["properties."+name] = uint16(numFields + f + 1)
		}
	}
	return m
}()

// mapField is the Flattener's Mapper: every leaf is kept under its own name, and the
// ones the normalization reads are marked.
func mapField(name []byte) decode.FieldRule {
	return decode.FieldRule{Mark: tagOf[string(name)]}
}

// Decode implements decode.Decoder.
func (d *Decoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	d.loop.Format, d.loop.What = FormatID, "record"
	if d.flat.Map == nil {
		d.flat.Map = mapField
	}
	d.n = 0
	return d.loop.RunRaw(ctx, in, sink, func(rec decode.JSONRecord) error {
		if err := d.tick(ctx); err != nil {
			return err
		}
		if !maybeEnvelope(rec.Bytes) {
			e := sink.Alloc()
			reason, err := d.fillText(e, rec.Bytes)
			if !errors.Is(err, errTree) {
				d.finish(in, sink, e, pos{rec.Offset, rec.Line}, reason, err)
				return nil
			}
		}
		return d.decodeTree(ctx, in, sink, rec)
	})
}

// tick counts a record and checks the context every ctxCheckEvery records.
func (d *Decoder) tick(ctx context.Context) error {
	d.n++
	if d.n%ctxCheckEvery == 0 {
		return ctx.Err()
	}
	return nil
}

// maybeEnvelope reports whether obj, a JSON object's text, starts like an envelope
// (its first member is records, value or a Graph page's @odata.context), so that it
// goes to the tree path without a pass over its text first. Envelopes that start
// otherwise are found after the pass.
func maybeEnvelope(obj []byte) bool {
	i := decode.SkipJSONSpace(obj, 1)
	if i >= len(obj) || obj[i] != '"' {
		return false
	}
	k := obj[i+1:]
	return bytes.HasPrefix(k, []byte(`records"`)) || bytes.HasPrefix(k, []byte(`value"`)) || bytes.HasPrefix(k, []byte(`@odata.context"`))
}

// errTree says a record's text takes the tree path: it is invalid JSON (the parser
// says why), an envelope, or too large for the top-level members FlattenJSON notes.
var errTree = errors.New("record needs the tree path")

// fillText normalizes one record from its text in one pass, or says why it cannot
// (errTree: take the tree path).
func (d *Decoder) fillText(e *event.Event, doc []byte) (reason string, err error) {
	d.flat.Begin()
	if len(doc) == 0 || doc[0] != '{' || d.flat.FlattenJSON(e, "", doc) != nil || e.RawTruncated ||
		d.flat.Top("records").Kind == decode.KindArray || d.flat.Top("value").Kind == decode.KindArray {
		return "", errTree
	}
	return d.normalize(e, decode.Members{F: &d.flat})
}

// decodeTree parses rec and decodes the records of its envelope, or rec itself.
func (d *Decoder) decodeTree(ctx context.Context, in decode.Input, sink decode.Sink, rec decode.JSONRecord) error {
	v, err := d.loop.Parser.ParseBytes(rec.Bytes)
	if err != nil {
		d.loop.RejectMalformed(in, sink, rec, err)
		return nil
	}
	at := pos{rec.Offset, rec.Line}
	records := envelope(v)
	if records == nil {
		d.record(in, sink, v, at)
		return nil
	}
	for i, r := range records {
		if i > 0 {
			if err := d.tick(ctx); err != nil {
				return err
			}
		}
		d.record(in, sink, r, at)
	}
	return nil
}

// envelope returns the records of a {"records":[...]} or {"value":[...]} wrapper, or
// nil when v is a record itself.
func envelope(v *fastjson.Value) []*fastjson.Value {
	for _, k := range [...]string{"records", "value"} {
		if a := v.Get(k); a != nil && a.Type() == fastjson.TypeArray {
			arr, _ := a.Array()
			if arr == nil {
				arr = []*fastjson.Value{} // an empty page holds no records
			}
			return arr
		}
	}
	return nil
}

// record decodes one parsed diagnostic record or Graph sign-in and emits or rejects it.
func (d *Decoder) record(in decode.Input, sink decode.Sink, r *fastjson.Value, at pos) {
	if r.Type() != fastjson.TypeObject {
		decode.Reject(sink, in, FormatID, at.offset, at.line, decode.ReasonMalformed,
			fmt.Errorf("record is a JSON %s, not an object", r.Type()))
		return
	}
	e := sink.Alloc()
	reason, err := d.fill(e, r)
	d.finish(in, sink, e, at, reason, err)
}

// fill normalizes one parsed record (an object) into e, or says why it cannot.
func (d *Decoder) fill(e *event.Event, r *fastjson.Value) (reason string, err error) {
	d.flat.Begin()
	d.flat.Flatten(e, "", r)
	return d.normalize(e, decode.Members{F: &d.flat, Tree: r})
}

// finish emits e, or rejects its record when normalizing it failed with err.
func (d *Decoder) finish(in decode.Input, sink decode.Sink, e *event.Event, at pos, reason string, err error) {
	if err != nil {
		decode.Reject(sink, in, FormatID, at.offset, at.line, reason, err)
		return
	}
	e.Origin = event.Origin{Source: in.Source, Format: FormatID, Offset: at.offset, Line: at.line}
	sink.Emit(e)
}

// collect notes, for each field, the first of its marks outside arrays in the record
// just flattened.
func (d *Decoder) collect() {
	d.at = [2 * numFields]uint16{}
	for i := range d.flat.Marks {
		if m := &d.flat.Marks[i]; m.Elem == 0 && d.at[m.Tag-1] == 0 {
			d.at[m.Tag-1] = uint16(i + 1) // Marks holds at most event.MaxRawFields
		}
	}
}

// fieldSet selects the record's own fields or its properties' (an offset into Decoder.at).
type fieldSet int

const (
	own   fieldSet = 0
	props fieldSet = numFields
)

// noMark is the mark of an absent field.
var noMark decode.Marked

// mark returns field f of set s, or noMark.
func (d *Decoder) mark(s fieldSet, f int) *decode.Marked {
	if i := d.at[int(s)+f]; i > 0 {
		return &d.flat.Marks[i-1]
	}
	return &noMark
}

// str is the string value of field f of set s, "" when it is absent or not a string.
func (d *Decoder) str(s fieldSet, f int) string {
	if m := d.mark(s, f); m.Kind == decode.KindString {
		return m.Value
	}
	return ""
}

// has reports whether the record has a top-level member for field f (null counts).
func has(t decode.Members, f int) bool { return t.Kind(fieldNames[f]) != decode.KindNone }

// normalize checks the record just flattened into e and fills the ECS core from its
// marked fields; t reads its top-level members for its shape and for what marks do
// not show (null and object values).
func (d *Decoder) normalize(e *event.Event, t decode.Members) (reason string, err error) {
	d.collect()
	p := props
	diag := t.Kind("properties") == decode.KindObject && (has(t, fCategory) || has(t, fOperationName))
	if !diag {
		p = own // a Graph sign-in is its own properties
		if !has(t, fCreated) || !has(t, fAppDisplayName) || !has(t, fUPN) && !has(t, fServicePrincipalID) {
			return decode.ReasonUnsupported, errors.New("neither an Azure diagnostic record nor a Graph sign-in")
		}
	}
	var when string
	if c := d.mark(p, fCreated); diag && c.Kind == decode.KindString {
		when = c.Value
	} else {
		f := fCreated
		if diag {
			f = fTime
		}
		if m := d.mark(own, f); m.Kind != decode.KindNone {
			when = m.Value
		} else {
			if k := t.Kind(fieldNames[f]); k == decode.KindNone || k == decode.KindNull {
				return decode.ReasonBadTimestamp, errors.New("no createdDateTime or time")
			}
			when = t.Text(fieldNames[f])
		}
	}
	ts, err := decode.ParseTime(when)
	if err != nil {
		return decode.ReasonBadTimestamp, fmt.Errorf("parsing event time: %w", err)
	}
	e.Timestamp = ts

	e.SetStr(event.EventKind, "event")
	e.SetStr(event.EventModule, "azure")
	e.SetStr(event.CloudProvider, "azure")
	tenant := d.str(p, fTenantID)
	if tenant == "" {
		tenant = d.str(own, fTenantID)
	}
	e.SetStr(event.CloudAccountID, tenant)
	category, operation := d.str(own, fCategory), d.str(own, fOperationName)
	if diag && !isSignInCategory(category) && operation != "Sign-in activity" {
		// A diagnostic record of another category: the generic core.
		e.SetStr(event.EventAction, operation)
		e.SetStr(event.EventDataset, dataset(category, true))
		e.SetStr(event.EventID, d.str(props, fID))
		e.SetIP(event.SourceIP, event.ParseIP(d.str(own, fCallerIP)))
		return "", nil
	}
	d.signIn(e, p, category, diag)
	return "", nil
}

// signIn fills the ECS core of a sign-in from its properties' fields (p) and, for a
// diagnostic record, its envelope fields (own).
func (d *Decoder) signIn(e *event.Event, p fieldSet, category string, diag bool) {
	e.Category, e.Type = event.CatAuthentication, event.TypeStart
	e.SetStr(event.EventAction, "sign-in")
	e.SetStr(event.EventDataset, dataset(category, diag))
	e.SetStr(event.EventID, d.str(p, fID))

	if code, ok := d.errorCode(p, diag); ok {
		e.SetStr(event.EventCode, code)
		if code == "0" {
			e.SetStr(event.EventOutcome, "success")
		} else {
			e.SetStr(event.EventOutcome, "failure")
			reason := d.str(p, fFailureReason)
			if reason == "" && diag {
				reason = d.str(own, fResultDescription)
			}
			e.SetStr(event.EventReason, reason)
		}
	}

	upn := d.str(p, fUPN)
	u := event.ParseUser(upn)
	e.SetUserKey(u, d.userKey(u, upn))
	e.SetStr(event.UserFullName, d.str(p, fUserDisplayName))
	e.SetStr(event.UserID, d.str(p, fUserID))
	e.SetStr(event.ServiceName, d.str(p, fAppDisplayName))
	e.SetStr(event.UserAgentOriginal, d.str(p, fUserAgent))

	ip := d.str(p, fIPAddress)
	if ip == "" && diag {
		ip = d.str(own, fCallerIP)
	}
	e.SetIP(event.SourceIP, event.ParseIP(ip))
}

// errorCode returns the sign-in's result code as text: status.errorCode (an integer
// written in its shortest form), or the diagnostic record's resultType.
func (d *Decoder) errorCode(p fieldSet, diag bool) (string, bool) {
	switch c := d.mark(p, fErrorCode); c.Kind {
	case decode.KindNumber:
		if n, err := fastfloat.ParseInt64(c.Value); err == nil {
			d.buf = strconv.AppendInt(d.buf[:0], n, 10)
			if string(d.buf) == c.Value {
				return c.Value, true
			}
			return d.flat.Arena.String(d.buf), true
		}
	case decode.KindString:
		return c.Value, c.Value != ""
	}
	if diag {
		if s := d.str(own, fResultType); s != "" {
			return s, true
		}
	}
	return "", false
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
	d.buf = u.AppendKey(d.buf[:0])
	return d.flat.Arena.String(d.buf)
}

// dataset names the event.dataset of a category: "azure." and the category in lower
// case, e.g. azure.signinlogs; Graph sign-ins (no category) are azure.signinlogs.
func dataset(category string, diag bool) string {
	switch category {
	case "SignInLogs":
		return "azure.signinlogs"
	case "NonInteractiveUserSignInLogs":
		return "azure.noninteractiveusersigninlogs"
	case "ServicePrincipalSignInLogs":
		return "azure.serviceprincipalsigninlogs"
	case "ManagedIdentitySignInLogs":
		return "azure.managedidentitysigninlogs"
	case "AuditLogs":
		return "azure.auditlogs"
	case "":
		if !diag {
			return "azure.signinlogs"
		}
		return "azure"
	}
	return "azure." + strings.ToLower(category)
}

var _ decode.Decoder = (*Decoder)(nil)
