package winevt

import (
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// The fast path of evtx_dump documents: one pass over the record's text that checks
// its syntax and maps the fields as fillEvtxDump maps the parsed tree, without
// building the tree. It understands the common layouts only: any document it does
// not fully understand (escaped keys where names matter, members out of the usual
// order, repeated System/EventData/UserData, values fillEvtxDump would render as
// JSON text, deep nesting, invalid JSON) makes it give up, and the record takes the
// tree path. FuzzEvtxDumpFastPath checks that both paths give the same output.

// maxFastDepth bounds nesting on the fast path (far under fastjson's limit, so the
// fast path never accepts what the parser rejects).
const maxFastDepth = 64

// jkind is the kind of a scalar JSON value read by the fast path.
type jkind uint8

const (
	jString jkind = iota + 1
	jNumber
	jTrue
	jFalse
	jNull
)

// scalarVal is a scalar value's kind and text as written (string contents still
// escaped when esc).
type scalarVal struct {
	kind jkind
	raw  []byte
	esc  bool
}

// fastEvtxDump fills e from the document b, reporting false when the record must
// take the tree path (e's raw fields and the record state are then to be reset).
func (s *stream) fastEvtxDump(e *event.Event, b []byte) bool {
	s.src, s.kpos = b, 0
	ok := s.fastDoc(e)
	s.src = nil
	return ok
}

func (s *stream) fastDoc(e *event.Event) bool {
	b := s.src
	i := decode.SkipJSONSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = decode.SkipJSONSpace(b, i+1)
	seen := false
	for {
		k, vi, ok := s.fastKey(i)
		if !ok {
			return false
		}
		var end int
		if string(k) == "Event" {
			if seen {
				return false
			}
			seen = true
			end, ok = s.fastEvent(e, vi)
		} else {
			end, ok = s.skipValue(vi, 1)
		}
		if !ok {
			return false
		}
		var done bool
		if i, done, ok = s.fastNext(end, '}'); !ok {
			return false
		}
		if done {
			break
		}
	}
	return seen && decode.SkipJSONSpace(b, i) == len(b)
}

// fastKey reads an unescaped member name at b[i] and the colon after it, returning
// the name and the index of the value. Records of a stream share their layout, so
// the names met at each position (the n-th name of the record) are remembered and
// tried first: a name that matches needs no search for its closing quote.
func (s *stream) fastKey(i int) (key []byte, vi int, ok bool) {
	b := s.src
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	end := -1
	s.kway = -1
	pos := s.kpos
	s.kpos++
	if pos < maxKeyPositions {
		if pos >= len(s.kways) {
			if s.kways == nil {
				s.kways = make([]keyWays, 0, 64)
			}
			s.kways = append(s.kways, keyWays{})
		}
		w := &s.kways[pos]
		for j := range w.names {
			n := w.names[j]
			if e := i + 1 + len(n); len(n) > 0 && e < len(b) && b[e] == '"' && string(b[i+1:e]) == string(n) {
				end, s.kway = e+1, j
				break
			}
		}
	}
	if end < 0 {
		var esc bool
		if end, esc, ok = decode.JSONStringEnd(b, i+1); !ok || esc {
			return nil, 0, false
		}
		if n := end - i - 2; pos < maxKeyPositions && n > 0 && n <= maxCachedName {
			w := &s.kways[pos]
			j := w.next
			w.next = (j + 1) % uint8(len(w.names))
			w.names[j] = s.keep(w.names[j], b[i+1:end-1])
			w.has[j] = false
			s.kway = int(j)
		}
	}
	key = b[i+1 : end-1]
	s.kslot = pos
	j := decode.SkipJSONSpace(b, end)
	if j >= len(b) || b[j] != ':' {
		return nil, 0, false
	}
	j = decode.SkipJSONSpace(b, j+1)
	if j >= len(b) {
		return nil, 0, false
	}
	return key, j, true
}

// maxKeyPositions bounds the positions whose names fastKey remembers, and
// maxCachedName the names.
const (
	maxKeyPositions = 512
	maxCachedName   = 64
)

// keep returns buf holding a copy of b, reusing buf's storage or carving new
// storage from a slab of the stream's, so the caches of names and values cost few
// allocations.
func (s *stream) keep(buf, b []byte) []byte {
	if cap(buf) >= len(b) {
		return append(buf[:0], b...)
	}
	n := (len(b) + 31) &^ 31
	if cap(s.slab)-len(s.slab) < n {
		s.slab = make([]byte, 0, max(slabSize, n))
	}
	off := len(s.slab)
	s.slab = s.slab[:off+n]
	out := s.slab[off : off+len(b) : off+n]
	copy(out, b)
	return out
}

const slabSize = 16 << 10

// keyWays holds the last names met at one position of a stream's records, with
// their interned keys once asked for.
type keyWays struct {
	names [4][]byte
	keys  [4]event.Key
	has   [4]bool
	vals  [4]valWays
	next  uint8
}

// valWays remembers the last scalar values of a name at a position.
type valWays struct {
	v    [valWayCount]valSlot
	next uint8
	// misses counts the misses in a row: a name whose value changes from record to
	// record (times, record ids, GUIDs) stops being remembered, and is tried again
	// now and then.
	misses uint8
}

// Remembering stops after missesOff misses in a row, until missesRetry.
const (
	missesOff   = 4
	missesRetry = 64
)

const valWayCount = 2

// valSlot is a remembered value: its text as written (strings with their quotes and
// escapes: equal text is an equal string) and the raw field text made of it.
type valSlot struct {
	raw  []byte
	text string
	guid bool
}

// maxCachedRaw bounds the values valSlot remembers.
const maxCachedRaw = 128

// memberScalar reads the scalar value at b[i] of the member fastKey read last and
// returns its raw field text (a GUID's with braces restored when guid), and its kind.
// A value equal to one this name had at this position lately is not read again.
func (s *stream) memberScalar(i int, guid bool) (text string, kind jkind, end int, ok bool) {
	b := s.src
	var w *valWays
	if s.kway >= 0 {
		w = &s.kways[s.kslot].vals[s.kway]
		if w.misses >= missesOff {
			if w.misses++; w.misses < missesRetry {
				w = nil
			} else {
				w.misses = 0
			}
		}
	}
	if w != nil {
		for j := range w.v {
			slot := &w.v[j]
			n := len(slot.raw)
			if n == 0 || slot.guid != guid || i+n > len(b) || string(b[i:i+n]) != string(slot.raw) {
				continue
			}
			if slot.raw[0] == '"' {
				w.misses = 0
				return slot.text, jString, i + n, true
			}
			if i+n == len(b) || !isNumberByte(b[i+n]) {
				w.misses = 0
				return slot.text, jNumber, i + n, true
			}
		}
		w.misses++
	}
	v, end, ok := s.scalar(i)
	if !ok {
		return "", 0, end, false
	}
	if guid {
		text = s.guidText(v)
	} else {
		text = s.scalarText(v)
	}
	if w != nil && (v.kind == jString || v.kind == jNumber) && end-i <= maxCachedRaw {
		slot := &w.v[w.next]
		w.next = (w.next + 1) % valWayCount
		slot.raw = s.keep(slot.raw, b[i:end])
		slot.text, slot.guid = text, guid
	}
	return text, v.kind, end, true
}

// isNumberByte reports whether c continues a number as fastjson delimits it.
func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+'
}

