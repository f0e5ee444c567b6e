package httpin

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/ingest"
)

// TokenChecker says whether an ingest token is valid and, when it is, the
// name it was issued under (the name goes into Record.Source; the token never
// does). internal/auth implements it.
type TokenChecker interface {
	CheckIngestToken(ctx context.Context, token string) (name string, ok bool)
}

// Default limits.
const (
	DefaultMaxBody   = 16 << 20 // bytes of one request body, after decompression
	DefaultMaxRecord = 1 << 20  // bytes of one record
	maxTokenLen      = 4096
)

// Options configures a Handler.
type Options struct {
	// Appender makes the records of a request durable before it is
	// acknowledged. Required.
	Appender ingest.Appender
	// Tokens checks the token every endpoint but the HEC health check needs.
	// Required.
	Tokens TokenChecker
	// MaxBody bounds a request body after decompression (default 16 MiB);
	// larger bodies are answered 413.
	MaxBody int64
	// MaxRecord bounds one record (default 1 MiB); larger records are
	// rejected one by one, the rest of the request is taken.
	MaxRecord int
	// Logger receives request failures (never tokens or bodies). Default: discard.
	Logger *slog.Logger
	// Registerer receives the handler's metrics. Default: none registered.
	Registerer prometheus.Registerer
	// Now is the clock for Record.Received and durations. Default: time.Now.
	Now func() time.Time
}

// Validate reports what is missing or out of range.
func (o Options) Validate() error {
	var errs []error
	if o.Appender == nil {
		errs = append(errs, errors.New("an Appender is required"))
	}
	if o.Tokens == nil {
		errs = append(errs, errors.New("a TokenChecker (Tokens) is required"))
	}
	if o.MaxBody < 0 {
		errs = append(errs, fmt.Errorf("MaxBody %d is negative", o.MaxBody))
	}
	if o.MaxRecord < 0 {
		errs = append(errs, fmt.Errorf("MaxRecord %d is negative", o.MaxRecord))
	}
	if o.MaxBody > 0 && int64(o.MaxRecord) > o.MaxBody {
		errs = append(errs, fmt.Errorf("MaxRecord %d is larger than MaxBody %d", o.MaxRecord, o.MaxBody))
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxRecord == 0 {
		o.MaxRecord = DefaultMaxRecord
	}
	if int64(o.MaxRecord) > o.MaxBody {
		o.MaxRecord = int(o.MaxBody)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Handler serves the ingest endpoints (see the package documentation). It is
// meant for a dedicated listener: it owns every path, "/" included.
type Handler struct {
	opts    Options
	m       metrics
	parsers fastjson.ParserPool

	idPrefix [7]byte // random per handler: generated _bulk ids stay unique across restarts
	idSeq    atomic.Uint64
}

// New returns a Handler, or an error naming what opts lacks.
func New(opts Options) (*Handler, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("validating ingest HTTP options: %w", err)
	}
	h := &Handler{opts: opts.withDefaults(), m: newMetrics()}
	if _, err := rand.Read(h.idPrefix[:]); err != nil {
		return nil, fmt.Errorf("seeding document ids: %w", err)
	}
	if opts.Registerer != nil {
		if err := h.m.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("registering ingest HTTP metrics: %w", err)
		}
	}
	return h, nil
}

// Endpoint labels of the metrics.
const (
	epNDJSON    = "ndjson"
	epHECEvent  = "hec_event"
	epHECRaw    = "hec_raw"
	epHECHealth = "hec_health"
	epHECAck    = "hec_ack"
	epBulk      = "bulk"
	epESMeta    = "es_meta"
)

// ServeHTTP routes a request to its endpoint.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.opts.Now()
	rw := &statusWriter{ResponseWriter: w}
	ep := h.route(rw, r)
	h.m.requests.WithLabelValues(ep, strconv.Itoa(rw.status())).Inc()
	h.m.duration.WithLabelValues(ep).Observe(h.opts.Now().Sub(start).Seconds())
}

// route serves r and returns its endpoint label.
func (h *Handler) route(w http.ResponseWriter, r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/ingest/ndjson":
		h.serveNDJSON(w, r)
		return epNDJSON
	case strings.HasPrefix(p, "/services/collector"):
		return h.serveHEC(w, r, strings.TrimSuffix(p, "/"))
	case p == "/_bulk" || strings.HasSuffix(p, "/_bulk") && strings.Count(p, "/") == 2:
		h.serveBulk(w, r)
		return epBulk
	}
	h.serveESMeta(w, r)
	return epESMeta
}

// authError is why a request's credentials were refused.
type authError int

const (
	authOK      authError = iota
	authMissing           // no Authorization header
	authInvalid           // a header that cannot be read (scheme, base64, shape)
	authDenied            // a well-formed token the checker does not know
)

// authenticate reads the token from the Authorization header and checks it.
// Accepted: "Bearer <token>", "Splunk <token>", "Basic base64(user:token)"
// (any user), "ApiKey base64(id:token)".
func (h *Handler) authenticate(r *http.Request) (string, authError) {
	hdr := r.Header.Get("Authorization")
	if hdr == "" {
		return "", authMissing
	}
	scheme, cred, ok := strings.Cut(strings.TrimSpace(hdr), " ")
	cred = strings.TrimSpace(cred)
	if !ok || cred == "" || len(cred) > 2*maxTokenLen {
		return "", authInvalid
	}
	var token string
	switch strings.ToLower(scheme) {
	case "bearer", "splunk":
		token = cred
	case "basic", "apikey":
		dec, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return "", authInvalid
		}
		_, secret, ok := strings.Cut(string(dec), ":")
		if !ok {
			return "", authInvalid
		}
		token = secret
	default:
		return "", authInvalid
	}
	if token == "" || len(token) > maxTokenLen {
		return "", authInvalid
	}
	name, ok := h.opts.Tokens.CheckIngestToken(r.Context(), token)
	if !ok {
		return "", authDenied
	}
	return name, authOK
}

