package event

import (
	"net/netip"
	"strconv"
	"time"
)

type accKind uint8

const (
	accRaw accKind = iota
	accStr
	accNum
	accIP
	accTimestamp
	accCategory
	accType
	accRelatedIP
	accRelatedUser
	accRelatedHosts
	accRelatedHash
)

// Accessor reads one named field of an event. Resolve it once with Lookup; using it
// is an array index for ECS fields and an interned-key scan for raw fields.
type Accessor struct {
	kind accKind
	idx  uint8
	key  Key
	name string
}

// Name returns the field name the accessor was resolved from.
func (a Accessor) Name() string { return a.name }

// IsECS reports whether the accessor reads a normalized ECS field rather than a raw one.
func (a Accessor) IsECS() bool { return a.kind != accRaw }

var ecsIndex = func() map[string]Accessor {
	m := make(map[string]Accessor, int(numStrFields)+int(numNumFields)+int(numIPFields)+8)
	for i, n := range strNames {
		m[n] = Accessor{kind: accStr, idx: uint8(i), name: n}
	}
	for i, n := range numNames {
		m[n] = Accessor{kind: accNum, idx: uint8(i), name: n}
	}
	for i, n := range ipNames {
		m[n] = Accessor{kind: accIP, idx: uint8(i), name: n}
	}
	for n, k := range map[string]accKind{
		"@timestamp": accTimestamp, "event.category": accCategory, "event.type": accType,
		"related.ip": accRelatedIP, "related.user": accRelatedUser,
		"related.hosts": accRelatedHosts, "related.hash": accRelatedHash,
	} {
		m[n] = Accessor{kind: k, name: n}
	}
	return m
}()

// Lookup resolves a field name to an accessor. ECS names resolve to the typed core;
// any other name addresses the producer's raw field of that exact name.
func Lookup(name string) Accessor {
	if a, ok := ecsIndex[name]; ok {
		return a
	}
	return Accessor{kind: accRaw, key: MakeKey(name), name: name}
}

// ECSNames lists every normalized field name Lookup knows.
func ECSNames() []string {
	out := make([]string, 0, len(ecsIndex))
	for n := range ecsIndex {
		out = append(out, n)
	}
	return out
}

// Each calls fn with each value of the field in e, as text, until fn returns false.
// Multi-valued fields (repeated raw fields, categories, related.*) yield several values.
// Non-string values are formatted, which allocates; use Int or IP on hot paths.
func (a Accessor) Each(e *Event, fn func(string) bool) {
	switch a.kind {
	case accRaw:
		for i := range e.Raw {
			if e.Raw[i].Key == a.key && !fn(e.Raw[i].Value) {
				return
			}
		}
	case accStr:
		if v := e.str[a.idx]; v != "" {
			fn(v)
		}
	case accCategory:
		eachName(uint32(e.Category), categoryNames, fn)
	case accType:
		eachName(uint32(e.Type), typeNames, fn)
	case accRelatedUser:
		eachString(e.Related.User, fn)
	case accRelatedHosts:
		eachString(e.Related.Hosts, fn)
	case accRelatedHash:
		eachString(e.Related.Hash, fn)
	case accRelatedIP:
		for _, ip := range e.Related.IP {
			if !fn(ip.String()) {
				return
			}
		}
	default:
		if v, ok := a.String(e); ok {
			fn(v)
		}
	}
}

// AppendStrings appends every value of the field in e to dst, as Each yields them,
// without a callback (so nothing escapes on the hot path).
func (a Accessor) AppendStrings(e *Event, dst []string) []string {
	switch a.kind {
	case accRaw:
		for i := range e.Raw {
			if e.Raw[i].Key == a.key {
				dst = append(dst, e.Raw[i].Value)
			}
		}
		return dst
	case accStr:
		if v := e.str[a.idx]; v != "" {
			dst = append(dst, v)
		}
		return dst
	case accRelatedUser:
		return append(dst, e.Related.User...)
	case accRelatedHosts:
		return append(dst, e.Related.Hosts...)
	case accRelatedHash:
		return append(dst, e.Related.Hash...)
	}
	a.Each(e, func(s string) bool { dst = append(dst, s); return true })
	return dst
}

// String returns the field's first value as text and whether the field is present.
func (a Accessor) String(e *Event) (string, bool) {
	switch a.kind {
	case accRaw:
		return e.RawValue(a.key)
	case accStr:
		v := e.str[a.idx]
		return v, v != ""
	case accNum:
		if v, ok := e.Num(NumField(a.idx)); ok {
			return strconv.FormatInt(v, 10), true
		}
	case accIP:
		if ip := e.ip[a.idx]; ip.IsValid() {
			return ip.String(), true
		}
	case accTimestamp:
		if !e.Timestamp.IsZero() {
			return e.Timestamp.UTC().Format(time.RFC3339Nano), true
		}
	default:
		var out string
		found := false
		a.Each(e, func(s string) bool { out, found = s, true; return false })
		return out, found
	}
	return "", false
}

// Int returns the field as an integer: numeric ECS fields directly, text fields parsed.
func (a Accessor) Int(e *Event) (int64, bool) {
	if a.kind == accNum {
		return e.Num(NumField(a.idx))
	}
	s, ok := a.String(e)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// IP returns the field as an address: IP ECS fields directly, text fields parsed.
func (a Accessor) IP(e *Event) (netip.Addr, bool) {
	if a.kind == accIP {
		ip := e.ip[a.idx]
		return ip, ip.IsValid()
	}
	s, ok := a.String(e)
	if !ok {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(s)
	return ip, err == nil
}

func eachName(bits uint32, names []string, fn func(string) bool) {
	for i, n := range names {
		if bits&(1<<i) != 0 && !fn(n) {
			return
		}
	}
}

func eachString(vs []string, fn func(string) bool) {
	for _, v := range vs {
		if !fn(v) {
			return
		}
	}
}