// lastKey returns the interned key of the name fastKey read last (k).
func (s *stream) lastKey(k []byte) event.Key {
	if s.kway < 0 {
		return s.keys.Key(k)
	}
	w := &s.kways[s.kslot]
	if !w.has[s.kway] {
		w.keys[s.kway], w.has[s.kway] = s.keys.Key(k), true
	}
	return w.keys[s.kway]
}

// fastNext reads what follows a member or element ending at j: a comma (next is
// the index of the next one) or the closing byte (done, next is past it).
func (s *stream) fastNext(j int, closing byte) (next int, done, ok bool) {
	b := s.src
	j = decode.SkipJSONSpace(b, j)
	if j >= len(b) {
		return j, false, false
	}
	switch b[j] {
	case ',':
		next = decode.SkipJSONSpace(b, j+1)
		return next, false, next < len(b)
	case closing:
		return j + 1, true, true
	}
	return j, false, false
}

// fastOpen returns the index of the first member or element of the object or array
// opening at b[i], and whether it is empty (next is then past it).
func (s *stream) fastOpen(i int, closing byte) (next int, empty, ok bool) {
	b := s.src
	i = decode.SkipJSONSpace(b, i+1)
	if i >= len(b) {
		return i, false, false
	}
	if b[i] == closing {
		return i + 1, true, true
	}
	return i, false, true
}