// bodyError is a request body that cannot be read, with the HTTP status it
// is answered with.
type bodyError struct {
	status int
	reason string
}

func (e *bodyError) Error() string { return e.reason }

// bodies keeps request body buffers between requests: under a sustained
// load each request's body (hundreds of kilobytes) was a new allocation, a
// fifth of what vigil serve allocated. Records point into a body only until
// Append returns (ingest.Appender does not keep them), so a body goes back
// once the request is answered.
var bodies sync.Pool // of *[]byte

// maxPooledBody: larger bodies are not kept for reuse.
const maxPooledBody = 4 << 20

func getBody(n int64) *[]byte {
	if bp, _ := bodies.Get().(*[]byte); bp != nil && int64(cap(*bp)) >= n {
		*bp = (*bp)[:0]
		return bp
	}
	b := make([]byte, 0, n)
	return &b
}

func putBody(bp *[]byte) {
	if cap(*bp) <= maxPooledBody {
		bodies.Put(bp)
	}
}

// readBody reads the whole body, decompressing gzip, bounded by MaxBody
// (before and after decompression). Records may point into the returned
// slice until done is called, once the request is answered; done is never nil.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, ep string) (body []byte, done func(), err error) {
	nop := func() {}
	limit := h.opts.MaxBody
	src := http.MaxBytesReader(w, r.Body, limit)
	var rd io.Reader = src
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, nop, h.bodyErr(err, ep, true, "reading gzip header")
		}
		defer func() { _ = zr.Close() }()
		rd = zr
	default:
		h.m.rejected.WithLabelValues(ep, "unsupported_encoding").Inc()
		return nil, nop, &bodyError{http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q is not supported (gzip is)", enc)}
	}
	hint := r.ContentLength + 1 // room for the read that sees EOF: no growth
	if rd != io.Reader(src) {
		hint = 4 * r.ContentLength
	}
	bp := getBody(min(max(hint, 512), limit+1))
	body, err = readAll(io.LimitReader(rd, limit+1), *bp)
	*bp = body[:0]
	h.m.bytes.WithLabelValues(ep).Add(float64(len(body)))
	if err != nil {
		putBody(bp)
		return nil, nop, h.bodyErr(err, ep, rd != io.Reader(src), "reading body")
	}
	if int64(len(body)) > limit {
		putBody(bp)
		h.m.rejected.WithLabelValues(ep, "body_too_large").Inc()
		return nil, nop, &bodyError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over the limit of %d bytes after decompression", limit)}
	}
	return body, func() { putBody(bp) }, nil
}

// readAll reads r to its end, appending to b, which is grown only when the
// body is larger than its capacity.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return b, nil
			}
			return b, err
		}
	}
}

func (h *Handler) bodyErr(err error, ep string, gzipped bool, doing string) error {
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		h.m.rejected.WithLabelValues(ep, "body_too_large").Inc()
		return &bodyError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over the limit of %d bytes", mbe.Limit)}
	}
	var corrupt flate.CorruptInputError
	if gzipped && (errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.As(err, &corrupt)) {
		h.m.rejected.WithLabelValues(ep, "bad_gzip").Inc()
		return &bodyError{http.StatusBadRequest, doing + ": invalid gzip data"}
	}
	h.m.rejected.WithLabelValues(ep, "read_error").Inc()
	return &bodyError{http.StatusBadRequest, doing + ": " + err.Error()}
}

// appendRecords makes recs durable in one call. It returns the error to
// answer with, nil when recs may be acknowledged.
func (h *Handler) appendRecords(ctx context.Context, ep string, recs []ingest.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := h.opts.Appender.Append(ctx, recs); err != nil {
		if errors.Is(err, ingest.ErrOverloaded) {
			h.m.rejected.WithLabelValues(ep, "overloaded").Add(float64(len(recs)))
		} else {
			h.m.rejected.WithLabelValues(ep, "append_error").Add(float64(len(recs)))
			level := slog.LevelError
			if ctx.Err() != nil {
				level = slog.LevelDebug // the client went away
			}
			h.opts.Logger.Log(ctx, level, "appending ingested records", "endpoint", ep, "records", len(recs), "err", err)
		}
		return fmt.Errorf("appending %d records: %w", len(recs), err)
	}
	h.m.records.WithLabelValues(ep).Add(float64(len(recs)))
	return nil
}

// retryAfter sets Retry-After from an overload error.
func retryAfter(w http.ResponseWriter, err error) {
	secs := int64(ingest.RetryAfter(err) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
}

// writeJSON answers status with the concatenation of parts as the body.
func writeJSON(w http.ResponseWriter, status int, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(status)
	for _, p := range parts {
		//nolint:gosec // G705: a JSON body Vigil composed (strings escaped by appendJSONString), sent as application/json
		if _, err := w.Write(p); err != nil {
			return // the client is gone
		}
	}
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x7f {
			continue
		}
		if c >= 0x80 || c == 0x7f {
			continue // UTF-8 (valid or not) passes through; DEL is legal JSON
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendJSONBytes appends b as a JSON string.
func appendJSONBytes(dst, b []byte) []byte {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return appendJSONString(dst, string(b))
		}
	}
	dst = append(dst, '"')
	dst = append(dst, b...)
	return append(dst, '"')
}

var _ http.Handler = (*Handler)(nil)
