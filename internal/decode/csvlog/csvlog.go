// Package csvlog decodes generic CSV logs with a header row (format id "csv"), as
// spreadsheets, SIEM and console exports write them.
//
// The first non-empty record names the columns; every following record becomes one
// event whose cells are raw fields named by their column's header (trimmed; an empty
// header becomes "column<N>", 1-based). Empty cells are not kept: for rules an empty
// cell and an absent one match alike. Records follow RFC 4180: quoted fields may hold
// the delimiter, doubled quotes and line breaks; a UTF-8 byte-order mark is skipped.
// The delimiter is comma, semicolon or tab, detected from the header line (the most
// frequent outside quotes; comma on a tie) unless Options.Delimiter is set. A record
// whose cell count differs from the header's is rejected as malformed with its line.
//
// Event time comes from the first column, among those whose header names a time
// (time, timestamp, @timestamp, _time, date, datetime, "Event DateTime", eventTime,
// TimeCreated, ... then any name ending in time, date or timestamp), whose cell
// parses (decode.ParseTime, plus US-style slash dates and a few console formats,
// see extraLayouts); a record where none parses is rejected as bad-timestamp.
//
// Well-known column names map onto ECS whatever their case and separators ("Source
// IP", src_ip, sourceIPAddress, client_ip -> source.ip; user, username, "User Name"
// -> user.name; "Event Name", eventName, action -> event.action; "User Agent",
// "Request User Agent" -> user_agent.original; host, hostname, computer -> host.*;
// see roles). A cell that does not parse for its field (an IP column holding a name)
// only stays raw, except that a source that is not an address goes to
// source.address. An "Event ID" holding a number is event.code (Windows event ids),
// anything else event.id. A user id cell holding structured text ({...} or [...]) is
// not taken as user.id.
//
// CloudTrail exports: when a record has an Event Name column and either an Event
// Source ending in ".amazonaws.com" or an Event Type starting with "Aws" (AwsApiCall,
// AwsServiceEvent, AwsConsoleSignIn, ...), the event gets cloud.provider=aws and
// event.category api (authentication for console sign-ins).
package csvlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// FormatID is the format id of generic CSV logs.
const FormatID = "csv"

const ctxCheckEvery = 256

// Options configure a Decoder.
type Options struct {
	// Delimiter separates fields; 0 detects comma, semicolon or tab from the header.
	Delimiter byte
}

// Formats lists the format this package decodes.
func Formats() []decode.Format {
	return []decode.Format{{
		ID:          FormatID,
		Description: "CSV with a header row (comma, semicolon or tab separated)",
		Sniff:       Sniff,
		New:         func() decode.Decoder { return New(Options{}) },
	}}
}

// Decoder decodes one CSV stream at a time; it is not safe for concurrent use.
type Decoder struct {
	opts  Options
	arena decode.Arena
	cols  []column
	times []int
	// Columns that decide the CloudTrail rule, -1 when absent.
	actionCol, providerCol, typeCol int
}

// column is one header column.
type column struct {
	name string
	key  event.Key
	role role
	rank int // for user columns: login names outrank display names
}

// New returns a Decoder.
func New(opts Options) *Decoder { return &Decoder{opts: opts} }

// Decode implements decode.Decoder.
func (d *Decoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	lim := in.Limits.WithDefaults()
	rd := newReader(in.R, lim.MaxLine)
	rd.delim = d.opts.Delimiter
	d.cols = d.cols[:0]
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		r, err := rd.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading CSV: %w", err)
		}
		if r.reason != "" {
			decode.Reject(sink, in, FormatID, r.offset, r.line, r.reason, errors.New(r.detail))
			continue
		}
		if len(d.cols) == 0 {
			d.header(r)
			continue
		}
		d.row(in, sink, r)
	}
}

// header sets up the columns from the header record.
func (d *Decoder) header(r *record) {
	var keys decode.KeyCache
	norm := make([]string, r.n())
	d.actionCol, d.providerCol, d.typeCol = -1, -1, -1
	for i := range r.n() {
		name := strings.TrimSpace(string(r.field(i)))
		if name == "" {
			name = "column" + strconv.Itoa(i+1)
		}
		norm[i] = normName(name)
		ro := roles[norm[i]]
		d.cols = append(d.cols, column{name: name, key: keys.KeyString(name), role: ro, rank: userRanks[norm[i]]})
		switch {
		case norm[i] == "eventname" && d.actionCol < 0:
			d.actionCol = i
		case norm[i] == "eventsource" && d.providerCol < 0:
			d.providerCol = i
		case norm[i] == "eventtype" && d.typeCol < 0:
			d.typeCol = i
		}
	}
	d.times = timeColumns(norm)
}