// scalar reads the scalar value at b[i].
func (s *stream) scalar(i int) (v scalarVal, end int, ok bool) {
	b := s.src
	if i >= len(b) {
		return v, i, false
	}
	switch c := b[i]; {
	case c == '"':
		end, esc, ok := decode.JSONStringEnd(b, i+1)
		if !ok {
			return v, end, false
		}
		return scalarVal{kind: jString, raw: b[i+1 : end-1], esc: esc}, end, true
	case c == 't':
		if hasLit(b[i:], "true") {
			return scalarVal{kind: jTrue}, i + 4, true
		}
	case c == 'f':
		if hasLit(b[i:], "false") {
			return scalarVal{kind: jFalse}, i + 5, true
		}
	case c == 'n':
		if hasLit(b[i:], "null") {
			return scalarVal{kind: jNull}, i + 4, true
		}
	case c >= '0' && c <= '9' || c == '-' && i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '9':
		end, ok := decode.JSONNumberEnd(b, i)
		if !ok {
			return v, end, false
		}
		return scalarVal{kind: jNumber, raw: b[i:end]}, end, true
	}
	return v, i, false
}

func hasLit(b []byte, lit string) bool {
	return len(b) >= len(lit) && string(b[:len(lit)]) == lit
}

// skipValue checks the value at b[i], at nesting depth d, and returns its end.
func (s *stream) skipValue(i, d int) (int, bool) {
	b := s.src
	if d > maxFastDepth || i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '{':
		i, empty, ok := s.fastOpen(i, '}')
		if !ok || empty {
			return i, ok
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			end, _, ok := decode.JSONStringEnd(b, i+1)
			if !ok {
				return end, false
			}
			j := decode.SkipJSONSpace(b, end)
			if j >= len(b) || b[j] != ':' {
				return j, false
			}
			if j, ok = s.skipValue(decode.SkipJSONSpace(b, j+1), d+1); !ok {
				return j, false
			}
			var done bool
			if i, done, ok = s.fastNext(j, '}'); !ok || done {
				return i, ok
			}
		}
	case '[':
		i, empty, ok := s.fastOpen(i, ']')
		if !ok || empty {
			return i, ok
		}
		for {
			j, ok := s.skipValue(i, d+1)
			if !ok {
				return j, false
			}
			var done bool
			if i, done, ok = s.fastNext(j, ']'); !ok || done {
				return i, ok
			}
		}
	}
	_, end, ok := s.scalar(i)
	return end, ok
}

// fastEvent reads the Event object: System, then EventData and/or UserData; other
// members are checked and dropped.
func (s *stream) fastEvent(e *event.Event, i int) (int, bool) {
	if s.src[i] != '{' {
		return i, false
	}
	i, empty, ok := s.fastOpen(i, '}')
	if !ok || empty {
		return i, false
	}
	var sys, ed, ud bool
	for {
		k, vi, ok := s.fastKey(i)
		if !ok {
			return i, false
		}
		var end int
		switch string(k) {
		case "System":
			if sys || ed || ud {
				return i, false
			}
			sys = true
			end, ok = s.fastSystem(e, vi)
		case "EventData":
			if !sys || ed || ud {
				return i, false
			}
			ed = true
			end, ok = s.fastEventData(e, vi)
		case "UserData":
			if !sys || ud {
				return i, false
			}
			ud = true
			end, ok = s.fastUserData(e, vi, nil, 0, 3)
		default:
			end, ok = s.skipValue(vi, 3)
		}
		if !ok {
			return end, false
		}
		var done bool
		if i, done, ok = s.fastNext(end, '}'); !ok {
			return i, false
		}
		if done {
			return i, sys
		}
	}
}

