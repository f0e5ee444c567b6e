// Package syslog decodes syslog text files: RFC 3164 lines as syslogd and rsyslog
// write them to /var/log (with or without a leading <PRI>, with the traditional
// "Mmm dd hh:mm:ss" timestamp or the RFC 3339 one rsyslog writes by default on
// modern distributions), and RFC 5424 lines. The messages of the programs that write
// /var/log/auth.log and /var/log/secure (sshd, sudo, su, the shadow tools, PAM,
// systemd-logind, cron) are parsed into ECS authentication, session and IAM events
// by ParseAuthMessage, which the journald decoder reuses.
//
// Raw fields (every one a producer element under a stable name):
//   - header: syslog.priority, syslog.facility, syslog.severity (decimal codes),
//     syslog.facility_name, syslog.severity_name, syslog.timestamp (as written),
//     syslog.hostname, syslog.appname, syslog.procid, syslog.msgid, syslog.version;
//     RFC 5424 structured data as syslog.sd.<SD-ID>.<PARAM-NAME> (unescaped).
//   - message: see ParseAuthMessage (ssh.*, pam.*, sudo.*, su.*, iam.*, logind.*, cron.*).
//
// The message itself is the ECS field message.
//
// # The year of RFC 3164 timestamps
//
// "Mmm dd hh:mm:ss" has no year and no zone. Decoding must be deterministic (a replay
// gives the same events), so the wall clock is never used. The year is chosen, in
// order of precedence:
//  1. Options.Year (or Input.Year), the year of the first RFC 3164 line of the stream;
//  2. else the year of a full-date timestamp (RFC 3339 or RFC 5424 line) in the
//     stream: the first one in the first block read (at most 64 KiB; the decoder
//     never waits for more, so live streams are not stalled), then each later one,
//     choosing for the next RFC 3164 line the year that puts it nearest that
//     timestamp;
//  3. else Input.ModTime: the latest year that does not put the line after the
//     source's modification time (lines are written before the file is last
//     modified), so a Dec -> Jan file modified in January starts in December of the
//     previous year;
//  4. else FallbackYear, a recognisable placeholder.
//
// Input.Year (vigil hunt --year) counts as Options.Year.
//
// After the first line, a month going backwards by more than six months (Dec -> Jan)
// moves to the next year, and one going forwards by more than six months (a late
// line from December after January) is placed in the previous year without changing
// the current one. Times are read in Options.Location (UTC when nil). Callers that
// know better (the file's modification time, an operator's --year) pass Options.Year.
package syslog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// Format ids.
const (
	FormatRFC3164 = "syslog-rfc3164"
	FormatRFC5424 = "syslog-rfc5424"
)

// FallbackYear is the year given to RFC 3164 timestamps when neither Options.Year nor
// a full-date timestamp in the stream says otherwise. It is the first leap year of the
// Unix epoch, so "Feb 29" lines still decode, and it is obviously not a real year.
const FallbackYear = 1972

// Options configure a Decoder. The zero value is ready to use.
type Options struct {
	// Year is the year of the first RFC 3164 ("Mmm dd hh:mm:ss") line of a stream;
	// 0 infers it (see the package documentation).
	Year int
	// Location is the zone of timestamps written without one; nil means UTC.
	Location *time.Location
}

// Decoder decodes syslog streams. It holds only options; all per-stream state lives
// in Decode, so one Decoder may decode several streams at once.
type Decoder struct {
	opts   Options
	format string // the format id of rejects no line kind can be told for
}

// New returns a decoder with opts. It decodes every syslog line kind; it was created
// for the "syslog-rfc3164" format id.
func New(opts Options) *Decoder { return newDecoder(opts, FormatRFC3164) }

func newDecoder(opts Options, format string) *Decoder {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	return &Decoder{opts: opts, format: format}
}

