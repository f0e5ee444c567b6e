package winevt

import (
	"errors"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

var errNoSystem = errors.New("no Event.System object")

// fillEvtxDump maps an evtx_dump/Chainsaw document
// ({"Event":{"System":{..},"EventData":{..}|"UserData":{..}}}) onto raw fields.
// A document that is the Event itself ({"System":..}) is accepted too.
func (s *stream) fillEvtxDump(e *event.Event, v *fastjson.Value) error {
	ev := v.Get("Event")
	if ev == nil {
		ev = v
	}
	sys := ev.Get("System")
	if sys == nil || sys.Type() != fastjson.TypeObject {
		return errNoSystem
	}
	o, _ := sys.Object()
	o.Visit(func(k []byte, c *fastjson.Value) { s.systemField(e, k, c) })
	if ed := ev.Get("EventData"); ed != nil {
		s.eventData(e, ed)
	}
	if ud := ev.Get("UserData"); ud != nil {
		s.userData(e, ud, nil, 0)
	}
	return nil
}

// systemField maps one child of System. Attributes come as {"#attributes":{..}}
// or, with evtx_dump --separate-json-attributes, as a sibling "X_attributes".
func (s *stream) systemField(e *event.Event, k []byte, c *fastjson.Value) {
	if n := len(k); n > len("_attributes") && string(k[n-len("_attributes"):]) == "_attributes" {
		s.systemAttrs(e, sysElem(k[:n-len("_attributes")]), c)
		return
	}
	if c.Type() == fastjson.TypeObject {
		if a := c.Get("#attributes"); a != nil {
			s.systemAttrs(e, sysElem(k), a)
		}
		t := c.Get("#text")
		if t == nil {
			return
		}
		c = t
	}
	if c.Type() == fastjson.TypeNull {
		return
	}
	switch string(k) {
	case "EventID":
		s.add(e, KeyEventID, c)
	case "Version":
		s.add(e, KeyVersion, c)
	case "Level":
		s.add(e, KeyLevel, c)
	case "Task":
		s.add(e, KeyTask, c)
	case "Opcode":
		s.add(e, KeyOpcode, c)
	case "Keywords":
		s.add(e, KeyKeywords, c)
	case "EventRecordID":
		s.add(e, KeyEventRecordID, c)
	case "Channel":
		s.add(e, KeyChannel, c)
	case "Computer":
		s.add(e, KeyComputer, c)
	case "Provider", "TimeCreated", "Correlation", "Execution", "Security":
		// Elements whose content is in attributes; an empty string stands for none.
	default:
		e.AddRaw(s.keys.Key(k), s.text(c))
	}
}

// elemID names the System elements that carry attributes.
type elemID uint8

const (
	elemOther elemID = iota
	elemProvider
	elemTimeCreated
	elemCorrelation
	elemExecution
	elemSecurity
	elemEventID
)

func sysElem(k []byte) elemID {
	switch string(k) {
	case "Provider":
		return elemProvider
	case "TimeCreated":
		return elemTimeCreated
	case "Correlation":
		return elemCorrelation
	case "Execution":
		return elemExecution
	case "Security":
		return elemSecurity
	case "EventID":
		return elemEventID
	}
	return elemOther
}

// systemAttrs maps the attributes of the System element named elem.
func (s *stream) systemAttrs(e *event.Event, elem elemID, a *fastjson.Value) {
	o, err := a.Object()
	if err != nil {
		return
	}
	o.Visit(func(k []byte, c *fastjson.Value) {
		if c.Type() == fastjson.TypeNull {
			return
		}
		key, guid, ok := attrTarget(elem, k) // the one table both paths map with
		switch {
		case !ok:
		case key == KeyTimeCreated:
			s.setTime(0, c)
		case guid:
			s.addGUID(e, key, c)
		default:
			s.add(e, key, c)
		}
	})
}

// eventData maps EventData: named Data become fields of their name, unnamed Data
// (a list, a "#text" list, or a lone value) become repeated "Data".
func (s *stream) eventData(e *event.Event, ed *fastjson.Value) {
	switch ed.Type() {
	case fastjson.TypeNull:
		return
	case fastjson.TypeObject:
	case fastjson.TypeArray:
		s.dataValues(e, ed, 0)
		return
	default:
		s.add(e, KeyData, ed)
		return
	}
	o, _ := ed.Object()
	o.Visit(func(k []byte, c *fastjson.Value) {
		switch string(k) {
		case "#attributes":
			return
		case "#text", "Data":
			s.dataValues(e, c, 0)
			return
		case "Binary":
			s.add(e, KeyBinary, textOf(c))
			return
		}
		key := s.keys.Key(k)
		guid := isGUIDName(k)
		s.named(e, key, c, guid)
	})
}

// named adds the value(s) of the named field key: scalars, {"#text":..} objects and
// arrays of them; null is the empty string, as Windows renders an empty <Data>.
func (s *stream) named(e *event.Event, key event.Key, c *fastjson.Value, guid bool) {
	switch c.Type() {
	case fastjson.TypeArray:
		a, _ := c.Array()
		for _, x := range a {
			if x.Type() != fastjson.TypeArray {
				s.named(e, key, x, guid)
			}
		}
		return
	case fastjson.TypeObject:
		if t := c.Get("#text"); t != nil {
			s.named(e, key, t, guid)
			return
		}
		if c.Get("#attributes") != nil {
			e.AddRaw(key, "") // <Data Name="X"/> with attributes only
			return
		}
	}
	if guid {
		s.addGUID(e, key, c)
		return
	}
	s.add(e, key, c)
}

// dataValues adds the contents of a "Data" member: a value, a list of values, a
// {"#text": value-or-list} object, or elements carrying their own Name attribute.
func (s *stream) dataValues(e *event.Event, c *fastjson.Value, depth int) {
	if depth > 2 {
		return
	}
	switch c.Type() {
	case fastjson.TypeArray:
		a, _ := c.Array()
		for _, x := range a {
			s.dataValues(e, x, depth+1)
		}
	case fastjson.TypeObject:
		if nm := c.Get("#attributes", "Name"); nm != nil && nm.Type() == fastjson.TypeString {
			b, _ := nm.StringBytes()
			key := s.keys.Key(b)
			t := c.Get("#text")
			if t == nil {
				e.AddRaw(key, "")
				return
			}
			s.named(e, key, t, isGUIDName(b))
			return
		}
		if t := c.Get("#text"); t != nil {
			s.dataValues(e, t, depth+1)
		}
	default:
		s.add(e, KeyData, c)
	}
}

// userData maps UserData: every leaf element by its own name, dropping wrapper
// elements and attributes.
func (s *stream) userData(e *event.Event, v *fastjson.Value, name []byte, depth int) {
	if depth > maxDepth {
		return
	}
	switch v.Type() {
	case fastjson.TypeObject:
		if t := v.Get("#text"); t != nil && name != nil {
			s.userData(e, t, name, depth+1)
			return
		}
		o, _ := v.Object()
		o.Visit(func(k []byte, c *fastjson.Value) {
			if string(k) == "#attributes" {
				return
			}
			s.userData(e, c, k, depth+1)
		})
	case fastjson.TypeArray:
		a, _ := v.Array()
		for _, c := range a {
			s.userData(e, c, name, depth+1)
		}
	default:
		if name == nil {
			return
		}
		key := s.keys.Key(name)
		if isGUIDName(name) {
			s.addGUID(e, key, v)
			return
		}
		s.add(e, key, v)
	}
}

// textOf returns v's "#text" member when v is such an object, else v.
func textOf(v *fastjson.Value) *fastjson.Value {
	if v.Type() == fastjson.TypeObject {
		if t := v.Get("#text"); t != nil {
			return t
		}
	}
	return v
}
