// Package cloudtrail decodes AWS CloudTrail logs: the {"Records":[...]} files
// CloudTrail delivers to S3 (usually .json.gz; the caller decompresses), several
// such files concatenated, and one record per line as shippers (Logstash, Firehose,
// CloudWatch exports) write them.
//
// Framing: a delivered file is one JSON object on one line, often several MB. When
// the stream starts with {"Records" (or its first object does not end within the
// first 64 KiB) the decoder streams the Records elements one by one (see framer): a
// file costs the memory of its largest record, each record keeps its own offset and
// index, and Limits.MaxRecord (64 MiB by default) bounds one record, not the file.
// Otherwise decode.JSONReader frames one object per line (NDJSON), arrays of
// records, or pretty-printed objects; an object that is a Records file is then
// parsed whole and iterated, within Limits.MaxLine for one-line objects. A Records
// element that is not an object is rejected alone, with its index.
//
// Every producer field is kept as a raw field by its JSON path (eventName,
// userIdentity.sessionContext.sessionIssuer.userName, requestParameters.bucketName,
// ...), arrays as repeated fields. requestParameters, responseElements,
// additionalEventData, serviceEventDetails and resources are kept within a budget of
// MaxSectionFields leaves each and values are clipped at MaxSectionValue bytes; the
// event is then flagged RawTruncated.
//
// Normalization (ECS):
//   - @timestamp = eventTime, else "@timestamp" (records that went through Logstash
//     may lack eventTime); neither -> reject bad-timestamp.
//   - event.kind=event, event.module=aws, event.dataset=aws.cloudtrail,
//     event.provider=eventSource, event.action=eventName, event.id=eventID,
//     cloud.provider=aws, cloud.region=awsRegion, cloud.account.id =
//     recipientAccountId (else userIdentity.accountId), cloud.service.name =
//     eventSource without ".amazonaws.com", user_agent.original=userAgent.
//   - event.outcome: failure when errorCode is present or a ConsoleLogin answers
//     "Failure", else success; error.message = errorMessage, else errorCode.
//   - source.address = sourceIPAddress; source.ip when it is an address, else
//     source.domain when it is a host name (AWS services: "ec2.amazonaws.com").
//   - user.* from userIdentity, see identity(): user.id = principalId.
//   - event.category/type, see classify().
package cloudtrail

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// FormatID is the format id of CloudTrail logs.
const FormatID = "cloudtrail"

// Bounds on the free-form sections of a record.
const (
	// MaxSectionFields bounds the leaves kept from each of requestParameters,
	// responseElements, additionalEventData, serviceEventDetails and resources.
	MaxSectionFields = 256
	// MaxSectionValue bounds one value in those sections, bytes (policy documents
	// are kept whole up to this size).
	MaxSectionValue = 16 << 10
	// maxValue bounds any other value, bytes.
	maxValue = 64 << 10
)

const ctxCheckEvery = 256

// headSize is how much of the stream is examined to choose the framing.
const headSize = 64 << 10

// Formats lists the format this package decodes.
func Formats() []decode.Format {
	return []decode.Format{{
		ID:          FormatID,
		Description: `AWS CloudTrail ({"Records":[...]} files or one record per line)`,
		Sniff:       Sniff,
		New:         func() decode.Decoder { return New() },
	}}
}

// Sniff scores head as CloudTrail: 90 for a "Records" array whose first element has
// eventSource and eventName, or for a record with eventVersion, eventSource and
// eventName. A delivered file is one long line, so the Records case is also
// recognised when the object is cut off by the end of head.
func Sniff(head []byte) int {
	b := skipBOM(trimLeft(head))
	if rest, ok := recordsStart(b); ok {
		if len(rest) > 0 && rest[0] == '{' && contains(rest, `"eventSource"`) && contains(rest, `"eventName"`) {
			return 90
		}
		return 0
	}
	v := decode.FirstJSON(head)
	if v == nil {
		return 0
	}
	if recs := v.Get("Records"); recs != nil {
		arr, err := recs.Array()
		if err != nil || len(arr) == 0 {
			return 0
		}
		v = arr[0]
		if v.Exists("eventSource") && v.Exists("eventName") {
			return 90
		}
		return 0
	}
	if v.Exists("eventVersion") && v.Exists("eventSource") && v.Exists("eventName") {
		return 90
	}
	return 0
}