// fastSystem reads System as fillEvtxDump's systemField visits it.
func (s *stream) fastSystem(e *event.Event, i int) (int, bool) {
	if s.src[i] != '{' {
		return i, false
	}
	i, empty, ok := s.fastOpen(i, '}')
	if !ok || empty {
		return i, ok
	}
	for {
		k, vi, ok := s.fastKey(i)
		if !ok {
			return i, false
		}
		var end int
		if n := len(k); n > len("_attributes") && string(k[n-len("_attributes"):]) == "_attributes" {
			end, ok = s.fastAttrs(e, sysElem(k[:n-len("_attributes")]), vi, 4)
		} else {
			end, ok = s.fastSysField(e, k, vi)
		}
		if !ok {
			return end, false
		}
		var done bool
		if i, done, ok = s.fastNext(end, '}'); !ok || done {
			return i, ok
		}
	}
}

// fastSysField maps one child of System (see systemField).
func (s *stream) fastSysField(e *event.Event, k []byte, i int) (int, bool) {
	switch s.src[i] {
	case '[':
		return i, false
	case '{':
		text, end, ok := s.sysObject(e, sysElem(k), i)
		if !ok || text < 0 {
			return end, ok
		}
		v, _, ok := s.scalar(text)
		if !ok {
			return end, false
		}
		if v.kind != jNull {
			s.sysValue(e, k, s.scalarText(v))
		}
		return end, true
	}
	text, kind, end, ok := s.memberScalar(i, false)
	if !ok {
		return end, false
	}
	if kind != jNull {
		s.sysValue(e, k, text)
	}
	return end, true
}

// sysValue adds the text of the System element k.
func (s *stream) sysValue(e *event.Event, k []byte, text string) {
	var key event.Key
	switch string(k) {
	case "EventID":
		key = KeyEventID
	case "Version":
		key = KeyVersion
	case "Level":
		key = KeyLevel
	case "Task":
		key = KeyTask
	case "Opcode":
		key = KeyOpcode
	case "Keywords":
		key = KeyKeywords
	case "EventRecordID":
		key = KeyEventRecordID
	case "Channel":
		key = KeyChannel
	case "Computer":
		key = KeyComputer
	case "Provider", "TimeCreated", "Correlation", "Execution", "Security":
		return // elements whose content is in attributes
	default:
		key = s.keys.Key(k)
	}
	s.addStr(e, key, text)
}

// sysObject reads an object child of System: maps its first "#attributes" and
// returns the index of its first "#text" value (-1 when absent).
func (s *stream) sysObject(e *event.Event, elem elemID, i int) (text, end int, ok bool) {
	const d = 4
	text = -1
	i, empty, ok := s.fastOpen(i, '}')
	if !ok || empty {
		return text, i, ok
	}
	attrs := false
	for {
		k, vi, ok := s.fastKey(i)
		if !ok {
			return text, i, false
		}
		var end int
		switch {
		case !attrs && string(k) == "#attributes":
			attrs = true
			end, ok = s.fastAttrs(e, elem, vi, d+1)
		case text < 0 && string(k) == "#text":
			text = vi
			fallthrough
		default:
			end, ok = s.skipValue(vi, d+1)
		}
		if !ok {
			return text, end, false
		}
		var done bool
		if i, done, ok = s.fastNext(end, '}'); !ok || done {
			return text, i, ok
		}
	}
}

