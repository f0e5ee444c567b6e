package event

import (
	"math"
	"strconv"
	"strings"
)

// Set sets the typed ECS field called name (a string, numeric or IP field of the
// core) from its text and reports whether name is such a field and value was
// accepted. Numbers may be written as integers or decimals (truncated toward zero);
// IPs take the forms ParseIP accepts and are recorded in related.ip. Set does not
// canonicalize users or hosts (callers use SetUser/SetHost for that), and it returns
// false for @timestamp, event.category, event.type, related.* and raw names, which
// have their own setters. Empty values and placeholders leave the field unchanged.
func Set(e *Event, name, value string) bool {
	a, ok := ecsIndex[name]
	if !ok {
		return false
	}
	switch a.kind {
	case accStr:
		if value == "" {
			return false
		}
		e.str[a.idx] = value
		return true
	case accNum:
		n, ok := parseNum(value)
		if !ok {
			return false
		}
		e.SetNum(NumField(a.idx), n)
		return true
	case accIP:
		ip := ParseIP(value)
		if !ip.IsValid() {
			return false
		}
		e.SetIP(IPField(a.idx), ip)
		return true
	}
	return false
}

// parseNum parses an integer, or a finite decimal truncated toward zero.
func parseNum(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f >= math.MaxInt64 || f <= math.MinInt64 {
		return 0, false
	}
	return int64(f), true
}
