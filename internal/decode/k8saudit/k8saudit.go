// Package k8saudit decodes Kubernetes API server audit logs (audit.k8s.io/v1 and
// v1beta1 Event objects) as the log backend writes them, one JSON object per line,
// and the EventList form {"kind":"EventList","items":[...]} the webhook backend posts.
//
// Every producer field is kept as a raw field with its JSON path as name
// (verb, objectRef.resource, user.username, responseStatus.code,
// annotations.authorization.k8s.io/decision, requestObject.spec.containers.image...),
// so Sigma rules and Falco-style rules address them by the producer's names. Arrays
// become repeated fields. requestObject and responseObject are kept within a budget
// of leaves (see Limits below) and without metadata.managedFields.
//
// Two derived raw fields serve SigmaHQ's kubernetes audit rules, which name them
// without a path: "hostPath" (each hostPath volume path of a pod spec or a workload's
// pod template in requestObject) and "capabilities" (each added Linux capability of
// any container of such a spec).
//
// Normalization (ECS):
//   - @timestamp = stageTimestamp, else requestReceivedTimestamp; neither -> reject.
//   - event.kind=event, event.module=kubernetes, event.dataset=kubernetes.audit,
//     event.provider=kube-apiserver, event.id=auditID, event.action=verb,
//     log.level=level, url.original=requestURI, user_agent.original=userAgent.
//   - event.outcome from responseStatus.code: < 400 success, >= 400 failure, absent
//     (stage RequestReceived) unknown; http.response.status_code = the code;
//     error.message = responseStatus.message for failures;
//     event.reason = the authorization.k8s.io/reason annotation.
//   - orchestrator.type=kubernetes, orchestrator.namespace, orchestrator.resource.type
//     / name / subresource from objectRef, orchestrator.api_version = apiGroup/apiVersion
//     ("rbac.authorization.k8s.io/v1", or "v1" for the core group).
//   - user.name / user.domain = user.username through event.ParseUser (service
//     accounts "system:serviceaccount:ns:name" stay whole), user.id = user.uid,
//     user.effective.name = impersonatedUser.username; source.ip = sourceIPs[0]; every
//     source IP in related.ip.
//   - event.category: api for every event; iam for RBAC objects
//     (rbac.authorization.k8s.io), serviceaccounts (and their token subresource),
//     certificatesigningrequests and access reviews (authorization.k8s.io);
//     authentication for authentication.k8s.io (token reviews) and for 401 answers.
//     Secrets are not iam in ECS's sense (they are not identities); a secret read is
//     api/access, and rules find it by orchestrator.resource.type=secrets.
//     event.type from the verb: create -> creation, update/patch -> change,
//     delete/deletecollection -> deletion, get/list/watch -> access (info for iam);
//     denied for 401/403 or decision forbid, allowed for decision allow.
//
// Stages RequestReceived, ResponseStarted and ResponseComplete of one request share
// an auditID; each is kept as its own event, as the producer wrote them.
package k8saudit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// FormatID is the format id of Kubernetes audit logs.
const FormatID = "k8s-audit"

// Limits on what one audit event may add as raw fields.
const (
	// MaxObjectFields bounds the leaves kept from requestObject and from
	// responseObject each; a pod spec has a few hundred at most.
	MaxObjectFields = 384
	// MaxObjectValue bounds one value inside requestObject/responseObject, bytes
	// (a kubectl last-applied-configuration annotation holds the whole object).
	MaxObjectValue = 8 << 10
	// maxValue bounds other values (requestURI, messages), bytes.
	maxValue = 64 << 10
)

// ctxCheckEvery is how many records are decoded between checks of ctx.
const ctxCheckEvery = 256

// Formats lists the format this package decodes.
func Formats() []decode.Format {
	return []decode.Format{{
		ID:          FormatID,
		Description: "Kubernetes API server audit log (audit.k8s.io Event per line, or EventList)",
		Sniff:       Sniff,
		New:         func() decode.Decoder { return New() },
	}}
}

// Sniff scores head as a Kubernetes audit log: 95 when the first JSON object has
// apiVersion audit.k8s.io/v1 (or v1beta1) and kind Event or EventList, also when
// that object is too large to end within head.
func Sniff(head []byte) int {
	v := decode.FirstJSON(head)
	if v == nil {
		return sniffPrefix(head)
	}
	switch string(v.GetStringBytes("apiVersion")) {
	case "audit.k8s.io/v1", "audit.k8s.io/v1beta1":
	default:
		return 0
	}
	switch string(v.GetStringBytes("kind")) {
	case "Event", "EventList":
		return 95
	}
	return 0
}

// sniffPrefix recognises an Event whose first object does not fit in head (a large
// RequestResponse event): the API server writes kind and apiVersion first.
func sniffPrefix(head []byte) int {
	b := bytes.TrimLeft(bytes.TrimPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("\xEF\xBB\xBF")), " \t\r\n")
	if len(b) < decode.SniffSize/2 || b[0] != '{' { // only a head that the object fills
		return 0
	}
	if bytes.HasPrefix(b, []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1`)) ||
		bytes.HasPrefix(b, []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1`)) {
		return 95
	}
	return 0
}

// Decoder decodes one audit log stream at a time. It keeps its parser and buffers
// between records and is not safe for concurrent use.
type Decoder struct {
	loop decode.JSONLoop
	fl   decode.Flattener
	tmp  []byte
	top  topFields
}

// topFields holds the top-level values normalization reads, found while flattening.
type topFields struct {
	verb, auditID, level, requestURI, userAgent *fastjson.Value
	user, impersonatedUser, sourceIPs           *fastjson.Value
	objectRef, responseStatus, annotations      *fastjson.Value
	requestObject                               bool
}

