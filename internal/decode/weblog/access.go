package weblog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// Raw field names of access-log events: plain names for the format's fields, and the
// Sigma "webserver" taxonomy names (W3C style) for the same values. cs-uri-query
// carries the whole request target (path and query), as SigmaHQ's generic web rules
// expect it (they match paths such as "/remote/logincheck" in cs-uri-query).
var (
	keyVhost   = event.MakeKey("vhost")
	keyPort    = event.MakeKey("port")
	keyClient  = event.MakeKey("client")
	keyIdent   = event.MakeKey("ident")
	keyUser    = event.MakeKey("user")
	keyTime    = event.MakeKey("time")
	keyRequest = event.MakeKey("request")
	keyStatus  = event.MakeKey("status")
	keyBytes   = event.MakeKey("bytes")
	keyReferer = event.MakeKey("referer")
	keyAgent   = event.MakeKey("agent")
	keyExtra   = event.MakeKey("extra")

	keyCIP         = event.MakeKey("c-ip")
	keyCsUsername  = event.MakeKey("cs-username")
	keyCsMethod    = event.MakeKey("cs-method")
	keyCsURIStem   = event.MakeKey("cs-uri-stem")
	keyCsURIQuery  = event.MakeKey("cs-uri-query")
	keyCsVersion   = event.MakeKey("cs-version")
	keyScStatus    = event.MakeKey("sc-status")
	keyScBytes     = event.MakeKey("sc-bytes")
	keyCsReferer   = event.MakeKey("cs-referer")
	keyCsUserAgent = event.MakeKey("cs-user-agent")
	keySPort       = event.MakeKey("s-port")
)

// accessRecord is one access-log line split into its fields; every string is a
// substring of the line. Absent optional fields are "".
type accessRecord struct {
	vhost, port                               string
	client, ident, user, time                 string
	request, status, bytes                    string
	referer, agent, extra                     string
	hasReferer, hasAgent, hasStatus, hasBytes bool
}

var (
	errNoTime    = errors.New("no [time] field")
	errHead      = errors.New("expected host, ident and user before the time")
	errNoRequest = errors.New("no quoted request after the time")
	errNoStatus  = errors.New("no status after the request")
	errUnclosed  = errors.New("unclosed quoted referer or user agent")
)

// parseAccess splits an access-log line:
//
//	[vhost:port ]host ident user [time] "request" status bytes[ "referer" "agent"[ extra]]
//
// It is a hand-written scanner: quotes inside the request and headers may be escaped
// (\" as Apache writes them) or, from some servers, raw; a closing quote is the one
// followed by what the format puts next.
func parseAccess(line string, r *accessRecord) error {
	*r = accessRecord{}
	lb := timeOpen(line)
	if lb < 0 {
		return errNoTime
	}
	if err := r.splitHead(line[:lb]); err != nil {
		return err
	}
	rb := strings.IndexByte(line[lb:], ']')
	if rb < 0 {
		return errNoTime
	}
	r.time = line[lb+1 : lb+rb]
	rest := line[lb+rb+1:]
	if len(rest) < 3 || rest[0] != ' ' || rest[1] != '"' {
		return errNoRequest
	}
	rest = rest[2:]
	q := closeQuote(rest, followsRequest)
	if q < 0 {
		return errNoStatus
	}
	r.request = rest[:q]
	rest = rest[q+2:] // past `" `
	r.status, rest = token(rest)
	r.hasStatus = r.status != "-"
	if rest == "" {
		return nil // a log without %b
	}
	r.bytes, rest = token(rest[1:])
	r.hasBytes = r.bytes != "-"
	if rest == "" {
		return nil // Common Log Format
	}
	if len(rest) >= 2 && rest[1] == '"' {
		rest = rest[2:]
		q = closeQuote(rest, followsReferer)
		if q < 0 {
			return errUnclosed
		}
		r.referer, r.hasReferer = rest[:q], true
		rest = rest[q+1:]
		if len(rest) >= 2 && rest[1] == '"' {
			rest = rest[2:]
			q = closeQuote(rest, followsAgent)
			if q < 0 {
				return errUnclosed
			}
			r.agent, r.hasAgent = rest[:q], true
			rest = rest[q+1:]
		}
	}
	r.extra = trimSpace(rest)
	return nil
}