// row decodes one data record.
func (d *Decoder) row(in decode.Input, sink decode.Sink, r *record) {
	if r.n() != len(d.cols) {
		if r.n() == 1 && len(strings.TrimSpace(string(r.field(0)))) == 0 {
			return // a blank line
		}
		decode.Reject(sink, in, FormatID, r.offset, r.line, decode.ReasonMalformed,
			fmt.Errorf("record has %d fields, the header has %d", r.n(), len(d.cols)))
		return
	}
	ts, ok := d.timestamp(r)
	if !ok {
		decode.Reject(sink, in, FormatID, r.offset, r.line, decode.ReasonBadTimestamp, d.timeError(r))
		return
	}
	e := sink.Alloc()
	e.Timestamp = ts
	e.Origin = event.Origin{Source: in.Source, Format: FormatID, Offset: r.offset, Line: r.line}
	e.SetStr(event.EventKind, "event")
	var user, domain string
	userRank := 0
	for i, c := range d.cols {
		f := r.field(i)
		if len(f) == 0 {
			continue
		}
		v := d.arena.String(f)
		e.AddRaw(c.key, v)
		switch c.role {
		case roleUser:
			if c.rank > userRank {
				user, userRank = v, c.rank
			}
		case roleUserDomain:
			domain = v
		case roleNone:
		default:
			d.apply(e, c.role, v)
		}
	}
	if user != "" {
		e.SetUser(event.CanonicalUser(user, domain))
	}
	d.cloudTrail(e, r)
	sink.Emit(e)
}

// timestamp returns the first parseable time among the time columns.
func (d *Decoder) timestamp(r *record) (t time.Time, ok bool) {
	for _, i := range d.times {
		f := r.field(i)
		if len(f) == 0 {
			continue
		}
		if t, err := parseTime(b2s(f)); err == nil {
			return t, true
		}
	}
	return t, false
}

func (d *Decoder) timeError(r *record) error {
	if len(d.times) == 0 {
		return errors.New("the header names no time column")
	}
	var names []string
	for _, i := range d.times {
		names = append(names, fmt.Sprintf("%s=%q", d.cols[i].name, clip(string(r.field(i)))))
	}
	return fmt.Errorf("no parseable time in %s", strings.Join(names, ", "))
}

