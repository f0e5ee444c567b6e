package weblog

import (
	"bytes"
	"strings"
)

// sniffLines is how many lines of the head the sniffers look at.
const sniffLines = 16

// SniffW3C scores head as a W3C extended log: 90 when a #Fields directive among the
// first lines lists W3C field identifiers separated by spaces; 50 when only the
// #Software/#Version directives are there. Comma-separated field lists (Exchange
// message tracking logs) are not this format.
func SniffW3C(head []byte) int {
	score := 0
	for i, line := range headLines(head, 64) {
		if i == 0 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		switch {
		case bytes.HasPrefix(line, []byte("#Fields:")):
			if knownW3CFields(line[len("#Fields:"):]) {
				return 90
			}
			return score
		case bytes.HasPrefix(line, []byte("#Software:")), bytes.HasPrefix(line, []byte("#Version:")):
			score = 50
		case len(line) > 0 && line[0] != '#':
			return 0 // data before any #Fields: not a W3C log head
		}
	}
	return score
}

// knownW3CFields reports whether a #Fields list holds at least two W3C identifiers.
func knownW3CFields(list []byte) bool {
	n := 0
	for _, f := range bytes.Fields(list) {
		if _, ok := roles[string(bytes.ToLower(f))]; ok {
			n++
		}
	}
	return n >= 2
}

// SniffAccessLog scores head as an Apache/nginx access log: 75 when most of the first
// non-empty lines start like the Common Log Format,
// `host ident user [dd/Mon/yyyy:hh:mm:ss zone] "` (with an optional vhost:port first).
func SniffAccessLog(head []byte) int {
	total, match := 0, 0
	for i, line := range headLines(head, sniffLines) {
		if i == 0 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		line = bytes.TrimRight(line, " \t\r")
		if len(line) == 0 {
			continue
		}
		total++
		if clfPrefix(string(line)) {
			match++
		}
	}
	if match > 0 && match*2 > total {
		return 75
	}
	return 0
}

// clfPrefix reports whether line starts like a CLF line up to the request's quote.
func clfPrefix(line string) bool {
	lb := timeOpen(line)
	if lb < 0 || lb > 512 {
		return false
	}
	var r accessRecord
	if r.splitHead(line[:lb]) != nil {
		return false
	}
	rb := strings.IndexByte(line[lb:], ']')
	if rb < 0 {
		return false
	}
	if _, err := parseCLFTime(line[lb+1 : lb+rb]); err != nil {
		return false
	}
	rest := line[lb+rb+1:]
	return len(rest) >= 2 && rest[0] == ' ' && rest[1] == '"'
}

// headLines returns up to max complete lines of head; the last line counts only when
// it ends in a newline or head is short (the whole stream).
func headLines(head []byte, max int) [][]byte {
	var out [][]byte
	for len(head) > 0 && len(out) < max {
		i := bytes.IndexByte(head, '\n')
		if i < 0 {
			if len(head) < 1<<16 {
				out = append(out, bytes.TrimRight(head, "\r"))
			}
			break
		}
		out = append(out, bytes.TrimRight(head[:i], "\r"))
		head = head[i+1:]
	}
	return out
}
