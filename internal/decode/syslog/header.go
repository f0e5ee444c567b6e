package syslog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
)

// Line kinds.
const (
	kindUnknown = -1 // no timestamp recognised yet

	kindBSD  = iota - 1 // RFC 3164 with "Mmm dd hh:mm:ss"
	kindISO             // RFC 3164 framing with an RFC 3339 timestamp (rsyslog's default file format)
	kind5424            // RFC 5424
)

// header is one parsed line. Its strings are slices of the line.
type header struct {
	kind int
	pri  int // -1 when the line has no <PRI>

	// BSD timestamp parts; the year is resolved later.
	month               time.Month
	day, hh, mm, ss, ns int

	ts      time.Time // set for kindISO and kind5424
	tsText  string
	version string
	host    string
	app     string
	procid  string
	msgid   string
	sd      string // RFC 5424 structured data text, "" for NILVALUE
	msg     string
}

// format returns the format id of the line's kind, or def when it is unknown.
func (h *header) format(def string) string {
	switch h.kind {
	case kind5424:
		return FormatRFC5424
	case kindUnknown:
		return def
	}
	return FormatRFC3164
}

// parseHeader parses line s into h. On failure it returns the reject reason and why.
func parseHeader(h *header, s string, loc *time.Location) (string, error) {
	h.pri = -1
	rest := s
	if rest[0] == '<' {
		pri, n, err := parsePRI(rest)
		if err != nil {
			return decode.ReasonMalformed, err
		}
		h.pri = pri
		rest = rest[n:]
		if v := versionLen(rest); v > 0 {
			h.kind = kind5424
			h.version = rest[:v]
			return parse5424(h, rest[v+1:], loc)
		}
	}
	switch {
	case len(rest) > 0 && isDigit(rest[0]):
		t, n, err := parseISO(rest, loc)
		if err != nil {
			return decode.ReasonBadTimestamp, err
		}
		h.kind, h.ts, h.tsText = kindISO, t, rest[:n]
		rest = rest[n:]
	case len(rest) >= 3 && decode.MonthAbbrev(rest[:3]) != 0:
		n, err := parseBSDTime(h, rest)
		if err != nil {
			return decode.ReasonBadTimestamp, err
		}
		h.kind, h.tsText = kindBSD, rest[:n]
		rest = rest[n:]
	default:
		return decode.ReasonMalformed, fmt.Errorf("no syslog timestamp at the start of %q", clip(rest))
	}
	parseBSDBody(h, rest)
	return "", nil
}

// parsePRI parses "<N>" with N in 0..191.
func parsePRI(s string) (pri, n int, err error) {
	i := 1
	for i < len(s) && i <= 4 && isDigit(s[i]) {
		pri = pri*10 + int(s[i]-'0')
		i++
	}
	switch {
	case i == 1 || i >= len(s) || s[i] != '>':
		return 0, 0, fmt.Errorf("invalid PRI in %q", clip(s))
	case i > 4 || pri > 191:
		return 0, 0, fmt.Errorf("PRI %s out of range 0..191", s[1:i])
	}
	return pri, i + 1, nil
}

// versionLen returns the length of an RFC 5424 VERSION followed by a space at the
// start of s, or 0.
func versionLen(s string) int {
	if len(s) < 2 || s[0] < '1' || s[0] > '9' {
		return 0
	}
	for i := 1; i < len(s) && i <= 3; i++ {
		if s[i] == ' ' {
			return i
		}
		if !isDigit(s[i]) {
			return 0
		}
	}
	return 0
}

