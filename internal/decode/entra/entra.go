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
package entra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/valyala/fastjson"

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

func isSignInCategory(c []byte) bool {
	for _, s := range signInCategories {
		if string(c) == s {
			return true
		}
	}
	return false
}

func isDiagSignIn(v *fastjson.Value) bool {
	return isSignInCategory(v.GetStringBytes("category")) ||
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
	num  []byte
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder { return &Decoder{} }

// ctxCheckEvery is how many records are decoded between checks of the context.
const ctxCheckEvery = 256

// pos is where a top-level JSON object starts, shared by the records it holds.
type pos struct {
	offset, line int64
}

// Decode implements decode.Decoder.
func (d *Decoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	d.loop.Format, d.loop.What = FormatID, "record"
	n := 0
	return d.loop.Run(ctx, in, sink, func(rec decode.JSONRecord, v *fastjson.Value) error {
		at := pos{rec.Offset, rec.Line}
		records := envelope(v)
		if records == nil {
			records = []*fastjson.Value{v}
		}
		for _, r := range records {
			if n%ctxCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			n++
			d.record(in, sink, r, at)
		}
		return nil
	})
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

// record decodes one diagnostic record or Graph sign-in and emits or rejects it.
func (d *Decoder) record(in decode.Input, sink decode.Sink, r *fastjson.Value, at pos) {
	if r.Type() != fastjson.TypeObject {
		decode.Reject(sink, in, FormatID, at.offset, at.line, decode.ReasonMalformed,
			fmt.Errorf("record is a JSON %s, not an object", r.Type()))
		return
	}
	e := sink.Alloc()
	if reason, err := d.fill(e, r); err != nil {
		decode.Reject(sink, in, FormatID, at.offset, at.line, reason, err)
		return
	}
	e.Origin = event.Origin{Source: in.Source, Format: FormatID, Offset: at.offset, Line: at.line}
	sink.Emit(e)
}

// fill normalizes one record into e, or says why it cannot.
func (d *Decoder) fill(e *event.Event, r *fastjson.Value) (reason string, err error) {
	props := r.Get("properties")
	diag := props != nil && props.Type() == fastjson.TypeObject &&
		(r.Get("category") != nil || r.Get("operationName") != nil)
	if !diag {
		props = r
		if !isGraphSignIn(r) {
			return decode.ReasonUnsupported, errors.New("neither an Azure diagnostic record nor a Graph sign-in")
		}
	}
	tv := props.Get("createdDateTime")
	if diag && (tv == nil || tv.Type() != fastjson.TypeString) {
		tv = r.Get("time")
	}
	if tv == nil || tv.Type() == fastjson.TypeNull {
		return decode.ReasonBadTimestamp, errors.New("no createdDateTime or time")
	}
	ts, err := decode.ParseTime(d.flat.Text(tv))
	if err != nil {
		return decode.ReasonBadTimestamp, fmt.Errorf("parsing event time: %w", err)
	}
	e.Timestamp = ts
	d.flat.Begin()
	d.flat.Flatten(e, "", r)

	e.SetStr(event.EventKind, "event")
	e.SetStr(event.EventModule, "azure")
	e.SetStr(event.CloudProvider, "azure")
	tenant := props.GetStringBytes("tenantId")
	if len(tenant) == 0 {
		tenant = r.GetStringBytes("tenantId")
	}
	e.SetStr(event.CloudAccountID, d.flat.Arena.String(tenant))
	if diag && !isSignInCategory(r.GetStringBytes("category")) && string(r.GetStringBytes("operationName")) != "Sign-in activity" {
		d.otherCategory(e, r)
		return "", nil
	}
	d.signIn(e, r, props, diag)
	return "", nil
}

// signIn fills the ECS core of a sign-in from its properties (props) and, for a
// diagnostic record, its envelope fields (r).
func (d *Decoder) signIn(e *event.Event, r, props *fastjson.Value, diag bool) {
	a := &d.flat.Arena
	e.Category, e.Type = event.CatAuthentication, event.TypeStart
	e.SetStr(event.EventAction, "sign-in")
	e.SetStr(event.EventDataset, dataset(r.GetStringBytes("category"), diag))
	e.SetStr(event.EventID, a.String(props.GetStringBytes("id")))

	code, ok := d.errorCode(props, r, diag)
	if ok {
		e.SetStr(event.EventCode, a.String(code))
		if string(code) == "0" {
			e.SetStr(event.EventOutcome, "success")
		} else {
			e.SetStr(event.EventOutcome, "failure")
			reason := props.GetStringBytes("status", "failureReason")
			if len(reason) == 0 && diag {
				reason = r.GetStringBytes("resultDescription")
			}
			e.SetStr(event.EventReason, a.String(reason))
		}
	}

	e.SetUser(event.ParseUser(a.String(props.GetStringBytes("userPrincipalName"))))
	e.SetStr(event.UserFullName, a.String(props.GetStringBytes("userDisplayName")))
	e.SetStr(event.UserID, a.String(props.GetStringBytes("userId")))
	e.SetStr(event.ServiceName, a.String(props.GetStringBytes("appDisplayName")))
	e.SetStr(event.UserAgentOriginal, a.String(props.GetStringBytes("userAgent")))

	ip := props.GetStringBytes("ipAddress")
	if len(ip) == 0 && diag {
		ip = r.GetStringBytes("callerIpAddress")
	}
	e.SetIP(event.SourceIP, event.ParseIP(a.String(ip)))
}

// otherCategory fills the generic ECS core of a diagnostic record that is not a sign-in.
func (d *Decoder) otherCategory(e *event.Event, r *fastjson.Value) {
	a := &d.flat.Arena
	e.SetStr(event.EventAction, a.String(r.GetStringBytes("operationName")))
	e.SetStr(event.EventDataset, dataset(r.GetStringBytes("category"), true))
	e.SetStr(event.EventID, a.String(r.GetStringBytes("properties", "id")))
	e.SetIP(event.SourceIP, event.ParseIP(a.String(r.GetStringBytes("callerIpAddress"))))
}

// errorCode returns the sign-in's result code as text: status.errorCode, or the
// diagnostic record's resultType.
func (d *Decoder) errorCode(props, r *fastjson.Value, diag bool) ([]byte, bool) {
	if c := props.Get("status", "errorCode"); c != nil {
		switch c.Type() {
		case fastjson.TypeNumber:
			n, err := c.Int64()
			if err == nil {
				d.num = strconv.AppendInt(d.num[:0], n, 10)
				return d.num, true
			}
		case fastjson.TypeString:
			s, _ := c.StringBytes()
			return s, len(s) > 0
		}
	}
	if diag {
		if s := r.GetStringBytes("resultType"); len(s) > 0 {
			return s, true
		}
	}
	return nil, false
}

// dataset names the event.dataset of a category: "azure." and the category in lower
// case, e.g. azure.signinlogs; Graph sign-ins (no category) are azure.signinlogs.
func dataset(category []byte, diag bool) string {
	switch string(category) {
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
	return "azure." + string(bytes.ToLower(category))
}

var _ decode.Decoder = (*Decoder)(nil)