// Formats lists the formats this package decodes. Both ids decode every syslog line
// kind; each event's Origin.Format names the kind of its own line.
func Formats() []decode.Format {
	return []decode.Format{
		{
			ID:          FormatRFC3164,
			Description: "BSD syslog text (RFC 3164, traditional or RFC 3339 timestamps): /var/log/auth.log, /var/log/secure, /var/log/syslog",
			Sniff:       SniffRFC3164,
			New:         func() decode.Decoder { return newDecoder(Options{}, FormatRFC3164) },
		},
		{
			ID:          FormatRFC5424,
			Description: "IETF syslog text (RFC 5424) with structured data",
			Sniff:       SniffRFC5424,
			New:         func() decode.Decoder { return newDecoder(Options{}, FormatRFC5424) },
		},
	}
}

// checkEvery is how many lines pass between checks of ctx.
const checkEvery = 256

// Decode implements decode.Decoder.
func (d *Decoder) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	lim := in.Limits.WithDefaults()
	// A pooled 64 KiB reader (SniffSize, for the year's anchor below): each
	// batch of a stream is a Decode call, and a buffer of MaxLine (1 MiB) each
	// time was most of what a syslog stream allocated. LineReader reads longer
	// lines, up to MaxLine, with a buffer of its own.
	br := decode.AcquireReader(in.R)
	defer decode.ReleaseReader(br)
	st := newStream(d.opts, in, sink)
	st.format = d.format
	if st.years.explicit == 0 {
		st.years.explicit = in.Year
	}
	st.years.modTime = in.ModTime
	if st.years.explicit == 0 {
		// Only what the first read brought: waiting for more would stall a live stream.
		_, _ = br.Peek(1)
		head, _ := br.Peek(min(br.Buffered(), decode.SniffSize))
		st.years.anchorFromHead(head, d.opts.Location)
	}
	lr := decode.NewLineReader(br, lim.MaxLine) // reuses br: it is large enough
	for n := 0; ; n++ {
		if n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		l, err := lr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading %s: %w", in.Source, err)
		}
		if l.TooLong {
			st.reject(l.Offset, l.Number, d.format, decode.ReasonLineTooLong,
				fmt.Errorf("line of %d bytes exceeds the %d-byte limit", l.Length, lim.MaxLine))
			continue
		}
		st.line(l)
	}
}

// stream is the state of one Decode call.
type stream struct {
	opts   Options
	format string
	in     decode.Input
	sink   decode.Sink
	arena  decode.Arena
	keys   decode.KeyCache
	years  yearState
	sd     sdParser
	hosts  HostCache
}

func newStream(opts Options, in decode.Input, sink decode.Sink) *stream {
	st := &stream{opts: opts, in: in, sink: sink}
	st.years = yearState{explicit: opts.Year}
	return st
}

func (st *stream) reject(off, line int64, format, reason string, err error) {
	decode.Reject(st.sink, st.in, format, off, line, reason, err)
}

// line decodes one line into an event or a reject.
func (st *stream) line(l decode.Line) {
	b := trimLine(l.Bytes)
	if len(b) == 0 {
		return
	}
	// One copy of the line: every string of the event is a slice of it.
	s := st.arena.String(b)
	h := header{kind: kindUnknown}
	if reason, err := parseHeader(&h, s, st.opts.Location); err != nil {
		st.reject(l.Offset, l.Number, h.format(st.format), reason, err)
		return
	}
	if h.kind == kindBSD {
		t, err := st.years.resolve(&h, st.opts.Location)
		if err != nil {
			st.reject(l.Offset, l.Number, h.format(""), decode.ReasonBadTimestamp, err)
			return
		}
		h.ts = t
	} else {
		st.years.anchor(h.ts.In(st.opts.Location))
	}
	ts, err := decode.CheckTime(h.ts)
	if err != nil {
		st.reject(l.Offset, l.Number, h.format(""), decode.ReasonBadTimestamp, err)
		return
	}
	e := st.sink.Alloc()
	if h.sd != "" {
		if err := st.sd.parse(e, h.sd, &st.keys, &st.arena); err != nil {
			st.reject(l.Offset, l.Number, h.format(""), decode.ReasonMalformed, err)
			return
		}
	}
	e.Timestamp = ts
	e.Origin = event.Origin{Source: st.in.Source, Format: h.format(""), Offset: l.Offset, Line: l.Number}
	fill(e, &h, &st.hosts)
	st.sink.Emit(e)
}

