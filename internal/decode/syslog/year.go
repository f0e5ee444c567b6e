package syslog

import (
	"bytes"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
)

// yearState assigns years to RFC 3164 timestamps (see the package documentation).
type yearState struct {
	explicit int       // Options.Year, else Input.Year; 0 infers
	modTime  time.Time // the source's modification time; zero when unknown

	started bool       // a year has been chosen for the current run of BSD lines
	year    int        // the year of the current run
	last    time.Month // the month of the latest BSD line placed in year

	haveAnchor  bool
	anchorYear  int
	anchorMonth time.Month
}

// resolve returns the time of a BSD header, choosing its year.
func (y *yearState) resolve(h *header, loc *time.Location) (time.Time, error) {
	m := h.month
	year := y.year
	switch d := int(m) - int(y.last); {
	case !y.started:
		switch {
		case y.explicit != 0:
			y.year = y.explicit
		case y.haveAnchor:
			y.year = nearestYear(y.anchorYear, y.anchorMonth, m)
		case !y.modTime.IsZero():
			// Lines were written before the file was last modified: the latest year
			// that does not put this month after the modification time.
			y.year = y.modTime.Year()
			if m > y.modTime.Month() {
				y.year--
			}
		default:
			y.year = FallbackYear
		}
		y.started, y.last, year = true, m, y.year
	case d < -6: // Dec -> Jan: a new year
		y.year++
		y.last, year = m, y.year
	case d > 6: // a late line from the previous year
		year = y.year - 1
	default:
		y.last = m
	}
	if h.day > decode.DaysIn(m, year) {
		return time.Time{}, fmt.Errorf("%s %d does not exist in %d, the year inferred for the line", m, h.day, year)
	}
	return time.Date(year, m, h.day, h.hh, h.mm, h.ss, h.ns, loc), nil
}

// anchor records a full-date timestamp seen in the stream; the next BSD line takes
// its year from it. With an explicit year, anchors are ignored.
func (y *yearState) anchor(t time.Time) {
	if y.explicit != 0 {
		return
	}
	y.haveAnchor, y.anchorYear, y.anchorMonth, y.started = true, t.Year(), t.Month(), false
}

// anchorFromHead anchors on the first full-date timestamp in the head of the stream,
// so BSD lines before it get its year too.
func (y *yearState) anchorFromHead(head []byte, loc *time.Location) {
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		if len(line) > 64 {
			line = line[:64]
		}
		s := string(line)
		if s != "" && s[0] == '<' {
			_, n, err := parsePRI(s)
			if err != nil {
				continue
			}
			s = s[n:]
			if v := versionLen(s); v > 0 {
				s = s[v+1:]
			}
		}
		if t, _, err := parseISO(s, loc); err == nil {
			y.anchor(t.In(loc))
			return
		}
	}
}

// nearestYear returns the year that puts month m nearest to the anchor month am of
// year ay.
func nearestYear(ay int, am, m time.Month) int {
	switch d := int(m) - int(am); {
	case d > 6:
		return ay - 1
	case d < -6:
		return ay + 1
	}
	return ay
}
