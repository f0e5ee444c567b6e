package decode

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event times outside this range are rejected as bad timestamps: they come from
// zeroed or corrupt fields (1601 FILETIME zero, year 0001, far future).
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ErrTimeRange is wrapped by CheckTime for times outside the accepted range.
var ErrTimeRange = errors.New("timestamp out of range 1970..2200")

// CheckTime returns t in UTC, or an error when it is zero or out of range.
func CheckTime(t time.Time) (time.Time, error) {
	if t.Before(minTime) || !t.Before(maxTime) {
		return time.Time{}, fmt.Errorf("%s: %w", t.UTC().Format(time.RFC3339), ErrTimeRange)
	}
	return t.UTC(), nil
}

// layouts tried by ParseTime after RFC 3339, most common first.
var layouts = []string{
	"2006-01-02T15:04:05.999999999",       // ISO without zone: taken as UTC
	"2006-01-02 15:04:05.999999999Z07:00", // space instead of T
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999 -0700 MST",
	time.RFC1123Z,
	time.RFC1123,
}

// ParseTime parses the timestamp forms structured logs use: RFC 3339 with or without
// fractional seconds and zone (no zone means UTC), a space in place of the T, and
// Unix epoch seconds (with a fraction), milliseconds or microseconds as a number.
// The result is UTC and within the accepted range.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("empty timestamp")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return CheckTime(t)
	}
	if isEpoch(s) {
		return ParseEpoch(s)
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return CheckTime(t)
		}
	}
	return time.Time{}, fmt.Errorf("unrecognized timestamp %q", clip(s))
}

func isEpoch(s string) bool {
	dot := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return true
}

// ParseEpoch parses Unix time as decimal seconds ("1713693597.163487"), or as integer
// milliseconds (13 digits) or microseconds (16 digits), without float rounding.
func ParseEpoch(s string) (time.Time, error) {
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" || len(intPart) > 19 {
		return time.Time{}, fmt.Errorf("unrecognized epoch timestamp %q", clip(s))
	}
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parsing epoch %q: %w", clip(s), err)
	}
	var t time.Time
	switch {
	case frac == "" && len(intPart) >= 16:
		t = time.UnixMicro(n)
	case frac == "" && len(intPart) >= 13:
		t = time.UnixMilli(n)
	default:
		var ns int64
		if frac != "" {
			if len(frac) > 9 {
				frac = frac[:9]
			}
			f, err := strconv.ParseInt(frac, 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("parsing epoch fraction %q: %w", clip(s), err)
			}
			for i := len(frac); i < 9; i++ {
				f *= 10
			}
			ns = f
		}
		t = time.Unix(n, ns)
	}
	return CheckTime(t)
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// MonthAbbrev returns the month of a three-letter English abbreviation as syslog,
// Apache and other text logs write it ("Jan"), or 0.
func MonthAbbrev(s string) time.Month {
	if len(s) != 3 {
		return 0
	}
	switch s {
	case "Jan":
		return time.January
	case "Feb":
		return time.February
	case "Mar":
		return time.March
	case "Apr":
		return time.April
	case "May":
		return time.May
	case "Jun":
		return time.June
	case "Jul":
		return time.July
	case "Aug":
		return time.August
	case "Sep":
		return time.September
	case "Oct":
		return time.October
	case "Nov":
		return time.November
	case "Dec":
		return time.December
	}
	return 0
}

// DaysIn returns the number of days of month m in year (Gregorian).
func DaysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}
