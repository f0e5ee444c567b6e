package winevt

import (
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// The fast paths of Winlogbeat and flat documents: one pass over the record's text
// with the evtx_dump fast path's readers (fastKey, memberScalar, fastNext, ...),
// mapping the fields as fillWinlogbeat and fillFlat map the parsed tree. Anything
// they do not handle in the usual way (escaped member names, objects or arrays where
// the tree path would render a value as JSON text, nesting at the flattening limit,
// numbers fastjson reads but the fast readers do not, invalid JSON) makes them give
// up, and the record takes the tree path. FuzzWinlogbeatFastPath and
// FuzzFlatFastPath check that both paths give the same output.

// fastRecord fills e from the record b in one pass, reporting false when the record
// must take the tree path (e's raw fields and the record state are then to be reset).
func (s *stream) fastRecord(e *event.Event, b []byte) bool {
	if s.shape == shapeEvtxDump {
		return s.fastEvtxDump(e, b)
	}
	s.src, s.kpos = b, 0
	defer func() { s.src = nil }()
	i := decode.SkipJSONSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	var end int
	var ok bool
	if s.shape == shapeWinlogbeat {
		end, ok = s.fastWinlogbeat(e, i)
	} else {
		end, ok = s.fastFlat(e, i)
	}
	return ok && decode.SkipJSONSpace(b, end) == len(b)
}

// fastMembers reads the object at b[i] (the caller has seen its '{'), calling fn
// with each member's name and the index of its value; fn reads the value and
// returns the index past it.
func (s *stream) fastMembers(i int, fn func(k []byte, vi int) (int, bool)) (int, bool) {
	i, empty, ok := s.fastOpen(i, '}')
	if !ok || empty {
		return i, ok
	}
	for {
		k, vi, ok := s.fastKey(i)
		if !ok {
			return i, false
		}
		end, ok := fn(k, vi)
		if !ok {
			return end, false
		}
		var done bool
		if i, done, ok = s.fastNext(end, '}'); !ok || done {
			return i, ok
		}
	}
}

// fastElements reads the array at b[i] (the caller has seen its '['), calling fn
// with the index of each element; fn reads it and returns the index past it.
func (s *stream) fastElements(i int, fn func(vi int) (int, bool)) (int, bool) {
	i, empty, ok := s.fastOpen(i, ']')
	if !ok || empty {
		return i, ok
	}
	for {
		end, ok := fn(i)
		if !ok {
			return end, false
		}
		var done bool
		if i, done, ok = s.fastNext(end, ']'); !ok || done {
			return i, ok
		}
	}
}

// fastWinlogbeat reads a Winlogbeat document (see fillWinlogbeat).
func (s *stream) fastWinlogbeat(e *event.Event, i int) (int, bool) {
	winlog := false
	end, ok := s.fastMembers(i, func(k []byte, vi int) (int, bool) {
		switch string(k) {
		case "@timestamp":
			return s.fastTime(1, vi)
		case "winlog":
			if s.src[vi] != '{' {
				if !winlog {
					return vi, false // the tree path rejects the record
				}
				return s.skipValue(vi, 1)
			}
			winlog = true
			return s.fastWinlog(e, vi)
		case "event":
			return s.fastEventObject(e, vi)
		}
		s.name = append(s.name[:0], k...)
		return s.fastFlatten(e, vi, 1, ecsRoot(k))
	})
	if !ok || !winlog {
		return end, false
	}
	// event.code and event.provider stand in for what winlog lacks.
	if !s.hasEID && s.code.set {
		s.addStr(e, KeyEventID, s.code.text)
	}
	if s.provider.set {
		if _, ok := e.RawValue(KeyProviderName); !ok {
			s.addStr(e, KeyProviderName, s.provider.text)
		}
	}
	return end, true
}

// noted is a value fillWinlogbeat reads with Get: its text, and whether it is present
// (null included).
type noted struct {
	text string
	set  bool
}

// note notes the scalar at b[i] in n, returning the index past it. An object or
// array makes the fast path give up: the tree path renders it as JSON text.
func (s *stream) note(n *noted, i int) (int, bool) {
	text, _, end, ok := s.memberScalar(i, false)
	*n = noted{text: text, set: true}
	return end, ok
}

// fastTime notes the scalar at b[i] as the time candidate of priority prio.
func (s *stream) fastTime(prio, i int) (int, bool) {
	text, kind, end, ok := s.memberScalar(i, false)
	if ok && kind != jNull {
		s.times[prio] = timeCandidate{text: text, set: true}
	}
	return end, ok
}

// fastEventObject reads the top-level "event" value: flattened as any other, its
// first code and provider members noted (see fillWinlogbeat).
func (s *stream) fastEventObject(e *event.Event, i int) (int, bool) {
	s.code, s.provider = noted{}, noted{}
	s.name = append(s.name[:0], "event"...)
	if s.src[i] != '{' {
		return s.fastFlatten(e, i, 1, true)
	}
	return s.fastMembers(i, func(k []byte, vi int) (int, bool) {
		s.name = append(append(s.name[:0], "event."...), k...)
		var n *noted
		switch string(k) {
		case "code":
			n = &s.code
		case "provider":
			n = &s.provider
		}
		if n == nil || n.set {
			return s.fastFlatten(e, vi, 2, true)
		}
		text, kind, end, ok := s.memberScalar(vi, false)
		if ok {
			*n = noted{text: text, set: true}
			if kind != jNull {
				s.fastLeafText(e, text, true)
			}
		}
		return end, ok
	})
}

// winlogMember is what fillWinlogbeat does with a member of winlog.
type winlogMember uint8

const (
	wlOther winlogMember = iota
	wlSystem
	wlGUID
	wlTime
	wlEventData
	wlUserData
	wlProcess
	wlUser
	wlKeywords
)

// winlogTarget returns what a member of winlog is and, for the System names, the
// raw field it fills.
func winlogTarget(k []byte) (event.Key, winlogMember) {
	switch string(k) {
	case "channel":
		return KeyChannel, wlSystem
	case "event_id":
		return KeyEventID, wlSystem
	case "provider_name":
		return KeyProviderName, wlSystem
	case "provider_guid":
		return KeyProviderGuid, wlGUID
	case "computer_name":
		return KeyComputer, wlSystem
	case "record_id":
		return KeyEventRecordID, wlSystem
	case "version":
		return KeyVersion, wlSystem
	case "activity_id":
		return KeyCorrelationActivityID, wlGUID
	case "related_activity_id":
		return KeyCorrelationRelActivityID, wlGUID
	case "time_created":
		return event.Key{}, wlTime
	case "event_data":
		return event.Key{}, wlEventData
	case "user_data":
		return event.Key{}, wlUserData
	case "process":
		return event.Key{}, wlProcess
	case "user":
		return event.Key{}, wlUser
	case "keywords":
		return event.Key{}, wlKeywords
	}
	return event.Key{}, wlOther
}

// fastWinlog reads the winlog object (see winlog). Its loop is written out rather
// than given to fastMembers, as fastWinlogData's.
func (s *stream) fastWinlog(e *event.Event, i int) (int, bool) {
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
		switch key, m := winlogTarget(k); m {
		case wlSystem, wlGUID:
			var text string
			var kind jkind
			if text, kind, end, ok = s.memberScalar(vi, m == wlGUID); ok && kind != jNull {
				s.addStr(e, key, text)
			}
		case wlTime:
			end, ok = s.fastTime(0, vi)
		case wlEventData, wlUserData:
			end, ok = s.fastWinlogData(e, vi, m == wlUserData)
		case wlProcess:
			end, ok = s.fastWinlogProcess(e, vi)
		case wlUser:
			end, ok = s.fastWinlogUser(e, vi)
		case wlKeywords:
			end, ok = s.fastWinlogKeywords(e, vi)
		default:
			s.name = append(append(s.name[:0], "winlog."...), k...)
			end, ok = s.fastFlatten(e, vi, 2, true)
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

// fastWinlogData reads event_data or user_data (see winlogData). It holds most of a
// record's fields: its loop is written out rather than given to fastMembers.
func (s *stream) fastWinlogData(e *event.Event, i int, user bool) (int, bool) {
	const d = 2
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
		switch c := s.src[vi]; {
		case user && string(k) == "xml_name":
			end, ok = s.skipValue(vi, d+1)
		case c == '"' || c >= '0' && c <= '9' || c == '-':
			key := s.lastKey(k)
			var text string
			if text, _, end, ok = s.memberScalar(vi, isGUIDName(k)); ok {
				s.addStr(e, key, text)
			}
		default:
			end, ok = s.fastUserData(e, vi, k, 0, d+1)
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

// fastWinlogProcess reads winlog.process: its first pid and the first id of its
// first thread, added in that order (see winlog).
func (s *stream) fastWinlogProcess(e *event.Event, i int) (int, bool) {
	const d = 2
	if s.src[i] != '{' {
		return s.skipValue(i, d)
	}
	var pid, tid noted
	thread := false
	end, ok := s.fastMembers(i, func(k []byte, vi int) (int, bool) {
		switch {
		case string(k) == "pid" && !pid.set:
			return s.note(&pid, vi)
		case string(k) == "thread" && !thread:
			thread = true
			if s.src[vi] == '{' {
				return s.fastMembers(vi, func(k []byte, vi int) (int, bool) {
					if string(k) == "id" && !tid.set {
						return s.note(&tid, vi)
					}
					return s.skipValue(vi, d+2)
				})
			}
		}
		return s.skipValue(vi, d+1)
	})
	if ok && pid.set {
		s.addStr(e, KeyProcessID, pid.text)
	}
	if ok && tid.set {
		s.addStr(e, KeyThreadID, tid.text)
	}
	return end, ok
}

// fastWinlogUser reads winlog.user (see winlogUser).
func (s *stream) fastWinlogUser(e *event.Event, i int) (int, bool) {
	if s.src[i] != '{' {
		return s.skipValue(i, 2)
	}
	return s.fastMembers(i, func(k []byte, vi int) (int, bool) {
		if string(k) == "identifier" {
			text, _, end, ok := s.memberScalar(vi, false)
			if ok {
				s.addStr(e, KeySecurityUserID, text)
			}
			return end, ok
		}
		s.name = append(append(s.name[:0], "winlog.user."...), k...)
		return s.fastFlatten(e, vi, 3, false)
	})
}

// fastWinlogKeywords reads winlog.keywords (see winlogKeywords).
func (s *stream) fastWinlogKeywords(e *event.Event, i int) (int, bool) {
	s.name = append(s.name[:0], "winlog.keywords"...)
	if s.src[i] != '[' {
		return s.fastFlatten(e, i, 2, false)
	}
	audit := ""
	end, ok := s.fastElements(i, func(vi int) (int, bool) {
		if s.src[vi] != '"' {
			return s.fastFlatten(e, vi, 3, false)
		}
		text, _, end, ok := s.memberScalar(vi, false)
		if ok {
			s.fastLeafText(e, text, false)
			if audit == "" {
				switch text {
				case "Audit Success":
					audit = keywordsAuditSuccess
				case "Audit Failure":
					audit = keywordsAuditFailure
				}
			}
		}
		return end, ok
	})
	if ok && audit != "" {
		s.addStr(e, KeyKeywords, audit)
	}
	return end, ok
}

// fastFlat reads a flat NXLog/OTRF document (see fillFlat).
func (s *stream) fastFlat(e *event.Event, i int) (int, bool) {
	end, ok := s.fastMembers(i, func(k []byte, vi int) (int, bool) {
		key, m := flatTarget(k)
		if m == flatOther {
			s.name = append(s.name[:0], k...)
			return s.fastFlatten(e, vi, 1, false)
		}
		text, kind, end, ok := s.memberScalar(vi, m == flatGUID)
		if ok && kind != jNull {
			s.flatValue(e, key, m, text, kind == jNumber)
		}
		return end, ok
	})
	if ok {
		s.flatTail(e)
	}
	return end, ok
}

// fastFlatten adds the leaves of the value at b[i] under the dotted name in s.name,
// as flatten does at depth; ecs as for leaf. Objects and arrays at the depth limit,
// which flatten keeps whole as JSON text, make it give up. Its loops are written out
// rather than given to fastMembers and fastElements: most leaves go through them.
func (s *stream) fastFlatten(e *event.Event, i, depth int, ecs bool) (int, bool) {
	switch s.src[i] {
	case '{':
		if depth >= maxDepth {
			return i, false
		}
		i, empty, ok := s.fastOpen(i, '}')
		if !ok || empty {
			return i, ok
		}
		base := len(s.name)
		for {
			k, vi, ok := s.fastKey(i)
			if !ok {
				return i, false
			}
			s.name = s.name[:base]
			if base > 0 {
				s.name = append(s.name, '.')
			}
			s.name = append(s.name, k...)
			end, ok := s.fastFlatten(e, vi, depth+1, ecs)
			if !ok {
				return end, false
			}
			var done bool
			if i, done, ok = s.fastNext(end, '}'); !ok || done {
				s.name = s.name[:base]
				return i, ok
			}
		}
	case '[':
		if depth >= maxDepth {
			return i, false
		}
		i, empty, ok := s.fastOpen(i, ']')
		if !ok || empty {
			return i, ok
		}
		for {
			end, ok := s.fastFlatten(e, i, depth+1, ecs)
			if !ok {
				return end, false
			}
			var done bool
			if i, done, ok = s.fastNext(end, ']'); !ok || done {
				return i, ok
			}
		}
	}
	text, kind, end, ok := s.memberScalar(i, false)
	if ok && kind != jNull {
		s.fastLeafText(e, text, ecs)
	}
	return end, ok
}

// fastLeafText adds a leaf's text under the dotted name in s.name (see leaf).
func (s *stream) fastLeafText(e *event.Event, text string, ecs bool) {
	if len(s.name) == 0 {
		return
	}
	key, t := s.dotKey()
	if ecs && t != nil {
		s.ecs = append(s.ecs, ecsValue{target: t, value: text})
		return
	}
	e.AddRaw(key, text)
}

// dotWays remembers, for the names fastKey remembers at one position (keyWays), the
// dotted name last built with each, its key and its ECS target.
type dotWays struct {
	names [4]string
	keys  [4]event.Key
	ecs   [4]*ecsTarget
}

// dotKey returns the key of the dotted name in s.name and its ECS target (nil when it
// is not one of Vigil's ECS names), remembered by the position of the name's last
// member, so a leaf met where it was in earlier records costs a compare.
func (s *stream) dotKey() (event.Key, *ecsTarget) {
	if s.kway < 0 {
		return s.keys.Key(s.name), ecsTargets[string(s.name)]
	}
	for len(s.dots) <= s.kslot {
		s.dots = append(s.dots, dotWays{})
	}
	d := &s.dots[s.kslot]
	if d.names[s.kway] != string(s.name) {
		k := s.keys.Key(s.name)
		d.names[s.kway], d.keys[s.kway], d.ecs[s.kway] = k.Value(), k, ecsTargets[k.Value()]
	}
	return d.keys[s.kway], d.ecs[s.kway]
}