// attrsText checks the object at b[i] (members with unescaped names) and returns
// the indexes of its first "#attributes" and "#text" values (-1 when absent).
func (s *stream) attrsText(i, d int) (attrs, text, end int, ok bool) {
	attrs, text = -1, -1
	i, empty, ok := s.fastOpen(i, '}')
	if !ok || empty {
		return attrs, text, i, ok
	}
	for {
		k, vi, ok := s.fastKey(i)
		if !ok {
			return attrs, text, i, false
		}
		switch string(k) {
		case "#attributes":
			if attrs < 0 {
				attrs = vi
			}
		case "#text":
			if text < 0 {
				text = vi
			}
		}
		end, ok := s.skipValue(vi, d+1)
		if !ok {
			return attrs, text, end, false
		}
		var done bool
		if i, done, ok = s.fastNext(end, '}'); !ok || done {
			return attrs, text, i, ok
		}
	}
}

// fastAttrs maps the attributes of the System element elem (see systemAttrs).
func (s *stream) fastAttrs(e *event.Event, elem elemID, i, d int) (int, bool) {
	if s.src[i] != '{' {
		return s.skipValue(i, d)
	}
	i, empty, ok := s.fastOpen(i, '}')
	if !ok || empty {
		return i, ok
	}
	for {
		k, vi, ok := s.fastKey(i)
		if !ok {
			return i, false
		}
		var end int
		key, guid, mapped := attrTarget(elem, k)
		if mapped {
			var text string
			var kind jkind
			if text, kind, end, ok = s.memberScalar(vi, guid); ok && kind != jNull {
				if key == KeyTimeCreated {
					s.times[0] = timeCandidate{text: text, set: true}
				} else {
					s.addStr(e, key, text)
				}
			}
		} else {
			_, end, ok = s.scalar(vi)
		}
		if !ok {
			return end, false
		}
		var done bool
		if i, done, ok = s.fastNext(end, '}'); !ok || done {
			return i, ok
		}
	}
}

// attrTarget returns the raw field an attribute of the System element elem maps
// to (KeyTimeCreated for the event time) and whether its value is a GUID.
func attrTarget(elem elemID, k []byte) (key event.Key, guid, ok bool) {
	switch elem {
	case elemProvider:
		switch string(k) {
		case "Name":
			return KeyProviderName, false, true
		case "Guid":
			return KeyProviderGuid, true, true
		case "EventSourceName":
			return KeyProviderEventSourceName, false, true
		}
	case elemTimeCreated:
		if string(k) == "SystemTime" {
			return KeyTimeCreated, false, true
		}
	case elemCorrelation:
		switch string(k) {
		case "ActivityID":
			return KeyCorrelationActivityID, true, true
		case "RelatedActivityID":
			return KeyCorrelationRelActivityID, true, true
		}
	case elemExecution:
		switch string(k) {
		case "ProcessID":
			return KeyProcessID, false, true
		case "ThreadID":
			return KeyThreadID, false, true
		}
	case elemSecurity:
		if string(k) == "UserID" {
			return KeySecurityUserID, false, true
		}
	case elemEventID:
		if string(k) == "Qualifiers" {
			return KeyQualifiers, false, true
		}
	}
	return key, false, false
}

// scalarText is text for a scalar: strings unescaped, numbers as written, null "".
func (s *stream) scalarText(v scalarVal) string {
	switch v.kind {
	case jString:
		if v.esc {
			s.utmp = decode.AppendUnescapedJSON(s.utmp[:0], v.raw)
			return s.str(s.utmp)
		}
		return s.str(v.raw)
	case jNumber:
		return s.str(v.raw)
	case jTrue:
		return "true"
	case jFalse:
		return "false"
	}
	return ""
}

// addGUIDScalar is addGUID for a scalar.
func (s *stream) addGUIDScalar(e *event.Event, k event.Key, v scalarVal) {
	s.addStr(e, k, s.guidText(v))
}