// parse5424 parses what follows "<PRI>VERSION ".
func parse5424(h *header, s string, loc *time.Location) (string, error) {
	ts, rest, ok := token(s)
	if !ok {
		return decode.ReasonTruncated, errors.New("RFC 5424 header ends after VERSION")
	}
	h.tsText = ts
	if ts == "-" {
		return decode.ReasonBadTimestamp, errors.New("RFC 5424 TIMESTAMP is NILVALUE")
	}
	t, n, err := parseISO(ts, loc)
	if err != nil {
		return decode.ReasonBadTimestamp, err
	}
	if n != len(ts) {
		return decode.ReasonBadTimestamp, fmt.Errorf("trailing text after timestamp %q", clip(ts))
	}
	h.ts = t
	var fields [4]string
	for i := range fields {
		f, r, ok := token(rest)
		if !ok {
			return decode.ReasonTruncated, errors.New("RFC 5424 header ends before STRUCTURED-DATA")
		}
		fields[i], rest = nilValue(f), r
	}
	h.host, h.app, h.procid, h.msgid = fields[0], fields[1], fields[2], fields[3]
	switch {
	case rest == "":
		return decode.ReasonTruncated, errors.New("RFC 5424 header has no STRUCTURED-DATA")
	case rest[0] == '-':
		rest = rest[1:]
	case rest[0] == '[':
		var p sdParser
		n, err := p.walk(rest, nil, nil, nil)
		if err != nil {
			return decode.ReasonMalformed, err
		}
		h.sd, rest = rest[:n], rest[n:]
	default:
		return decode.ReasonMalformed, fmt.Errorf("STRUCTURED-DATA starts with %q", rest[0])
	}
	switch {
	case rest == "":
	case rest[0] == ' ':
		h.msg = strings.TrimPrefix(rest[1:], "\xef\xbb\xbf") // the BOM announcing UTF-8
	default:
		return decode.ReasonMalformed, fmt.Errorf("no space after STRUCTURED-DATA before %q", clip(rest))
	}
	return "", nil
}

// token returns the text up to the next space and what follows that space.
func token(s string) (tok, rest string, ok bool) {
	i := strings.IndexByte(s, ' ')
	if i <= 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

func nilValue(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// parseBSDBody parses " HOSTNAME TAG: MSG" after a timestamp. A missing hostname
// (the first word is already a tag ending in ':') and a missing tag are tolerated.
func parseBSDBody(h *header, s string) {
	s = strings.TrimLeft(s, " ")
	if s == "" {
		return
	}
	first, rest, _ := token(s)
	if first == "" || !strings.HasSuffix(first, ":") {
		h.host = first
		s = strings.TrimLeft(rest, " ")
	}
	tag, rest, _ := token(s)
	if len(tag) < 2 || tag[len(tag)-1] != ':' {
		h.msg = s
		return
	}
	tag = tag[:len(tag)-1]
	if n := len(tag); tag[n-1] == ']' {
		if i := strings.IndexByte(tag, '['); i > 0 {
			h.app, h.procid = tag[:i], tag[i+1:n-1]
		} else {
			h.app = tag
		}
	} else {
		h.app = tag
	}
	h.msg = rest
}

// parseBSDTime parses "Mmm dd hh:mm:ss[.frac]" (day padded with a space or a zero, or
// not padded) and returns its length.
func parseBSDTime(h *header, s string) (int, error) {
	h.month = monthOf(s)
	i := 3
	if i >= len(s) || s[i] != ' ' {
		return 0, fmt.Errorf("no space after month in %q", clip(s))
	}
	i++
	if i < len(s) && s[i] == ' ' {
		i++
	}
	d, j := digits(s, i, 2)
	if j == i || d < 1 || d > 31 {
		return 0, fmt.Errorf("bad day of month in %q", clip(s))
	}
	h.day = d
	i = j
	if i >= len(s) || s[i] != ' ' {
		return 0, fmt.Errorf("no space after day in %q", clip(s))
	}
	i++
	if len(s) < i+8 || s[i+2] != ':' || s[i+5] != ':' {
		return 0, fmt.Errorf("bad time of day in %q", clip(s))
	}
	hh, ok1 := two(s, i)
	mm, ok2 := two(s, i+3)
	ss, ok3 := two(s, i+6)
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 60 {
		return 0, fmt.Errorf("bad time of day in %q", clip(s))
	}
	h.hh, h.mm, h.ss = hh, mm, ss
	i += 8
	if i < len(s) && s[i] == '.' {
		ns, j := fraction(s, i+1)
		if j == i+1 {
			return 0, fmt.Errorf("bad fraction of second in %q", clip(s))
		}
		h.ns, i = ns, j
	}
	if i < len(s) && s[i] != ' ' {
		return 0, fmt.Errorf("unexpected %q after time in %q", s[i], clip(s))
	}
	return i, nil
}

// parseISO parses an RFC 3339 timestamp at the start of s
// ("2024-03-01T12:34:56.123456+00:00"; "Z" or a numeric offset, or none: loc) and
// returns it with its length. It must be followed by a space or the end of s.
func parseISO(s string, loc *time.Location) (time.Time, int, error) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, 0, fmt.Errorf("not an RFC 3339 timestamp: %q", clip(s))
	}
	y, j := digits(s, 0, 4)
	mo, ok1 := two(s, 5)
	d, ok2 := two(s, 8)
	hh, ok3 := two(s, 11)
	mi, ok4 := two(s, 14)
	ss, ok5 := two(s, 17)
	if j != 4 || !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || mo < 1 || mo > 12 || d < 1 ||
		d > decode.DaysIn(time.Month(mo), y) || hh > 23 || mi > 59 || ss > 60 {
		return time.Time{}, 0, fmt.Errorf("invalid date or time in %q", clip(s))
	}
	i, ns := 19, 0
	if i < len(s) && s[i] == '.' {
		var k int
		ns, k = fraction(s, i+1)
		if k == i+1 {
			return time.Time{}, 0, fmt.Errorf("bad fraction of second in %q", clip(s))
		}
		i = k
	}
	var t time.Time
	switch {
	case i < len(s) && (s[i] == 'Z' || s[i] == 'z'):
		t = time.Date(y, time.Month(mo), d, hh, mi, ss, ns, time.UTC)
		i++
	case i < len(s) && (s[i] == '+' || s[i] == '-'):
		off, n, ok := zoneOffset(s[i:])
		if !ok {
			return time.Time{}, 0, fmt.Errorf("bad zone offset in %q", clip(s))
		}
		if s[i] == '-' {
			off = -off
		}
		t = time.Date(y, time.Month(mo), d, hh, mi, ss, ns, time.UTC).Add(-time.Duration(off) * time.Second)
		i += n
	default:
		t = time.Date(y, time.Month(mo), d, hh, mi, ss, ns, loc)
	}
	if i < len(s) && s[i] != ' ' {
		return time.Time{}, 0, fmt.Errorf("unexpected %q after timestamp in %q", s[i], clip(s))
	}
	return t, i, nil
}

