package syslog

import (
	"bytes"
	"time"
)

// sniffLines is how many complete lines of the head the sniffers look at.
const sniffLines = 32

// SniffRFC3164 scores head as RFC 3164 syslog: 70 when most of its first lines have
// the "Mmm dd hh:mm:ss host tag:" shape, 65 when they have an RFC 3339 timestamp,
// a host and a tag instead (rsyslog's default file format).
func SniffRFC3164(head []byte) int {
	bsd, iso, total := 0, 0, 0
	eachLine(head, func(l []byte) {
		total++
		switch lineShape(l) {
		case kindBSD:
			bsd++
		case kindISO:
			iso++
		}
	})
	switch {
	case total == 0:
		return 0
	case bsd*2 > total:
		return 70
	case (bsd+iso)*2 > total:
		return 65
	}
	return 0
}

// SniffRFC5424 scores head as RFC 5424 syslog: 90 when most of its first lines start
// with "<PRI>VERSION TIMESTAMP".
func SniffRFC5424(head []byte) int {
	n, total := 0, 0
	eachLine(head, func(l []byte) {
		total++
		if lineShape(l) == kind5424 {
			n++
		}
	})
	if total > 0 && n*2 > total {
		return 90
	}
	return 0
}

// eachLine calls fn with up to sniffLines complete, non-empty lines of head. A last
// line cut off by the end of head is skipped unless it is the only one.
func eachLine(head []byte, fn func([]byte)) {
	if len(head) >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF {
		head = head[3:]
	}
	for n := 0; n < sniffLines && len(head) > 0; {
		i := bytes.IndexByte(head, '\n')
		var l []byte
		if i < 0 {
			if n > 0 {
				return
			}
			l, head = head, nil
		} else {
			l, head = head[:i], head[i+1:]
		}
		l = trimLine(l)
		if len(l) == 0 {
			continue
		}
		fn(l)
		n++
	}
}

// lineShape returns the kind of a line whose header parses and whose body has a host
// and a tag (kindBSD, kindISO), or is a full RFC 5424 header (kind5424); else -1.
func lineShape(l []byte) int {
	if len(l) > 512 {
		l = l[:512]
	}
	var h header
	if _, err := parseHeader(&h, string(l), time.UTC); err != nil {
		return -1
	}
	if h.kind == kind5424 {
		return kind5424
	}
	if h.host == "" || h.app == "" || !plausibleTag(h.app) {
		return -1
	}
	return h.kind
}

// plausibleTag reports whether s looks like a program name: no quotes, braces or
// '=' that structured text has before its first colon.
func plausibleTag(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '{' || c == '}' || c == '=' || c == '\t' || c < ' ':
			return false
		}
	}
	return true
}
