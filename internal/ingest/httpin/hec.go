package httpin

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/ingest"
)

// Splunk HEC reply codes (Splunk's "Format events for HTTP Event Collector"
// and "Troubleshoot HTTP Event Collector" pages list them with their HTTP
// statuses).
const (
	hecSuccess        = 0
	hecTokenRequired  = 2
	hecInvalidAuth    = 3
	hecInvalidToken   = 4
	hecNoData         = 5
	hecInvalidFormat  = 6
	hecInternalError  = 8
	hecServerBusy     = 9
	hecEventRequired  = 12
	hecEventBlank     = 13
	hecACKDisabled    = 14
	hecHealthy        = 17
	hecInvalidEventNo = -1 // no "invalid-event-number" in the reply
)

var hecText = map[int]string{
	hecSuccess:       "Success",
	hecTokenRequired: "Token is required",
	hecInvalidAuth:   "Invalid authorization",
	hecInvalidToken:  "Invalid token",
	hecNoData:        "No data",
	hecInvalidFormat: "Invalid data format",
	hecInternalError: "Internal server error",
	hecServerBusy:    "Server is busy",
	hecEventRequired: "Event field is required",
	hecEventBlank:    "Event field cannot be blank",
	hecACKDisabled:   "ACK is disabled",
	hecHealthy:       "HEC is healthy",
}

// hecReply answers in HEC's shape: {"text":..,"code":..[,"invalid-event-number":n]}.
func hecReply(w http.ResponseWriter, status, code, eventNo int) {
	out := append([]byte(`{"text":`), appendJSONString(nil, hecText[code])...)
	out = append(out, `,"code":`...)
	out = strconv.AppendInt(out, int64(code), 10)
	if eventNo >= 0 {
		out = append(out, `,"invalid-event-number":`...)
		out = strconv.AppendInt(out, int64(eventNo), 10)
	}
	out = append(out, "}\n"...)
	writeJSON(w, status, out)
}

// hecError is a HEC body that cannot be taken whole: the events before
// Event were valid.
type hecError struct {
	Code  int // hecInvalidFormat, hecEventRequired, hecEventBlank or hecNoData
	Event int // 0-based index of the offending event; -1 for hecNoData
}

// sourcetypeFormats maps the Splunk sourcetypes whose decoder is certain to
// that decoder's format id. Every other sourcetype (among them "_json",
// "syslog", "linux_secure", "WinEventLog:*", "XmlWinEventLog:*") maps to ""
// and the stream detects the format from the content, which is at least as
// reliable for them.
var sourcetypeFormats = map[string]string{
	"aws:cloudtrail":          "cloudtrail",
	"access_combined":         "access-log",
	"access_combined_wcookie": "access-log",
	"access_common":           "access-log",
	"OktaIM2:log":             "okta",
}

// formatForSourcetype is the decoder format for a HEC sourcetype, "" to detect.
func formatForSourcetype(st string) string { return sourcetypeFormats[st] }

// parseHEC reads a HEC event body: JSON objects, concatenated or separated
// by whitespace, each with an "event" member. A string event becomes the
// record's data as is (a raw log line, unescaped); any other event becomes
// its JSON text (members, values and their order unchanged, insignificant
// whitespace dropped). The event's "sourcetype", or defaultST when it has
// none, chooses the record's Format; host, source, time, index and fields
// are read by nobody. It returns the records of the events before the first
// invalid one, and that event's error (nil when all are valid).
func parseHEC(p *fastjson.Parser, body []byte, maxRecord int, source, defaultST string, now time.Time) ([]ingest.Record, *hecError) {
	var recs []ingest.Record
	defaultFormat := formatForSourcetype(defaultST)
	pos := skipSpace(body, 0)
	if pos == len(body) {
		return nil, &hecError{Code: hecNoData, Event: -1}
	}
	for n := 0; pos < len(body); n++ {
		end := scanObject(body[pos:])
		if end < 0 {
			return recs, &hecError{Code: hecInvalidFormat, Event: n}
		}
		obj := body[pos : pos+end]
		pos = skipSpace(body, pos+end)
		// The parser reads strings lazily: validate first so that escapes and
		// control characters are checked before an event is taken.
		if fastjson.ValidateBytes(obj) != nil {
			return recs, &hecError{Code: hecInvalidFormat, Event: n}
		}
		v, err := p.ParseBytes(obj)
		if err != nil {
			return recs, &hecError{Code: hecInvalidFormat, Event: n}
		}
		ev := v.Get("event")
		if ev == nil {
			return recs, &hecError{Code: hecEventRequired, Event: n}
		}
		var data []byte
		switch ev.Type() {
		case fastjson.TypeNull:
		case fastjson.TypeString:
			s, _ := ev.StringBytes()
			data = append([]byte(nil), s...)
		case fastjson.TypeObject:
			if o, _ := ev.Object(); o.Len() > 0 {
				data = ev.MarshalTo(nil)
			}
		case fastjson.TypeArray:
			if len(ev.GetArray()) > 0 {
				data = ev.MarshalTo(nil)
			}
		default: // numbers, true, false: their JSON text
			data = ev.MarshalTo(nil)
		}
		if len(data) == 0 {
			return recs, &hecError{Code: hecEventBlank, Event: n}
		}
		if len(data) > maxRecord {
			return recs, &hecError{Code: hecInvalidFormat, Event: n}
		}
		format := defaultFormat
		if st := v.Get("sourcetype"); st != nil {
			if s, err := st.StringBytes(); err == nil {
				format = formatForSourcetype(string(s))
			}
		}
		recs = append(recs, ingest.Record{Source: source, Format: format, Data: data, Received: now})
	}
	return recs, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// scanObject returns the length of the JSON object b starts with, judged by
// its brackets and strings only (the parser checks the rest), or -1 when b
// does not start with '{' or the object does not end.
func scanObject(b []byte) int {
	if len(b) == 0 || b[0] != '{' {
		return -1
	}
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if i >= len(b) {
				return -1
			}
		}
	}
	return -1
}