// timeOpen returns the index of the '[' opening the time field: the first "[dd/",
// so that a bracketed IPv6 vhost or client before it is not taken for it; failing
// that, the first '['. -1 when there is none.
func timeOpen(line string) int {
	first := -1
	for i := 0; i < len(line); i++ {
		if line[i] != '[' {
			continue
		}
		if first < 0 {
			first = i
		}
		if i+3 < len(line) && isDigit(line[i+1]) && isDigit(line[i+2]) && line[i+3] == '/' {
			return i
		}
	}
	return first
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// splitHead splits "[vhost:port ]host ident user " (the text before the '['). A
// user name holding spaces is kept whole.
func (r *accessRecord) splitHead(h string) error {
	var tok [4]string
	var start [4]int
	n, i := 0, 0
	for n < len(tok) {
		for i < len(h) && h[i] == ' ' {
			i++
		}
		if i == len(h) {
			break
		}
		j := i
		for j < len(h) && h[j] != ' ' {
			j++
		}
		tok[n], start[n] = h[i:j], i
		n++
		i = j
	}
	more := trimSpace(h[i:]) != ""
	switch {
	case n == 3:
		r.client, r.ident, r.user = tok[0], tok[1], tok[2]
	case n == 4 && isVhostPort(tok[0]):
		r.vhostPort(tok[0])
		r.client, r.ident, r.user = tok[1], tok[2], tok[3]
		if more {
			r.user = trimSpace(h[start[3]:])
		}
	case n == 4:
		r.client, r.ident, r.user = tok[0], tok[1], trimSpace(h[start[2]:])
	default:
		return errHead
	}
	return nil
}

// vhostPort splits Apache's "%v:%p".
func (r *accessRecord) vhostPort(s string) {
	i := strings.LastIndexByte(s, ':')
	r.vhost, r.port = s[:i], s[i+1:]
}

// isVhostPort reports whether s looks like "name:port" (not an IPv6 address).
func isVhostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return false
	}
	if _, ok := atoi(s[i+1:]); !ok {
		return false
	}
	return strings.IndexByte(s[:i], ':') < 0 || s[0] == '['
}

// followsRequest reports whether rest (after a candidate closing quote of the
// request) is " status" followed by a space or the end.
func followsRequest(rest string) bool {
	if len(rest) < 2 || rest[0] != ' ' {
		return false
	}
	s, after := token(rest[1:])
	if after != "" && after[0] != ' ' {
		return false
	}
	if s == "-" {
		return true
	}
	_, ok := atoi(s)
	return ok && len(s) == 3
}

// followsReferer accepts the end of the referer: a space and the agent's quote, or the end.
func followsReferer(rest string) bool {
	return rest == "" || rest[0] == ' '
}

// followsAgent accepts the end of the user agent: the end of the line or a space.
func followsAgent(rest string) bool {
	return rest == "" || rest[0] == ' ' || rest[0] == '\t'
}

// closeQuote returns the index in s (the text after an opening quote) of the closing
// quote: the first quote not escaped by a backslash that ok accepts what follows of;
// failing that, the first raw quote ok accepts (servers that do not escape). -1 if none.
func closeQuote(s string, ok func(rest string) bool) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			if ok(s[i+1:]) {
				return i
			}
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' && ok(s[i+1:]) {
			return i
		}
	}
	return -1
}

// token returns the text up to the next space, and the rest starting at that space.
func token(s string) (tok, rest string) {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// AccessDecoder decodes Apache and nginx access logs. It keeps buffers between lines;
// use one per goroutine.
type AccessDecoder struct {
	arena decode.Arena
	rec   accessRecord
	ents  entityCache
}

// NewAccessDecoder returns an AccessDecoder.
func NewAccessDecoder() *AccessDecoder { return &AccessDecoder{} }

// Decode implements decode.Decoder.
func (d *AccessDecoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	lim := in.Limits.WithDefaults()
	lr := decode.NewLineReader(in.R, lim.MaxLine)
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		ln, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", in.Source, err)
		}
		if ln.TooLong {
			decode.Reject(sink, in, FormatAccessLog, ln.Offset, ln.Number, decode.ReasonLineTooLong,
				fmt.Errorf("line of %d bytes exceeds the limit of %d", ln.Length, lim.MaxLine))
			continue
		}
		b := ln.Bytes
		if ln.Number == 1 {
			b = bytes.TrimPrefix(b, []byte("\ufeff"))
		}
		b = bytes.TrimRight(b, " \t\r")
		if len(b) == 0 {
			continue
		}
		d.line(in, sink, ln, d.arena.String(b))
	}
}