// Decoder decodes one CloudTrail stream at a time. It keeps its parser and buffers
// between records and is not safe for concurrent use.
type Decoder struct {
	loop decode.JSONLoop
	fl   decode.Flattener
	top  topFields
}

// New returns a Decoder.
func New() *Decoder {
	return &Decoder{}
}

// Decode implements decode.Decoder.
func (d *Decoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	br := bufio.NewReaderSize(in.R, headSize)
	head, err := br.Peek(headSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("reading CloudTrail head: %w", err)
	}
	// shift converts the framer's offsets back to offsets in the stream.
	var shift int64
	ws := len(head) - len(trimLeft(head))
	if b := head[ws:]; len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		// The framer's scan mode does not skip a byte-order mark: drop it here.
		if _, err := br.Discard(ws + 3); err != nil {
			return fmt.Errorf("skipping byte-order mark: %w", err)
		}
		shift = int64(ws + 3)
		head = head[ws+3:]
	}
	if scanFraming(head) {
		return d.decodeFramed(ctx, in, sink, newFramer(br, in.Limits.WithDefaults().MaxRecord, shift))
	}
	in.R = br
	d.loop.Format, d.loop.What, d.loop.Shift = FormatID, "CloudTrail JSON", shift
	return d.loop.Run(ctx, in, sink, func(rec decode.JSONRecord, v *fastjson.Value) error {
		return d.object(ctx, in, sink, rec, v)
	})
}

// decodeFramed decodes a stream of Records files element by element.
func (d *Decoder) decodeFramed(ctx context.Context, in decode.Input, sink decode.Sink, fm *framer) error {
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		fr, err := fm.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading CloudTrail: %w", err)
		}
		rec := decode.JSONRecord{Offset: fr.offset, Line: fr.line}
		if fr.reason != "" {
			decode.Reject(sink, in, FormatID, fr.offset, fr.line, fr.reason, errors.New(fr.detail))
			continue
		}
		v, err := d.loop.Parser.ParseBytes(fr.bytes)
		if err != nil {
			if fr.index >= 0 {
				err = fmt.Errorf("parsing Records[%d]: %w", fr.index, err)
			} else {
				err = fmt.Errorf("parsing CloudTrail JSON: %w", err)
			}
			decode.Reject(sink, in, FormatID, fr.offset, fr.line, decode.ReasonMalformed, err)
			continue
		}
		if fr.index >= 0 {
			d.record(in, sink, rec, v, fr.index)
			continue
		}
		if err := d.object(ctx, in, sink, rec, v); err != nil {
			return err
		}
	}
}

// object decodes one top-level object: a Records file or a single record.
func (d *Decoder) object(ctx context.Context, in decode.Input, sink decode.Sink, rec decode.JSONRecord, v *fastjson.Value) error {
	if v.Type() != fastjson.TypeObject {
		decode.Reject(sink, in, FormatID, rec.Offset, rec.Line, decode.ReasonMalformed,
			fmt.Errorf("top-level value is a %s, not an object", v.Type()))
		return nil
	}
	recs := v.Get("Records")
	if recs == nil {
		if !v.Exists("eventName") && !v.Exists("eventSource") && !v.Exists("eventVersion") {
			decode.Reject(sink, in, FormatID, rec.Offset, rec.Line, decode.ReasonUnsupported,
				errors.New("object is neither a CloudTrail record nor a Records file (no eventName, eventSource or eventVersion)"))
			return nil
		}
		d.record(in, sink, rec, v, -1)
		return nil
	}
	arr, err := recs.Array()
	if err != nil {
		decode.Reject(sink, in, FormatID, rec.Offset, rec.Line, decode.ReasonMalformed,
			fmt.Errorf("member Records is a %s, not an array", recs.Type()))
		return nil
	}
	for i, r := range arr {
		if i%ctxCheckEvery == ctxCheckEvery-1 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if r.Type() != fastjson.TypeObject {
			decode.Reject(sink, in, FormatID, rec.Offset, rec.Line, decode.ReasonMalformed,
				fmt.Errorf("element Records[%d] is a %s, not an object", i, r.Type()))
			continue
		}
		d.record(in, sink, rec, r, i)
	}
	return nil
}