// apply maps one cell onto its ECS field.
func (d *Decoder) apply(e *event.Event, ro role, v string) {
	switch ro {
	case roleSourceIP:
		if ip := event.ParseIP(v); ip.IsValid() {
			e.SetIP(event.SourceIP, ip)
		}
		e.SetStrIfEmpty(event.SourceAddress, v)
	case roleDestIP:
		if ip := event.ParseIP(v); ip.IsValid() {
			e.SetIP(event.DestinationIP, ip)
		}
		e.SetStrIfEmpty(event.DestinationAddress, v)
	case roleSourcePort:
		setPort(e, event.SourcePort, v)
	case roleDestPort:
		setPort(e, event.DestinationPort, v)
	case roleUserID:
		if v[0] != '{' && v[0] != '[' {
			e.SetStrIfEmpty(event.UserID, v)
		}
	case roleAction:
		e.SetStrIfEmpty(event.EventAction, v)
		switch outcome(v) { // firewall verdicts: allow/deny, accept/drop, ...
		case "success":
			e.Type |= event.TypeAllowed
		case "failure":
			e.Type |= event.TypeDenied
		}
	case roleProvider:
		e.SetStrIfEmpty(event.EventProvider, v)
	case roleEventID:
		if n, ok := atoi(v); ok && n <= 1<<32 {
			e.SetStrIfEmpty(event.EventCode, v)
		} else {
			e.SetStrIfEmpty(event.EventID, v)
		}
	case roleUserAgent:
		e.SetStrIfEmpty(event.UserAgentOriginal, v)
	case roleHost:
		if e.Str(event.HostName) == "" {
			e.SetHost(v)
		}
	case roleURL:
		e.SetStrIfEmpty(event.URLOriginal, v)
	case roleMethod:
		e.SetStrIfEmpty(event.HTTPRequestMethod, v)
	case roleStatus:
		if n, ok := atoi(v); ok {
			if n >= 100 && n <= 599 {
				e.SetNum(event.HTTPResponseStatusCode, n)
			}
		} else if o := outcome(v); o != "" {
			e.SetStr(event.EventOutcome, o)
		}
	case roleMessage:
		e.SetStrIfEmpty(event.Message, v)
	case roleRegion:
		e.SetStrIfEmpty(event.CloudRegion, v)
	case roleAccount:
		e.SetStrIfEmpty(event.CloudAccountID, v)
	case roleError:
		e.SetStrIfEmpty(event.ErrorMessage, v)
		e.SetStr(event.EventOutcome, "failure")
	case roleErrorCode:
		e.SetStr(event.EventOutcome, "failure")
	case roleOutcome:
		if o := outcome(v); o != "" {
			e.SetStr(event.EventOutcome, o)
		}
	case roleProcessName:
		e.SetStrIfEmpty(event.ProcessName, v)
	case roleExecutable:
		e.SetStrIfEmpty(event.ProcessExecutable, v)
	case roleCommandLine:
		e.SetStrIfEmpty(event.ProcessCommandLine, v)
	case rolePID:
		if n, ok := atoi(v); ok {
			e.SetNum(event.ProcessPID, n)
		}
	case roleLevel:
		e.SetStrIfEmpty(event.LogLevel, v)
	case roleFilePath:
		e.SetStrIfEmpty(event.FilePath, v)
	case roleFileName:
		e.SetStrIfEmpty(event.FileName, v)
	case roleTransport:
		e.SetStrIfEmpty(event.NetworkTransport, lowerASCII(v))
	case roleProtocol:
		e.SetStrIfEmpty(event.NetworkProtocol, lowerASCII(v))
	}
}

// cloudTrail applies the CloudTrail-export rule (see the package comment).
func (d *Decoder) cloudTrail(e *event.Event, r *record) {
	if d.actionCol < 0 || len(r.field(d.actionCol)) == 0 {
		return
	}
	aws := d.providerCol >= 0 && strings.HasSuffix(b2s(r.field(d.providerCol)), ".amazonaws.com")
	var typ string
	if d.typeCol >= 0 {
		typ = b2s(r.field(d.typeCol))
		if strings.HasPrefix(typ, "Aws") {
			aws = true
		}
	}
	if !aws {
		return
	}
	e.SetStr(event.CloudProvider, "aws")
	if typ == "AwsConsoleSignIn" {
		e.Category |= event.CatAuthentication
	} else {
		e.Category |= event.CatAPI
	}
	if e.Str(event.EventOutcome) == "" {
		e.SetStr(event.EventOutcome, "success")
	}
}

func setPort(e *event.Event, f event.NumField, v string) {
	if n, ok := atoi(v); ok && n <= 65535 {
		e.SetNum(f, n)
	}
}

// outcomeWords maps the words producers use for a result onto ECS event.outcome.
var outcomeWords = []struct{ word, outcome string }{
	{"success", "success"}, {"succeeded", "success"}, {"successful", "success"}, {"ok", "success"},
	{"allowed", "success"}, {"allow", "success"}, {"pass", "success"}, {"passed", "success"},
	{"accept", "success"}, {"accepted", "success"}, {"permit", "success"},
	{"failure", "failure"}, {"failed", "failure"}, {"fail", "failure"}, {"denied", "failure"},
	{"deny", "failure"}, {"blocked", "failure"}, {"block", "failure"}, {"drop", "failure"},
	{"dropped", "failure"}, {"reject", "failure"}, {"rejected", "failure"}, {"error", "failure"},
	{"interrupted", "failure"}, {"unknown", "unknown"},
}

// outcome maps a result word onto event.outcome, "" when it is not one.
// atoi parses a non-negative decimal of up to 18 digits without allocating on
// failure (strconv's errors allocate, and most cells tried are not numbers).
func atoi(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func outcome(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > len("interrupted") {
		return ""
	}
	for _, w := range outcomeWords {
		if strings.EqualFold(v, w.word) {
			return w.outcome
		}
	}
	return ""
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

var _ decode.Decoder = (*Decoder)(nil)
