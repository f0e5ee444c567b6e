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

// role is what a W3C column means for the ECS core.
type role uint8

const (
	roleNone role = iota
	roleDate
	roleTime
	roleClientIP
	roleServerIP
	roleServerPort
	roleClientPort
	roleMethod
	roleURIStem
	roleURIQuery
	roleURI
	roleUser
	roleUserAgent
	roleReferer
	roleHostHeader
	roleComputer
	roleStatus
	roleScBytes
	roleCsBytes
	roleTimeTaken
	roleVersion
)

// roles maps lower-cased W3C field identifiers (as IIS and the W3C draft write them)
// to their role.
var roles = map[string]role{
	"date":           roleDate,
	"time":           roleTime,
	"c-ip":           roleClientIP,
	"s-ip":           roleServerIP,
	"s-port":         roleServerPort,
	"c-port":         roleClientPort,
	"cs-method":      roleMethod,
	"cs-uri-stem":    roleURIStem,
	"cs-uri-query":   roleURIQuery,
	"cs-uri":         roleURI,
	"cs-username":    roleUser,
	"cs(user-agent)": roleUserAgent,
	"cs(referer)":    roleReferer,
	"cs(referrer)":   roleReferer,
	"cs-host":        roleHostHeader,
	"cs(host)":       roleHostHeader,
	"s-computername": roleComputer,
	"sc-status":      roleStatus,
	"sc-bytes":       roleScBytes,
	"cs-bytes":       roleCsBytes,
	"time-taken":     roleTimeTaken,
	"cs-version":     roleVersion,
}

// column is one field of a #Fields directive, resolved once per directive.
type column struct {
	key      event.Key
	alias    event.Key // Sigma taxonomy name of a cs(Header) column
	hasAlias bool
	role     role
}

// plan is how to decode the data lines under one #Fields directive.
type plan struct {
	cols       []column
	date, time int // column indexes, -1 when absent
}

// newPlan resolves the field list of a #Fields directive.
func newPlan(fields [][]byte, keys *decode.KeyCache) *plan {
	p := &plan{cols: make([]column, len(fields)), date: -1, time: -1}
	for i, f := range fields {
		c := &p.cols[i]
		c.key = keys.Key(f)
		lname := strings.ToLower(string(f))
		c.role = roles[lname]
		switch c.role {
		case roleDate:
			p.date = i
		case roleTime:
			p.time = i
		}
		if a, ok := headerAlias(lname); ok {
			c.alias, c.hasAlias = keys.KeyString(a), true
		}
	}
	return p
}

// headerAlias turns a lower-cased header column "cs(user-agent)" into the Sigma
// webserver taxonomy name "cs-user-agent" (likewise sc(...) and s(...)).
func headerAlias(lname string) (string, bool) {
	open := strings.IndexByte(lname, '(')
	if open <= 0 || !strings.HasSuffix(lname, ")") || open+2 >= len(lname) {
		return "", false
	}
	switch lname[:open] {
	case "cs", "sc", "s", "c":
		return lname[:open] + "-" + lname[open+1:len(lname)-1], true
	}
	return "", false
}

// W3CDecoder decodes W3C Extended Log File Format streams (IIS W3SVC logs). It keeps
// buffers between lines; use one per goroutine.
type W3CDecoder struct {
	keys  decode.KeyCache
	arena decode.Arena
	plan  *plan
	date  string // date of the #Date directive, for logs without a date column
	vals  []string
	buf   []byte
	ents  entityCache
}

// NewW3CDecoder returns a W3CDecoder.
func NewW3CDecoder() *W3CDecoder { return &W3CDecoder{} }

var (
	errNoFields  = errors.New("data line before any #Fields directive")
	errNoTimeCol = errors.New("the #Fields directive has no time column")
)