// guidText is the raw field text of a GUID value: braces restored and upper case
// for a bare GUID, else as scalarText.
func (s *stream) guidText(v scalarVal) string {
	if v.kind == jString {
		raw := v.raw
		if v.esc {
			s.utmp = decode.AppendUnescapedJSON(s.utmp[:0], raw)
			raw = s.utmp
		}
		if isBareGUID(raw) {
			s.tmp = append(s.tmp[:0], '{')
			for _, c := range raw {
				if c >= 'a' && c <= 'f' {
					c -= 'a' - 'A'
				}
				s.tmp = append(s.tmp, c)
			}
			s.tmp = append(s.tmp, '}')
			return s.arena.String(s.tmp)
		}
	}
	return s.scalarText(v)
}

// fastEventData maps EventData (see eventData); only an object or null.
func (s *stream) fastEventData(e *event.Event, i int) (int, bool) {
	if s.src[i] != '{' {
		v, end, ok := s.scalar(i)
		return end, ok && v.kind == jNull
	}
	const d = 4
	i, empty, ok := s.fastOpen(i, '}')
	if !ok || empty {
		return i, ok
	}
	for {
		k, vi, ok := s.fastKey(i)
		if !ok {
			return i, false
		}
		var end int
		switch string(k) {
		case "#attributes":
			end, ok = s.skipValue(vi, d)
		case "#text", "Data":
			end, ok = s.fastDataValues(e, vi, 0, d)
		case "Binary":
			end, ok = s.fastBinary(e, vi)
		default:
			key := s.lastKey(k)
			if c := s.src[vi]; c == '"' || c >= '0' && c <= '9' || c == '-' {
				var text string
				if text, _, end, ok = s.memberScalar(vi, isGUIDName(k)); ok {
					s.addStr(e, key, text)
				}
				break
			}
			end, ok = s.fastNamed(e, key, vi, isGUIDName(k), d)
		}
		if !ok {
			return end, false
		}
		var done bool
		if i, done, ok = s.fastNext(end, '}'); !ok || done {
			return i, ok
		}
	}
}

// fastBinary adds Binary: a scalar or the scalar "#text" of an object.
func (s *stream) fastBinary(e *event.Event, i int) (int, bool) {
	end := -1
	if s.src[i] == '{' {
		_, text, oend, ok := s.attrsText(i, 4)
		if !ok || text < 0 {
			return oend, false
		}
		i, end = text, oend
	}
	v, vend, ok := s.scalar(i)
	if !ok {
		return vend, false
	}
	if end < 0 {
		end = vend
	}
	s.addStr(e, KeyBinary, s.scalarText(v))
	return end, true
}

// fastNamed adds the value(s) of the named field key (see named).
func (s *stream) fastNamed(e *event.Event, key event.Key, i int, guid bool, d int) (int, bool) {
	b := s.src
	if d > maxFastDepth {
		return i, false
	}
	switch b[i] {
	case '[':
		i, empty, ok := s.fastOpen(i, ']')
		if !ok || empty {
			return i, ok
		}
		for {
			var j int
			if i < len(b) && b[i] == '[' {
				j, ok = s.skipValue(i, d+1)
			} else {
				j, ok = s.fastNamed(e, key, i, guid, d+1)
			}
			if !ok {
				return j, false
			}
			var done bool
			if i, done, ok = s.fastNext(j, ']'); !ok || done {
				return i, ok
			}
		}
	case '{':
		attrs, text, end, ok := s.attrsText(i, d)
		if !ok {
			return end, false
		}
		if text >= 0 {
			_, ok = s.fastNamed(e, key, text, guid, d+1)
			return end, ok
		}
		if attrs >= 0 {
			e.AddRaw(key, "")
			return end, true
		}
		return end, false
	}
	v, end, ok := s.scalar(i)
	if !ok {
		return end, false
	}
	if guid {
		s.addGUIDScalar(e, key, v)
	} else {
		s.addStr(e, key, s.scalarText(v))
	}
	return end, true
}

