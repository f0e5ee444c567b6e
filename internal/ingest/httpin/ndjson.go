package httpin

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/ingest"
)

// maxReportedErrors bounds the per-line errors an NDJSON answer lists.
const maxReportedErrors = 10

// lineError is one rejected line.
type lineError struct {
	Line   int    // 1-based
	Reason string // "too_large" or "invalid_utf8"
	Detail string
}

// ndjsonResult is what parseNDJSON found.
type ndjsonResult struct {
	recs     []ingest.Record
	rejected int
	reasons  map[string]int
	errors   []lineError // the first maxReportedErrors
}

// parseNDJSON splits body into one record per non-blank line ("\n" or
// "\r\n" ends a line; a line of only spaces and tabs is blank and skipped).
// A line is rejected when it is longer than maxRecord or not valid UTF-8;
// its content is not otherwise checked (the stream's decoder reads it).
// Records point into body.
func parseNDJSON(body []byte, maxRecord int, source, format string, now time.Time) ndjsonResult {
	res := ndjsonResult{recs: make([]ingest.Record, 0, bytes.Count(body, []byte{'\n'})+1)}
	reject := func(line int, reason, detail string) {
		res.rejected++
		if res.reasons == nil {
			res.reasons = make(map[string]int, 2)
		}
		res.reasons[reason]++
		if len(res.errors) < maxReportedErrors {
			res.errors = append(res.errors, lineError{line, reason, detail})
		}
	}
	for lineNo := 1; len(body) > 0; lineNo++ {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if blank(line) {
			continue
		}
		if len(line) > maxRecord {
			reject(lineNo, "too_large", fmt.Sprintf("record of %d bytes is over the limit of %d", len(line), maxRecord))
			continue
		}
		if !utf8.Valid(line) {
			reject(lineNo, "invalid_utf8", "record is not valid UTF-8")
			continue
		}
		res.recs = append(res.recs, ingest.Record{Source: source, Format: format, Data: line[:len(line):len(line)], Received: now})
	}
	return res
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// validFormat reports whether s is a decoder format id as the query may
// name it: [a-z0-9-]{1,40}.
func validFormat(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validSourceName reports whether s may name a sub-source: [A-Za-z0-9._-]{1,64}.
func validSourceName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (h *Handler) serveNDJSON(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		plainError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	name, aerr := h.authenticate(r)
	switch aerr {
	case authOK:
	case authMissing:
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil-ingest"`)
		plainError(w, http.StatusUnauthorized, "authorization required: Authorization: Bearer <ingest token>")
		return
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil-ingest", error="invalid_token"`)
		plainError(w, http.StatusUnauthorized, "invalid ingest token")
		return
	}
	q := r.URL.Query()
	format, src := q.Get("format"), q.Get("source")
	if q.Has("format") && !validFormat(format) {
		plainError(w, http.StatusBadRequest, "format must match [a-z0-9-]{1,40}")
		return
	}
	source := "http:" + name
	if q.Has("source") {
		if !validSourceName(src) {
			plainError(w, http.StatusBadRequest, "source must match [A-Za-z0-9._-]{1,64}")
			return
		}
		source += ":" + src
	}
	body, done, err := h.readBody(w, r, epNDJSON)
	defer done()
	if err != nil {
		var be *bodyError
		if errors.As(err, &be) {
			plainError(w, be.status, be.reason)
		}
		return
	}
	res := parseNDJSON(body, h.opts.MaxRecord, source, format, h.opts.Now())
	for reason, n := range res.reasons {
		h.m.rejected.WithLabelValues(epNDJSON, reason).Add(float64(n))
	}
	if err := h.appendRecords(r.Context(), epNDJSON, res.recs); err != nil {
		if errors.Is(err, ingest.ErrOverloaded) {
			retryAfter(w, err)
			plainError(w, http.StatusTooManyRequests, "ingest is overloaded; retry later")
			return
		}
		plainError(w, http.StatusServiceUnavailable, "records could not be stored; retry later")
		return
	}
	out := make([]byte, 0, 64+len(res.errors)*96)
	out = append(out, `{"accepted":`...)
	out = strconv.AppendInt(out, int64(len(res.recs)), 10)
	out = append(out, `,"rejected":`...)
	out = strconv.AppendInt(out, int64(res.rejected), 10)
	out = append(out, `,"errors":[`...)
	for i, e := range res.errors {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"line":`...)
		out = strconv.AppendInt(out, int64(e.Line), 10)
		out = append(out, `,"reason":`...)
		out = appendJSONString(out, e.Reason)
		out = append(out, `,"detail":`...)
		out = appendJSONString(out, e.Detail)
		out = append(out, '}')
	}
	out = append(out, "]}\n"...)
	writeJSON(w, http.StatusOK, out)
}

// plainError answers {"error":msg} with status.
func plainError(w http.ResponseWriter, status int, msg string) {
	out := append([]byte(`{"error":`), appendJSONString(nil, msg)...)
	out = append(out, "}\n"...)
	writeJSON(w, status, out)
}