// Decode implements decode.Decoder.
func (d *W3CDecoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	lim := in.Limits.WithDefaults()
	lr := decode.NewLineReader(in.R, lim.MaxLine)
	d.plan, d.date = nil, ""
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
			decode.Reject(sink, in, FormatW3C, ln.Offset, ln.Number, decode.ReasonLineTooLong,
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
		if b[0] == '#' {
			d.directive(b)
			continue
		}
		d.line(in, sink, ln, b)
	}
}

// directive handles a '#' line: #Fields starts a new plan, #Date gives the date for
// logs without a date column; every other comment is skipped.
func (d *W3CDecoder) directive(b []byte) {
	switch {
	case decode.HasPrefixFold(b, "#Fields:"):
		d.plan = newPlan(bytes.Fields(b[len("#Fields:"):]), &d.keys)
	case decode.HasPrefixFold(b, "#Date:"):
		v := bytes.TrimSpace(b[len("#Date:"):])
		if i := bytes.IndexByte(v, ' '); i >= 0 {
			v = v[:i]
		}
		d.date = d.arena.String(v)
	}
}

// line decodes one data line under the current plan.
func (d *W3CDecoder) line(in decode.Input, sink decode.Sink, ln decode.Line, b []byte) {
	p := d.plan
	if p == nil {
		decode.Reject(sink, in, FormatW3C, ln.Offset, ln.Number, decode.ReasonMissingField, errNoFields)
		return
	}
	s := d.arena.String(b)
	d.vals = splitW3C(s, d.vals[:0])
	if len(d.vals) != len(p.cols) {
		decode.Reject(sink, in, FormatW3C, ln.Offset, ln.Number, decode.ReasonMalformed,
			fmt.Errorf("splitting line %q: %d fields where #Fields declares %d", clip(s), len(d.vals), len(p.cols)))
		return
	}
	if p.time < 0 {
		decode.Reject(sink, in, FormatW3C, ln.Offset, ln.Number, decode.ReasonBadTimestamp, errNoTimeCol)
		return
	}
	date := d.date
	if p.date >= 0 && d.vals[p.date] != "-" {
		date = d.vals[p.date]
	}
	t, err := parseW3CTime(date, d.vals[p.time])
	if err != nil {
		decode.Reject(sink, in, FormatW3C, ln.Offset, ln.Number, decode.ReasonBadTimestamp, err)
		return
	}
	e := sink.Alloc()
	e.Timestamp = t
	e.Origin = event.Origin{Source: in.Source, Format: FormatW3C, Offset: ln.Offset, Line: ln.Number}
	e.Category = event.CatWeb | event.CatNetwork
	e.Type = event.TypeAccess | event.TypeConnection
	e.SetStr(event.EventKind, "event")
	e.SetStr(event.EventModule, "iis")
	e.SetStr(event.EventDataset, "iis.access")
	e.SetStr(event.Message, s) // the whole line, for full-text (Sigma keywords) searches
	d.fill(e, p)
	sink.Emit(e)
}