// zoneOffset parses "+HH:MM" or "+HHMM" and returns the offset in seconds.
func zoneOffset(s string) (off, n int, ok bool) {
	if len(s) < 5 {
		return 0, 0, false
	}
	hh, ok1 := two(s, 1)
	i := 3
	if s[i] == ':' {
		i++
	}
	mm, ok2 := two(s, i)
	if !ok1 || !ok2 || hh > 23 || mm > 59 {
		return 0, 0, false
	}
	return hh*3600 + mm*60, i + 2, true
}

// fraction parses up to 9 significant digits of a fraction of a second starting at
// s[i] (more digits are skipped) and returns nanoseconds and the index after them.
func fraction(s string, i int) (ns, j int) {
	scale := 100000000
	for j = i; j < len(s) && isDigit(s[j]); j++ {
		ns += int(s[j]-'0') * scale
		scale /= 10
	}
	return ns, j
}

// digits parses up to max decimal digits at s[i:], returning the value and the end.
func digits(s string, i, max int) (v, j int) {
	for j = i; j < len(s) && j < i+max && isDigit(s[j]); j++ {
		v = v*10 + int(s[j]-'0')
	}
	return v, j
}

func two(s string, i int) (int, bool) {
	if i+2 > len(s) || !isDigit(s[i]) || !isDigit(s[i+1]) {
		return 0, false
	}
	return int(s[i]-'0')*10 + int(s[i+1]-'0'), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// atoi parses a short non-negative decimal number.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// smallInts holds the decimal text of 0..191 (every PRI, facility and severity).
var smallInts = func() [192]string {
	var t [192]string
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func smallInt(n int) string {
	if n >= 0 && n < len(smallInts) {
		return smallInts[n]
	}
	return strconv.Itoa(n)
}

func baseName(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 && i < len(s)-1 {
		return s[i+1:]
	}
	return s
}

func clip(s string) string {
	if len(s) > 48 {
		return s[:48] + "..."
	}
	return s
}

// monthOf returns the month abbreviated by the first three bytes of s ("Jan"), or 0.
func monthOf(s string) time.Month {
	if len(s) < 3 {
		return 0
	}
	return decode.MonthAbbrev(s[:3])
}