func (h *Handler) serveHEC(w http.ResponseWriter, r *http.Request, path string) string {
	rest := strings.TrimPrefix(path, "/services/collector")
	var ep string
	switch rest {
	case "", "/event", "/event/1.0":
		ep = epHECEvent
	case "/raw", "/raw/1.0":
		ep = epHECRaw
	case "/health", "/health/1.0":
		if r.Method != http.MethodGet && r.Method != http.MethodPost && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, POST")
			hecReply(w, http.StatusMethodNotAllowed, hecInvalidFormat, hecInvalidEventNo)
			return epHECHealth
		}
		hecReply(w, http.StatusOK, hecHealthy, hecInvalidEventNo)
		return epHECHealth
	case "/ack", "/ack/1.0":
		ep = epHECAck
	default:
		plainError(w, http.StatusNotFound, "no such HEC endpoint")
		return epESMeta
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		plainError(w, http.StatusMethodNotAllowed, "use POST")
		return ep
	}
	name, aerr := h.authenticate(r)
	switch aerr {
	case authMissing:
		hecReply(w, http.StatusUnauthorized, hecTokenRequired, hecInvalidEventNo)
		return ep
	case authInvalid:
		hecReply(w, http.StatusUnauthorized, hecInvalidAuth, hecInvalidEventNo)
		return ep
	case authDenied:
		hecReply(w, http.StatusForbidden, hecInvalidToken, hecInvalidEventNo)
		return ep
	}
	if ep == epHECAck {
		// Indexer acknowledgement is not offered: answer as Splunk does when
		// a token has useACK off.
		hecReply(w, http.StatusBadRequest, hecACKDisabled, hecInvalidEventNo)
		return ep
	}
	body, done, err := h.readBody(w, r, ep)
	defer done()
	if err != nil {
		var be *bodyError
		if errors.As(err, &be) {
			hecReply(w, be.status, hecInvalidFormat, hecInvalidEventNo)
		}
		return ep
	}
	source := "hec:" + name
	st := r.URL.Query().Get("sourcetype")
	now := h.opts.Now()
	var recs []ingest.Record
	var herr *hecError
	if ep == epHECRaw {
		res := parseNDJSON(body, h.opts.MaxRecord, source, formatForSourcetype(st), now)
		for reason, n := range res.reasons {
			h.m.rejected.WithLabelValues(ep, reason).Add(float64(n))
		}
		recs = res.recs
		if len(recs) == 0 && res.rejected == 0 {
			herr = &hecError{Code: hecNoData, Event: -1}
		}
	} else {
		p := h.parsers.Get()
		recs, herr = parseHEC(p, body, h.opts.MaxRecord, source, st, now)
		h.parsers.Put(p)
	}
	if herr != nil && herr.Code != hecNoData {
		h.m.rejected.WithLabelValues(ep, "invalid_event").Inc()
	}
	// Splunk indexes the events before an invalid one; so does Vigil, so
	// that a shipper dropping the rejected batch loses as little as it would.
	if err := h.appendRecords(r.Context(), ep, recs); err != nil {
		if errors.Is(err, ingest.ErrOverloaded) {
			retryAfter(w, err)
			hecReply(w, http.StatusServiceUnavailable, hecServerBusy, hecInvalidEventNo)
			return ep
		}
		hecReply(w, http.StatusInternalServerError, hecInternalError, hecInvalidEventNo)
		return ep
	}
	if herr != nil {
		hecReply(w, http.StatusBadRequest, herr.Code, herr.Event)
		return ep
	}
	hecReply(w, http.StatusOK, hecSuccess, hecInvalidEventNo)
	return ep
}