// trimLine drops trailing spaces and NULs some relays append.
func trimLine(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == 0 || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// fill sets the ECS core and raw fields of e from a parsed header.
func fill(e *event.Event, h *header, hosts *HostCache) {
	e.SetStr(event.EventKind, "event")
	e.SetStr(event.EventModule, "system")
	if h.pri >= 0 {
		fac, sev := h.pri>>3, h.pri&7
		e.AddRaw(keyPriority, smallInt(h.pri))
		e.AddRaw(keyFacility, smallInt(fac))
		e.AddRaw(keySeverity, smallInt(sev))
		e.AddRaw(keyFacilityName, FacilityName(fac))
		e.AddRaw(keySeverityName, SeverityName(sev))
		e.SetStr(event.LogLevel, SeverityName(sev))
	}
	if h.kind == kind5424 {
		e.AddRaw(keyVersion, h.version)
	}
	e.AddRaw(keyTimestamp, h.tsText)
	if host := h.host; host != "" {
		e.AddRaw(keyHostname, host)
		hosts.Set(e, host)
	}
	app := h.app
	if app != "" {
		e.AddRaw(keyAppname, app)
		e.SetStr(event.EventProvider, app)
		e.SetStr(event.ProcessName, baseName(app))
	}
	if pid := h.procid; pid != "" {
		e.AddRaw(keyProcid, pid)
		if n, ok := atoi(pid); ok {
			e.SetNum(event.ProcessPID, int64(n))
		}
	}
	if id := h.msgid; id != "" {
		e.AddRaw(keyMsgid, id)
	}
	msg := h.msg
	e.SetStr(event.Message, msg)
	if ParseAuthMessage(e, app, msg) {
		e.SetStr(event.EventDataset, "system.auth")
	} else {
		e.SetStr(event.EventDataset, "system.syslog")
	}
}

// Interned raw keys of the header.
var (
	keyPriority     = event.MakeKey("syslog.priority")
	keyFacility     = event.MakeKey("syslog.facility")
	keySeverity     = event.MakeKey("syslog.severity")
	keyFacilityName = event.MakeKey("syslog.facility_name")
	keySeverityName = event.MakeKey("syslog.severity_name")
	keyVersion      = event.MakeKey("syslog.version")
	keyTimestamp    = event.MakeKey("syslog.timestamp")
	keyHostname     = event.MakeKey("syslog.hostname")
	keyAppname      = event.MakeKey("syslog.appname")
	keyProcid       = event.MakeKey("syslog.procid")
	keyMsgid        = event.MakeKey("syslog.msgid")
)

// HostCache remembers the canonical forms of the last few host names seen, so a
// stream of lines from a handful of hosts canonicalizes each once. The zero value is
// ready; use one per stream.
type HostCache struct {
	names [hostCacheSize]string
	refs  [hostCacheSize]event.HostRef
	next  int
}

const hostCacheSize = 8

// Set does what e.SetHost(name) does, reusing a cached canonical form. name must be
// immutable (an arena or literal string).
func (c *HostCache) Set(e *event.Event, name string) {
	if name == "" {
		return
	}
	i := 0
	for ; i < hostCacheSize && c.names[i] != name; i++ {
	}
	if i == hostCacheSize {
		i = c.next
		c.next = (c.next + 1) % hostCacheSize
		c.names[i], c.refs[i] = name, event.CanonicalHost(name)
	}
	ref := c.refs[i]
	if ref.FQDN == "" {
		return
	}
	e.SetStr(event.HostName, ref.FQDN)
	e.SetStr(event.HostHostname, ref.Short)
	e.AddRelatedHost(ref.FQDN)
}

var facilityNames = [...]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
	"authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

var severityNames = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// FacilityName returns the conventional name of a syslog facility code ("auth",
// "authpriv", "local0"), or "" when the code is out of range.
func FacilityName(code int) string {
	if code < 0 || code >= len(facilityNames) {
		return ""
	}
	return facilityNames[code]
}

// SeverityName returns the syslog keyword of a severity code ("err", "info"), the
// value ECS log.level takes for syslog, or "" when the code is out of range.
func SeverityName(code int) string {
	if code < 0 || code >= len(severityNames) {
		return ""
	}
	return severityNames[code]
}

var _ decode.Decoder = (*Decoder)(nil)