func (t *topFields) set(k []byte, v *fastjson.Value) {
	switch string(k) {
	case "verb":
		t.verb = v
	case "auditID":
		t.auditID = v
	case "level":
		t.level = v
	case "requestURI":
		t.requestURI = v
	case "userAgent":
		t.userAgent = v
	case "user":
		t.user = v
	case "impersonatedUser":
		t.impersonatedUser = v
	case "sourceIPs":
		t.sourceIPs = v
	case "objectRef":
		t.objectRef = v
	case "responseStatus":
		t.responseStatus = v
	case "annotations":
		t.annotations = v
	}
}

// New returns a Decoder.
func New() *Decoder {
	return &Decoder{}
}

// Decode implements decode.Decoder.
func (d *Decoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	d.loop.Format, d.loop.What = FormatID, "audit event"
	return d.loop.Run(ctx, in, sink, func(rec decode.JSONRecord, v *fastjson.Value) error {
		if v.Type() != fastjson.TypeObject {
			decode.Reject(sink, in, FormatID, rec.Offset, rec.Line, decode.ReasonMalformed,
				errors.New("audit record is not a JSON object"))
			return nil
		}
		return d.record(ctx, in, sink, rec, v)
	})
}

// record decodes one top-level object: an Event, or an EventList of them.
func (d *Decoder) record(ctx context.Context, in decode.Input, sink decode.Sink, rec decode.JSONRecord, v *fastjson.Value) error {
	kind := v.GetStringBytes("kind")
	switch string(kind) {
	case "Event":
		d.event(in, sink, rec, v, -1)
	case "EventList":
		items := v.Get("items")
		if items == nil || items.Type() == fastjson.TypeNull {
			return nil // an empty list
		}
		arr, err := items.Array()
		if err != nil {
			decode.Reject(sink, in, FormatID, rec.Offset, rec.Line, decode.ReasonMalformed,
				fmt.Errorf("reading EventList items: %w", err))
			return nil
		}
		for i, item := range arr {
			if i%ctxCheckEvery == ctxCheckEvery-1 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if item.Type() != fastjson.TypeObject {
				decode.Reject(sink, in, FormatID, rec.Offset, rec.Line, decode.ReasonMalformed,
					fmt.Errorf("EventList items[%d] is a %s, not an object", i, item.Type()))
				continue
			}
			d.event(in, sink, rec, item, i)
		}
	case "":
		// Some shippers drop kind/apiVersion; an auditID and a verb still say what it is.
		if v.Exists("auditID") && v.Exists("verb") {
			d.event(in, sink, rec, v, -1)
			return nil
		}
		decode.Reject(sink, in, FormatID, rec.Offset, rec.Line, decode.ReasonMissingField,
			errors.New("object has no kind and no auditID/verb"))
	default:
		decode.Reject(sink, in, FormatID, rec.Offset, rec.Line, decode.ReasonUnsupported,
			fmt.Errorf("kind %q is not an audit Event or EventList", clipString(string(kind))))
	}
	return nil
}

// event decodes one audit Event; item is its index in an EventList, or -1.
func (d *Decoder) event(in decode.Input, sink decode.Sink, rec decode.JSONRecord, v *fastjson.Value, item int) {
	ts, tsErr := d.timestamp(v)
	if tsErr != nil {
		if item >= 0 {
			tsErr = fmt.Errorf("EventList items[%d]: %w", item, tsErr)
		}
		decode.Reject(sink, in, FormatID, rec.Offset, rec.Line, decode.ReasonBadTimestamp, tsErr)
		return
	}
	e := sink.Alloc()
	e.Timestamp = ts
	e.Origin = event.Origin{Source: in.Source, Format: FormatID, Offset: rec.Offset, Line: rec.Line}
	if item >= 0 {
		e.Origin.Record = int64(item) + 1
	}
	d.raw(e, v)
	d.normalize(e)
	sink.Emit(e)
}

// timestamp returns stageTimestamp, else requestReceivedTimestamp.
func (d *Decoder) timestamp(v *fastjson.Value) (t time.Time, err error) {
	for _, k := range [...]string{"stageTimestamp", "requestReceivedTimestamp"} {
		b := v.GetStringBytes(k)
		if len(b) == 0 {
			continue
		}
		if t, err = decode.ParseTime(d.fl.Arena.String(b)); err == nil {
			return t, nil
		}
		return t, fmt.Errorf("parsing %s: %w", k, err)
	}
	return time.Time{}, errors.New("no stageTimestamp or requestReceivedTimestamp")
}

// raw keeps every producer field, the two embedded objects within their budget.
func (d *Decoder) raw(e *event.Event, v *fastjson.Value) {
	o, _ := v.Object()
	d.fl.Begin()
	d.top = topFields{}
	o.Visit(func(k []byte, child *fastjson.Value) {
		switch string(k) {
		case "requestObject":
			d.top.requestObject = true
			d.fl.FlattenLimited(e, k, child, decode.Limit{MaxLeaves: MaxObjectFields, MaxValue: MaxObjectValue, Skip: "managedFields"})
		case "responseObject":
			d.fl.FlattenLimited(e, k, child, decode.Limit{MaxLeaves: MaxObjectFields, MaxValue: MaxObjectValue, Skip: "managedFields"})
		default:
			d.top.set(k, child)
			d.fl.FlattenLimited(e, k, child, decode.Limit{MaxLeaves: event.MaxRawFields, MaxValue: maxValue})
		}
	})
	if d.fl.Clipped() {
		e.RawTruncated = true
	}
	if d.top.requestObject {
		addDerived(e)
	}
}

func clipString(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

var _ decode.Decoder = (*Decoder)(nil)