// fill sets the ECS core and the raw fields from the split values.
func (d *W3CDecoder) fill(e *event.Event, p *plan) {
	var stem, query, computer, hostHeader string
	for i, v := range d.vals {
		if v == "-" || v == "" {
			continue
		}
		c := &p.cols[i]
		e.AddRaw(c.key, v)
		switch c.role {
		case roleClientIP:
			setClient(e, v)
		case roleServerIP:
			e.SetStr(event.DestinationAddress, v)
			e.SetIP(event.DestinationIP, event.ParseIP(v))
		case roleServerPort:
			setPort(e, event.DestinationPort, v)
		case roleClientPort:
			setPort(e, event.SourcePort, v)
		case roleMethod:
			e.SetStr(event.HTTPRequestMethod, v)
		case roleURIStem:
			stem = v
		case roleURIQuery:
			query = v
		case roleURI:
			setURL(e, v)
		case roleUser:
			d.ents.setUser(e, v)
		case roleUserAgent:
			ua := d.plusToSpace(v)
			e.SetStr(event.UserAgentOriginal, ua)
			if c.hasAlias && ua != v {
				e.AddRaw(c.alias, ua) // decoded first: the form generic rules are written in
			}
		case roleReferer:
			e.SetStr(event.HTTPRequestReferrer, v)
		case roleHostHeader:
			hostHeader = hostOnly(v)
			e.SetStr(event.URLDomain, hostHeader)
		case roleComputer:
			computer = v
		case roleStatus:
			if n, ok := atoi(v); ok {
				setOutcome(e, n)
			}
		case roleScBytes:
			setCount(e, event.HTTPResponseBodyBytes, v)
		case roleCsBytes:
			setCount(e, event.HTTPRequestBodyBytes, v)
		case roleTimeTaken:
			if ms, ok := atoi(v); ok && ms < maxDurationMS {
				e.SetNum(event.EventDurationNS, ms*1e6)
			}
		case roleVersion:
			if len(v) > 5 && strings.EqualFold(v[:5], "HTTP/") {
				e.SetStr(event.HTTPVersion, v[5:])
			}
		}
		if c.hasAlias {
			e.AddRaw(c.alias, v)
		}
	}
	d.setURLParts(e, stem, query)
	if computer != "" {
		d.ents.setHost(e, computer)
	} else if hostHeader != "" {
		d.ents.setHost(e, hostHeader)
	}
}

// maxDurationMS bounds time-taken so that its value in nanoseconds fits an int64.
const maxDurationMS = 1 << 43

// setURLParts sets url.path, url.query and url.original (path?query) from
// cs-uri-stem and cs-uri-query, unless a cs-uri column already gave them.
func (d *W3CDecoder) setURLParts(e *event.Event, stem, query string) {
	if stem != "" {
		e.SetStr(event.URLPath, stem)
	}
	if query != "" {
		e.SetStr(event.URLQuery, query)
	}
	if e.Str(event.URLOriginal) != "" || stem == "" {
		return
	}
	if query == "" {
		e.SetStr(event.URLOriginal, stem)
		return
	}
	d.buf = append(append(append(d.buf[:0], stem...), '?'), query...)
	e.SetStr(event.URLOriginal, d.arena.String(d.buf))
}

// plusToSpace undoes IIS's replacement of spaces by '+' in header values.
func (d *W3CDecoder) plusToSpace(v string) string {
	if strings.IndexByte(v, '+') < 0 {
		return v
	}
	d.buf = append(d.buf[:0], v...)
	for i, c := range d.buf {
		if c == '+' {
			d.buf[i] = ' '
		}
	}
	return d.arena.String(d.buf)
}

func setPort(e *event.Event, f event.NumField, v string) {
	if n, ok := atoi(v); ok && n <= 65535 {
		e.SetNum(f, n)
	}
}

func setCount(e *event.Event, f event.NumField, v string) {
	if n, ok := atoi(v); ok {
		e.SetNum(f, n)
	}
}

// splitW3C splits a data line on spaces and tabs. A field starting with a double
// quote runs to the closing quote (the W3C draft's quoted strings, "" inside being a
// literal quote), so producers that quote values with spaces split right.
func splitW3C(s string, out []string) []string {
	for i := 0; i < len(s); {
		c := s[i]
		if c == ' ' || c == '\t' {
			i++
			continue
		}
		j := i
		if c == '"' {
			j = quotedEnd(s, i+1)
			if j < len(s) {
				out = append(out, s[i+1:j])
				i = j + 1
				continue
			}
			j = i // unclosed: take the token as it is
		}
		for j < len(s) && s[j] != ' ' && s[j] != '\t' {
			j++
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

// quotedEnd returns the index of the quote closing a W3C string starting at from, or
// len(s) when there is none. A doubled quote is part of the string.
func quotedEnd(s string, from int) int {
	for i := from; i < len(s); i++ {
		if s[i] != '"' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '"' {
			i++
			continue
		}
		return i
	}
	return len(s)
}

var _ decode.Decoder = (*W3CDecoder)(nil)