// fastDataValues adds the contents of a "Data" member (see dataValues).
func (s *stream) fastDataValues(e *event.Event, i, depth, d int) (int, bool) {
	b := s.src
	if depth > 2 {
		return s.skipValue(i, d)
	}
	if d > maxFastDepth {
		return i, false
	}
	switch b[i] {
	case '[':
		i, empty, ok := s.fastOpen(i, ']')
		if !ok || empty {
			return i, ok
		}
		for {
			j, ok := s.fastDataValues(e, i, depth+1, d+1)
			if !ok {
				return j, false
			}
			var done bool
			if i, done, ok = s.fastNext(j, ']'); !ok || done {
				return i, ok
			}
		}
	case '{':
		attrs, text, end, ok := s.attrsText(i, d)
		if !ok {
			return end, false
		}
		if attrs >= 0 && b[attrs] == '{' {
			name, found, ok := s.attrName(attrs, d+1)
			if !ok {
				return end, false
			}
			if found {
				key := s.keys.Key(name)
				if text < 0 {
					e.AddRaw(key, "")
					return end, true
				}
				_, ok = s.fastNamed(e, key, text, isGUIDName(name), d+1)
				return end, ok
			}
		}
		if text >= 0 {
			_, ok = s.fastDataValues(e, text, depth+1, d+1)
		}
		return end, ok
	}
	v, end, ok := s.scalar(i)
	if !ok {
		return end, false
	}
	s.addStr(e, KeyData, s.scalarText(v))
	return end, true
}

// attrName returns the (unescaped) string value of the first "Name" member of the
// object at b[i], found false when there is none or it is not a string. The name
// is valid until the next call.
func (s *stream) attrName(i, d int) (name []byte, found, ok bool) {
	i, empty, ok := s.fastOpen(i, '}')
	if !ok || empty {
		return nil, false, ok
	}
	for {
		k, vi, ok := s.fastKey(i)
		if !ok {
			return nil, false, false
		}
		if string(k) == "Name" {
			v, _, ok := s.scalar(vi)
			if !ok || v.kind != jString {
				return nil, false, true // an object or array: not a string
			}
			if v.esc {
				s.ntmp = decode.AppendUnescapedJSON(s.ntmp[:0], v.raw)
				return s.ntmp, true, true
			}
			return v.raw, true, true
		}
		end, ok := s.skipValue(vi, d+1)
		if !ok {
			return nil, false, false
		}
		var done bool
		if i, done, ok = s.fastNext(end, '}'); !ok || done {
			return nil, false, ok
		}
	}
}

// fastUserData maps UserData (see userData).
func (s *stream) fastUserData(e *event.Event, i int, name []byte, depth, d int) (int, bool) {
	b := s.src
	if depth > maxDepth {
		return s.skipValue(i, d)
	}
	if d > maxFastDepth {
		return i, false
	}
	switch b[i] {
	case '{':
		if name != nil {
			_, text, end, ok := s.attrsText(i, d)
			if !ok {
				return end, false
			}
			if text >= 0 {
				_, ok = s.fastUserData(e, text, name, depth+1, d+1)
				return end, ok
			}
		}
		i, empty, ok := s.fastOpen(i, '}')
		if !ok || empty {
			return i, ok
		}
		for {
			k, vi, ok := s.fastKey(i)
			if !ok {
				return i, false
			}
			var end int
			if string(k) == "#attributes" {
				end, ok = s.skipValue(vi, d+1)
			} else {
				end, ok = s.fastUserData(e, vi, k, depth+1, d+1)
			}
			if !ok {
				return end, false
			}
			var done bool
			if i, done, ok = s.fastNext(end, '}'); !ok || done {
				return i, ok
			}
		}
	case '[':
		i, empty, ok := s.fastOpen(i, ']')
		if !ok || empty {
			return i, ok
		}
		for {
			j, ok := s.fastUserData(e, i, name, depth+1, d+1)
			if !ok {
				return j, false
			}
			var done bool
			if i, done, ok = s.fastNext(j, ']'); !ok || done {
				return i, ok
			}
		}
	}
	v, end, ok := s.scalar(i)
	if !ok || name == nil {
		return end, ok
	}
	key := s.keys.Key(name)
	if isGUIDName(name) {
		s.addGUIDScalar(e, key, v)
	} else {
		s.addStr(e, key, s.scalarText(v))
	}
	return end, true
}
