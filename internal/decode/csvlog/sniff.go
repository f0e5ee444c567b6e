package csvlog

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// sniffRecords is how many data records after the header Sniff checks at most.
const sniffRecords = 50

// Sniff scores head as CSV, conservatively: 40 when the first line is a header of
// at least three delimiter-separated, name-like cells and every following complete
// record (at least one) has as many fields. A leading PowerShell "#TYPE" line is
// skipped. Content that starts like JSON, XML or
// syslog ('{', '[', '<'), Zeek or W3C headers ('#'), binary data (a NUL byte, as in
// EVTX) and BSD syslog lines ("Jan  2 ...") score 0.
func Sniff(head []byte) int {
	b := bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF"))
	if len(b) == 0 || bytes.IndexByte(b, 0) >= 0 {
		return 0
	}
	if bytes.HasPrefix(b, []byte("#TYPE ")) { // Windows PowerShell Export-Csv
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return 0
		}
		b = b[i+1:]
		if len(b) == 0 {
			return 0
		}
	}
	switch b[0] {
	case '{', '[', '<', '#', ' ', '\t', '\r', '\n':
		return 0
	}
	end := bytes.LastIndexByte(b, '\n')
	if end < 0 {
		return 0
	}
	b = b[:end+1]
	nl := bytes.IndexByte(b, '\n')
	first := bytes.TrimSuffix(b[:nl], []byte("\r"))
	if isSyslogStart(first) {
		return 0
	}
	rd := newReader(bytes.NewReader(b), len(b)+1)
	h, err := rd.next()
	if err != nil || h.reason != "" || h.n() < 3 {
		return 0
	}
	cols := h.n()
	norm := make([]string, cols)
	for i := range cols {
		if !headerLike(h.field(i)) {
			return 0
		}
		norm[i] = normName(string(h.field(i)))
	}
	if len(timeColumns(norm)) == 0 {
		return 0 // a table without a time column is an inventory, not a log
	}
	rows := 0
	for rows < sniffRecords {
		r, err := rd.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0
		}
		if r.reason == decode.ReasonTruncated {
			break // the head cut a quoted field
		}
		if r.reason != "" || r.n() != cols {
			return 0
		}
		rows++
	}
	if rows == 0 {
		return 0
	}
	return 40
}

// headerLike reports whether a header cell looks like a column name: short, starting
// with a letter, '_' or '@', made of letters, digits, spaces and a little
// punctuation, and not a value (a time, an address, a number).
func headerLike(f []byte) bool {
	s := strings.TrimSpace(string(f))
	if s == "" || len(s) > 64 {
		return false
	}
	c := s[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '@') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte(" _-./@()#:%[]", c) >= 0:
		default:
			return false
		}
	}
	if event.ParseIP(s).IsValid() {
		return false
	}
	if _, err := decode.ParseTime(s); err == nil {
		return false
	}
	return true
}

var months = [...]string{"Jan ", "Feb ", "Mar ", "Apr ", "May ", "Jun ", "Jul ", "Aug ", "Sep ", "Oct ", "Nov ", "Dec "}

// isSyslogStart reports whether line starts like a BSD syslog line ("Oct 11 22:14:15").
func isSyslogStart(line []byte) bool {
	if len(line) < 7 {
		return false
	}
	for _, m := range months {
		if string(line[:4]) == m {
			d := line[4]
			return d == ' ' || d >= '0' && d <= '9'
		}
	}
	return false
}
