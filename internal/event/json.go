package event

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// AppendJSON appends e as one ECS JSON document: normalized fields nested by their
// dotted names, the producer's fields under "raw" (repeated names become arrays),
// and provenance under "vigil.origin". Keys are sorted, so output is deterministic.
func (e *Event) AppendJSON(b []byte) []byte {
	type kv struct {
		path string
		val  []byte
	}
	var fields []kv
	add := func(path string, val []byte) { fields = append(fields, kv{path, val}) }

	if !e.Timestamp.IsZero() {
		add("@timestamp", AppendString(nil, e.Timestamp.UTC().Format(time.RFC3339Nano)))
	}
	if e.Category != 0 {
		add("event.category", appendStrings(nil, e.Category.Names()))
	}
	if e.Type != 0 {
		add("event.type", appendStrings(nil, e.Type.Names()))
	}
	for i, v := range e.str {
		if v != "" {
			add(strNames[i], AppendString(nil, v))
		}
	}
	for i := range e.num {
		if e.hasNum&(1<<i) != 0 {
			add(numNames[i], strconv.AppendInt(nil, e.num[i], 10))
		}
	}
	for i, ip := range e.ip {
		if ip.IsValid() {
			add(ipNames[i], AppendString(nil, ip.String()))
		}
	}
	if len(e.Related.IP) > 0 {
		ips := make([]string, len(e.Related.IP))
		for i, ip := range e.Related.IP {
			ips[i] = ip.String()
		}
		add("related.ip", appendStrings(nil, ips))
	}
	if len(e.Related.User) > 0 {
		add("related.user", appendStrings(nil, e.Related.User))
	}
	if len(e.Related.Hosts) > 0 {
		add("related.hosts", appendStrings(nil, e.Related.Hosts))
	}
	if len(e.Related.Hash) > 0 {
		add("related.hash", appendStrings(nil, e.Related.Hash))
	}
	o := e.Origin
	if o.Source != "" {
		add("vigil.origin.source", AppendString(nil, o.Source))
	}
	if o.Format != "" {
		add("vigil.origin.format", AppendString(nil, o.Format))
	}
	add("vigil.origin.offset", strconv.AppendInt(nil, o.Offset, 10))
	if o.Line > 0 {
		add("vigil.origin.line", strconv.AppendInt(nil, o.Line, 10))
	}
	if o.Record > 0 {
		add("vigil.origin.record", strconv.AppendInt(nil, o.Record, 10))
	}
	if e.RawTruncated {
		add("vigil.raw_truncated", []byte("true"))
	}
	slices.SortFunc(fields, func(a, b kv) int { return strings.Compare(a.path, b.path) })

	b = append(b, '{')
	var open []string // currently open object path segments
	first := true
	for _, f := range fields {
		segs := strings.Split(f.path, ".")
		if f.path == "@timestamp" {
			segs = []string{f.path}
		}
		// Close objects not shared with this path.
		common := 0
		for common < len(open) && common < len(segs)-1 && open[common] == segs[common] {
			common++
		}
		for len(open) > common {
			b = append(b, '}')
			open = open[:len(open)-1]
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		for _, s := range segs[common : len(segs)-1] {
			b = AppendString(b, s)
			b = append(b, ':', '{')
			open = append(open, s)
		}
		b = AppendString(b, segs[len(segs)-1])
		b = append(b, ':')
		b = append(b, f.val...)
	}
	for range open {
		b = append(b, '}')
	}
	if len(e.Raw) > 0 {
		if !first {
			b = append(b, ',')
		}
		b = append(b, `"raw":`...)
		b = appendRaw(b, e.Raw)
	}
	return append(b, '}')
}

func appendRaw(b []byte, raw []RawField) []byte {
	// Group repeated names while keeping a sorted, deterministic key order.
	idx := make([]int, len(raw))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int { return strings.Compare(raw[x].Name(), raw[y].Name()) })
	b = append(b, '{')
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && raw[idx[j]].Key == raw[idx[i]].Key {
			j++
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, raw[idx[i]].Name())
		b = append(b, ':')
		if j-i == 1 {
			b = AppendString(b, raw[idx[i]].Value)
		} else {
			b = append(b, '[')
			for k := i; k < j; k++ {
				if k > i {
					b = append(b, ',')
				}
				b = AppendString(b, raw[idx[k]].Value)
			}
			b = append(b, ']')
		}
		i = j
	}
	return append(b, '}')
}

func appendStrings(b []byte, vs []string) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, v)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 is replaced by U+FFFD, so the
// output is always valid JSON whatever the producer wrote.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