// line decodes one non-empty line.
func (d *AccessDecoder) line(in decode.Input, sink decode.Sink, ln decode.Line, s string) {
	r := &d.rec
	if err := parseAccess(s, r); err != nil {
		decode.Reject(sink, in, FormatAccessLog, ln.Offset, ln.Number, decode.ReasonMalformed,
			fmt.Errorf("parsing access log line %q: %w", clip(s), err))
		return
	}
	t, err := parseCLFTime(r.time)
	if err != nil {
		decode.Reject(sink, in, FormatAccessLog, ln.Offset, ln.Number, decode.ReasonBadTimestamp, err)
		return
	}
	var status int64
	if r.hasStatus {
		var ok bool
		if status, ok = atoi(r.status); !ok {
			decode.Reject(sink, in, FormatAccessLog, ln.Offset, ln.Number, decode.ReasonMalformed,
				fmt.Errorf("parsing status %q: not a number", clip(r.status)))
			return
		}
	}
	var size int64
	if r.hasBytes {
		var ok bool
		if size, ok = atoi(r.bytes); !ok {
			decode.Reject(sink, in, FormatAccessLog, ln.Offset, ln.Number, decode.ReasonMalformed,
				fmt.Errorf("parsing size %q: not a number", clip(r.bytes)))
			return
		}
	}
	e := sink.Alloc()
	e.Timestamp = t
	e.Origin = event.Origin{Source: in.Source, Format: FormatAccessLog, Offset: ln.Offset, Line: ln.Number}
	e.Category = event.CatWeb
	e.Type = event.TypeAccess
	e.SetStr(event.EventKind, "event")
	e.SetStr(event.EventModule, "apache")
	e.SetStr(event.EventDataset, "apache.access")
	e.SetStr(event.Message, s) // the whole line, for full-text (Sigma keywords) searches
	if r.hasStatus {
		setOutcome(e, status)
	}
	if r.hasBytes {
		e.SetNum(event.HTTPResponseBodyBytes, size)
	}
	setClient(e, r.client)
	if r.user != "-" {
		d.ents.setUser(e, r.user)
	}
	if r.vhost != "" {
		if ip := event.ParseIP(r.vhost); ip.IsValid() {
			e.SetIP(event.DestinationIP, ip)
		} else {
			e.SetStr(event.DestinationDomain, r.vhost)
		}
		if p, ok := atoi(r.port); ok && p <= 65535 {
			e.SetNum(event.DestinationPort, p)
		}
	}
	method, target, proto := splitRequest(r.request)
	if method != "" {
		e.SetStr(event.HTTPRequestMethod, method)
	}
	setURL(e, target)
	if proto != "" {
		e.SetStr(event.HTTPVersion, proto[len("HTTP/"):])
	}
	if r.hasReferer && r.referer != "-" && r.referer != "" {
		e.SetStr(event.HTTPRequestReferrer, r.referer)
	}
	if r.hasAgent && r.agent != "-" && r.agent != "" {
		e.SetStr(event.UserAgentOriginal, r.agent)
	}
	accessRaw(e, r, method, target, proto)
	sink.Emit(e)
}

// accessRaw keeps the line's fields under their plain names and the Sigma webserver names.
func accessRaw(e *event.Event, r *accessRecord, method, target, proto string) {
	addRaw(e, keyVhost, r.vhost)
	addRaw(e, keyPort, r.port)
	addRaw(e, keyClient, r.client)
	addRaw(e, keyIdent, r.ident)
	addRaw(e, keyUser, r.user)
	addRaw(e, keyTime, r.time)
	addRaw(e, keyRequest, r.request)
	addRaw(e, keyStatus, r.status)
	addRaw(e, keyBytes, r.bytes)
	addRaw(e, keyReferer, r.referer)
	addRaw(e, keyAgent, r.agent)
	addRaw(e, keyExtra, r.extra)

	addRaw(e, keyCIP, r.client)
	addRaw(e, keyCsUsername, r.user)
	addRaw(e, keyCsMethod, method)
	addRaw(e, keyCsURIStem, e.Str(event.URLPath))
	addRaw(e, keyCsURIQuery, target)
	addRaw(e, keyCsVersion, proto)
	addRaw(e, keyScStatus, r.status)
	addRaw(e, keyScBytes, r.bytes)
	addRaw(e, keyCsReferer, r.referer)
	addRaw(e, keyCsUserAgent, r.agent)
	addRaw(e, keySPort, r.port)
}

// addRaw keeps a raw field unless it is empty or the "-" placeholder.
func addRaw(e *event.Event, k event.Key, v string) {
	if v == "" || v == "-" {
		return
	}
	e.AddRaw(k, v)
}

// splitRequest splits a request line "METHOD target HTTP/x.y" into its parts (proto
// is "HTTP/x.y"). A line of another shape (scanner garbage, a TLS handshake, "-")
// gives what it can: a
// method and target for "METHOD /target" (HTTP/0.9) or "METHOD * HTTP/1.1", nothing
// otherwise; the request stays whole in the raw field "request".
func splitRequest(req string) (method, target, proto string) {
	req = trimSpace(req) // Tomcat writes "GET /index.jsp " for a request without a protocol
	sp1 := strings.IndexByte(req, ' ')
	if sp1 <= 0 {
		return "", "", ""
	}
	method = req[:sp1]
	if !isHTTPToken(method) {
		return "", "", ""
	}
	rest := req[sp1+1:]
	sp2 := strings.LastIndexByte(rest, ' ')
	if sp2 < 0 {
		if rest == "" || rest[0] != '/' {
			return "", "", ""
		}
		return method, rest, "" // HTTP/0.9
	}
	proto = rest[sp2+1:]
	if len(proto) < 6 || proto[:5] != "HTTP/" {
		return "", "", ""
	}
	return method, rest[:sp2], proto
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

var _ decode.Decoder = (*AccessDecoder)(nil)