// record decodes one CloudTrail record; index is its place in Records, or -1.
func (d *Decoder) record(in decode.Input, sink decode.Sink, rec decode.JSONRecord, v *fastjson.Value, index int) {
	ts, err := d.timestamp(v)
	if err != nil {
		if index >= 0 {
			err = fmt.Errorf("in Records[%d]: %w", index, err)
		}
		decode.Reject(sink, in, FormatID, rec.Offset, rec.Line, decode.ReasonBadTimestamp, err)
		return
	}
	e := sink.Alloc()
	e.Timestamp = ts
	e.Origin = event.Origin{Source: in.Source, Format: FormatID, Offset: rec.Offset, Line: rec.Line}
	if index >= 0 {
		e.Origin.Record = int64(index) + 1
	}
	d.raw(e, v)
	d.normalize(e)
	sink.Emit(e)
}

// timestamp returns eventTime, else the shipper's @timestamp.
func (d *Decoder) timestamp(v *fastjson.Value) (time.Time, error) {
	for _, k := range [...]string{"eventTime", "@timestamp"} {
		b := v.GetStringBytes(k)
		if len(b) == 0 {
			continue
		}
		t, err := decode.ParseTime(d.fl.Arena.String(b))
		if err != nil {
			return t, fmt.Errorf("parsing %s: %w", k, err)
		}
		return t, nil
	}
	return time.Time{}, errors.New("no eventTime or @timestamp")
}

// raw keeps every producer field, the free-form sections within their budget.
func (d *Decoder) raw(e *event.Event, v *fastjson.Value) {
	o, _ := v.Object()
	d.fl.Begin()
	d.top = topFields{}
	o.Visit(func(k []byte, child *fastjson.Value) {
		switch string(k) {
		case "requestParameters", "responseElements", "additionalEventData", "serviceEventDetails", "resources":
			d.fl.FlattenLimited(e, k, child, decode.Limit{MaxLeaves: MaxSectionFields, MaxValue: MaxSectionValue})
		default:
			d.fl.FlattenLimited(e, k, child, decode.Limit{MaxLeaves: event.MaxRawFields, MaxValue: maxValue})
		}
		text := ""
		if child.Type() == fastjson.TypeString {
			text = d.fl.Last()
		}
		d.top.set(k, child, text)
	})
	if d.fl.Clipped() {
		e.RawTruncated = true
	}
}

// scanFraming reports whether the stream is a Records file, or starts with an object
// too long for the head: then objects are scanned rather than read as lines.
func scanFraming(head []byte) bool {
	b := trimLeft(head)
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	if _, ok := recordsStart(b); ok {
		return true
	}
	return !objectEnds(b)
}

// recordsStart reports whether b starts with {"Records":[ and returns what follows
// the '[' (leading whitespace removed).
func recordsStart(b []byte) ([]byte, bool) {
	if len(b) == 0 || b[0] != '{' {
		return nil, false
	}
	b = trimLeft(b[1:])
	const key = `"Records"`
	if len(b) < len(key) || string(b[:len(key)]) != key {
		return nil, false
	}
	b = trimLeft(b[len(key):])
	if len(b) == 0 || b[0] != ':' {
		return nil, false
	}
	b = trimLeft(b[1:])
	if len(b) == 0 || b[0] != '[' {
		return nil, false
	}
	return trimLeft(b[1:]), true
}

// objectEnds reports whether the object starting at b[0] ends within b.
func objectEnds(b []byte) bool {
	var st decode.ObjectScanner
	st.Scan(b)
	return st.Depth == 0 && len(b) > 0
}

func trimLeft(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

func skipBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		return trimLeft(b[3:])
	}
	return b
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

var _ decode.Decoder = (*Decoder)(nil)
