package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

// Error codes, stable: clients branch on them. They are auth's, which writes
// the authentication errors of the same API.
const (
	CodeBadRequest   = auth.CodeBadRequest
	CodeUnauthorized = auth.CodeUnauthorized
	CodeCSRF         = auth.CodeCSRF
	CodeForbidden    = auth.CodeForbidden
	CodeNotFound     = auth.CodeNotFound
	CodeConflict     = auth.CodeConflict
	CodeRateLimited  = auth.CodeRateLimited
	CodeOverloaded   = auth.CodeOverloaded
	CodeInternal     = auth.CodeInternal
)

// Limits of requests.
const (
	MaxBody      = 1 << 20 // bytes of a request body
	DefaultLimit = 100     // items of a page when limit is not given
	MaxLimit     = 1000    // items of a page at most
	maxParam     = 1024    // bytes of one query parameter value
)

// Error is an API error: the HTTP status and the stable code with a message.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

// WriteError writes err as the API's error document: an *Error as it is; the
// store's sentinels as their codes (the message of an internal error is not
// shown).
func WriteError(w http.ResponseWriter, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, store.ErrNotFound):
		e = &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: err.Error()}
	case errors.Is(err, store.ErrInvalid):
		e = &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: err.Error()}
	case errors.Is(err, store.ErrConflict):
		e = &Error{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error()}
	case errors.Is(err, store.ErrClosed):
		e = &Error{Status: http.StatusServiceUnavailable, Code: CodeOverloaded, Message: "the store is closed"}
	default:
		e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}
	}
	auth.WriteError(w, e.Status, e.Code, e.Message)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":{"code":"internal","message":"encoding the response"}}`+"\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// wrap turns a handler returning an error into an http.Handler: errors become
// error documents, panics 500s; every request is counted and timed.
func (a *API) wrap(pattern string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				a.log.ErrorContext(r.Context(), "api handler panicked", "route", pattern, "panic", fmt.Sprint(p))
				if sw.status == 0 {
					WriteError(sw, errors.New("panic"))
				}
			}
			a.metrics.observe(pattern, sw.status, time.Since(start))
		}()
		if err := h(sw, r); err != nil {
			var e *Error
			if !errors.As(err, &e) && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrInvalid) {
				a.log.ErrorContext(r.Context(), "api request failed", "route", pattern, "err", err)
			}
			WriteError(sw, err)
		}
	})
}

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "vigil", Subsystem: "api", Name: "requests_total",
			Help: "API requests by route and HTTP status."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "vigil", Subsystem: "api", Name: "request_duration_seconds",
			Help: "API request latency by route.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}, []string{"route"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.latency} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering api metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	if status == 0 {
		status = http.StatusOK
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// decodeBody strictly decodes one JSON document of at most MaxBody bytes:
// unknown fields, trailing data and a wrong content type are 400s naming why.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return badRequest("Content-Type %q: want application/json", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var (
			tooBig  *http.MaxBytesError
			typeErr *json.UnmarshalTypeError
			synErr  *json.SyntaxError
		)
		switch {
		case errors.As(err, &tooBig):
			return badRequest("request body larger than %d bytes", MaxBody)
		case errors.Is(err, io.EOF):
			return badRequest("request body is empty: want a JSON object")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("request body is not valid JSON: it ends early")
		case errors.As(err, &typeErr):
			return badRequest("field %q: want %s, got JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
		case errors.As(err, &synErr):
			return badRequest("request body is not valid JSON at byte %d: %v", synErr.Offset, err)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return badRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return badRequest("decoding request body: %v", err)
	}
	if dec.More() {
		return badRequest("request body holds more than one JSON value")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("request body holds data after the JSON object")
	}
	return nil
}

// params reads a request's query parameters, rejecting unknown, repeated and
// oversized ones; each error names the parameter.
type params struct {
	v url.Values
}

func queryParams(r *http.Request, allowed ...string) (params, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return params{}, badRequest("query string: %v", err)
	}
	for k, vs := range v {
		found := false
		for _, a := range allowed {
			if k == a {
				found = true
				break
			}
		}
		if !found {
			return params{}, badRequest("unknown query parameter %q (this route takes: %s)", k, strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return params{}, badRequest("query parameter %q given %d times", k, len(vs))
		}
		if len(vs[0]) > maxParam {
			return params{}, badRequest("query parameter %q longer than %d bytes", k, maxParam)
		}
	}
	return params{v: v}, nil
}

func (p params) str(name string) string { return p.v.Get(name) }

func (p params) limit() (int, error) {
	s := p.v.Get("limit")
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, badRequest("limit %q: want an integer from 1 to %d", s, MaxLimit)
	}
	return n, nil
}

// cursor returns the cursor parameter, checked to be a cursor of kind (a
// store cursor kind) so a malformed one is a 400 naming it.
func (p params) cursor(kind string) (string, error) {
	s := p.v.Get("cursor")
	if s == "" || kind == "" {
		return s, nil
	}
	if _, _, err := store.DecodeCursor(kind, s); err != nil {
		return "", badRequest("cursor: not a cursor of this list")
	}
	return s, nil
}

func (p params) time(name string) (time.Time, error) {
	s := p.v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest("%s %q: want an RFC 3339 time", name, s)
	}
	if _, err := store.UnixNano(t); err != nil {
		return time.Time{}, badRequest("%s %q: out of range", name, s)
	}
	return t, nil
}

func (p params) timeRange() (store.TimeRange, error) {
	since, err := p.time("since")
	if err != nil {
		return store.TimeRange{}, err
	}
	until, err := p.time("until")
	if err != nil {
		return store.TimeRange{}, err
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return store.TimeRange{}, badRequest("since %s is not before until %s", p.v.Get("since"), p.v.Get("until"))
	}
	return store.TimeRange{Since: since, Until: until}, nil
}

func (p params) severity(name string) (detect.Severity, error) {
	s := p.v.Get(name)
	if s == "" {
		return detect.SeverityInfo, nil
	}
	sev, err := detect.ParseSeverity(s)
	if err != nil {
		return 0, badRequest("%s %q: want informational, low, medium, high or critical", name, s)
	}
	return sev, nil
}

func (p params) entity(name string) (detect.Entity, error) {
	s := p.v.Get(name)
	if s == "" {
		return detect.Entity{}, nil
	}
	e, err := parseEntity(s)
	if err != nil {
		return detect.Entity{}, badRequest("%s %q: want kind:value (user:alice, host:ws-1)", name, s)
	}
	return e, nil
}

func (p params) float(name string) (float64, error) {
	s := p.v.Get(name)
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, badRequest("%s %q: want a non-negative number", name, s)
	}
	return f, nil
}

// parseEntity reads "kind:value" (the value may hold colons).
func parseEntity(s string) (detect.Entity, error) {
	kind, value, ok := strings.Cut(s, ":")
	if !ok || kind == "" || value == "" {
		return detect.Entity{}, errors.New("not kind:value")
	}
	return detect.Entity{Kind: detect.EntityKind(kind), Value: value}, nil
}

// page is a list's response.
type page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

func newPage[T any](items []T, next string) page[T] {
	if items == nil {
		items = []T{}
	}
	return page[T]{Items: items, Next: next}
}

// items is a response with items and no paging.
type items[T any] struct {
	Items []T `json:"items"`
}

func newItems[T any](v []T) items[T] {
	if v == nil {
		v = []T{}
	}
	return items[T]{Items: v}
}
