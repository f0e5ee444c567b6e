package weblog

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
)

var errBadTime = errors.New("not a valid date and time")

// parseCLFTime parses Apache's %t / nginx's $time_local without the brackets:
// "11/Jul/2018:08:41:28 +0300", optionally with a fraction after the seconds
// ("08:41:28.123"). The result is UTC.
func parseCLFTime(s string) (time.Time, error) {
	if len(s) < 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' {
		return time.Time{}, fmt.Errorf("parsing time %q: %w", clip(s), errBadTime)
	}
	day, ok1 := num2(s[0:2])
	mon := decode.MonthAbbrev(s[3:6])
	year, ok2 := num4(s[7:11])
	hh, ok3 := num2(s[12:14])
	mm, ok4 := num2(s[15:17])
	ss, ok5 := num2(s[18:20])
	rest := s[20:]
	nsec, rest, ok6 := fraction(rest)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mon == 0 || len(rest) != 6 || rest[0] != ' ' {
		return time.Time{}, fmt.Errorf("parsing time %q: %w", clip(s), errBadTime)
	}
	off, ok := zoneOffset(rest[1:])
	if !ok {
		return time.Time{}, fmt.Errorf("parsing time zone %q: %w", clip(s), errBadTime)
	}
	t, err := civil(year, mon, day, hh, mm, ss, nsec)
	if err != nil {
		return time.Time{}, fmt.Errorf("parsing time %q: %w", clip(s), err)
	}
	return decode.CheckTime(t.Add(-time.Duration(off) * time.Second))
}

// parseW3CTime combines a W3C date ("2019-09-03") and time ("10:13:36", optionally
// with a fraction) given in UTC, as the W3C format specifies.
func parseW3CTime(date, clock string) (time.Time, error) {
	if len(date) != 10 || date[4] != '-' || date[7] != '-' || len(clock) < 8 || clock[2] != ':' || clock[5] != ':' {
		return time.Time{}, fmt.Errorf("parsing date %q and time %q: %w", clip(date), clip(clock), errBadTime)
	}
	year, ok1 := num4(date[0:4])
	mon, ok2 := num2(date[5:7])
	day, ok3 := num2(date[8:10])
	hh, ok4 := num2(clock[0:2])
	mm, ok5 := num2(clock[3:5])
	ss, ok6 := num2(clock[6:8])
	nsec, rest, ok7 := fraction(clock[8:])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || rest != "" || mon < 1 || mon > 12 {
		return time.Time{}, fmt.Errorf("parsing date %q and time %q: %w", clip(date), clip(clock), errBadTime)
	}
	t, err := civil(year, time.Month(mon), day, hh, mm, ss, nsec)
	if err != nil {
		return time.Time{}, fmt.Errorf("parsing date %q and time %q: %w", date, clip(clock), err)
	}
	return decode.CheckTime(t)
}

// civil builds a UTC time, refusing out-of-range parts rather than normalizing them.
func civil(year int, mon time.Month, day, hh, mm, ss, nsec int) (time.Time, error) {
	if day < 1 || day > decode.DaysIn(mon, year) || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, errBadTime
	}
	if ss == 60 { // a leap second: keep it in the same minute
		ss, nsec = 59, 999999999
	}
	return time.Date(year, mon, day, hh, mm, ss, nsec, time.UTC), nil
}

// fraction parses an optional ".ddd" (up to 9 digits used) at the start of s.
func fraction(s string) (nsec int, rest string, ok bool) {
	if s == "" || s[0] != '.' {
		return 0, s, true
	}
	i := 1
	scale := 100000000
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if scale > 0 {
			nsec += int(s[i]-'0') * scale
			scale /= 10
		}
	}
	if i == 1 {
		return 0, s, false
	}
	return nsec, s[i:], true
}

// zoneOffset parses "+0300" / "-0730" into seconds east of UTC.
func zoneOffset(s string) (int, bool) {
	if len(s) != 5 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	h, ok1 := num2(s[1:3])
	m, ok2 := num2(s[3:5])
	if !ok1 || !ok2 || h > 23 || m > 59 {
		return 0, false
	}
	off := h*3600 + m*60
	if s[0] == '-' {
		off = -off
	}
	return off, true
}

func num2(s string) (int, bool) {
	a, b := s[0]-'0', s[1]-'0'
	if a > 9 || b > 9 {
		return 0, false
	}
	return int(a)*10 + int(b), true
}

func num4(s string) (int, bool) {
	x, ok1 := num2(s[0:2])
	y, ok2 := num2(s[2:4])
	return x*100 + y, ok1 && ok2
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
