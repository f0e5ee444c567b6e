package winevt

import (
	"errors"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

var errNoWinlog = errors.New("no winlog object")

// Keywords Winlogbeat renders as names; only the audit ones map back to bits.
const (
	keywordsAuditSuccess = "0x8020000000000000"
	keywordsAuditFailure = "0x8010000000000000"
)

// fillWinlogbeat maps a Winlogbeat 7/8 or Elastic Agent document onto raw fields.
func (s *stream) fillWinlogbeat(e *event.Event, v *fastjson.Value) error {
	wl := v.Get("winlog")
	if wl == nil || wl.Type() != fastjson.TypeObject {
		return errNoWinlog
	}
	var code, provider *fastjson.Value
	o, _ := v.Object()
	o.Visit(func(k []byte, c *fastjson.Value) {
		switch string(k) {
		case "@timestamp":
			s.setTime(1, c)
		case "winlog":
			s.winlog(e, c)
		case "event":
			code, provider = c.Get("code"), c.Get("provider")
			s.name = append(s.name[:0], k...)
			s.flatten(e, c, 1, true)
		default:
			s.name = append(s.name[:0], k...)
			s.flatten(e, c, 1, ecsRoot(k))
		}
	})
	if !s.hasEID && code != nil {
		s.add(e, KeyEventID, code)
	}
	if provider != nil {
		if _, ok := e.RawValue(KeyProviderName); !ok {
			s.add(e, KeyProviderName, provider)
		}
	}
	return nil
}

// winlog maps the winlog object: System names, event_data and user_data onto the
// convention; the rest stays under its dotted name.
func (s *stream) winlog(e *event.Event, wl *fastjson.Value) {
	o, _ := wl.Object()
	o.Visit(func(k []byte, c *fastjson.Value) {
		if c.Type() == fastjson.TypeNull {
			return
		}
		switch string(k) {
		case "channel":
			s.add(e, KeyChannel, c)
		case "event_id":
			s.add(e, KeyEventID, c)
		case "provider_name":
			s.add(e, KeyProviderName, c)
		case "provider_guid":
			s.addGUID(e, KeyProviderGuid, c)
		case "computer_name":
			s.add(e, KeyComputer, c)
		case "record_id":
			s.add(e, KeyEventRecordID, c)
		case "version":
			s.add(e, KeyVersion, c)
		case "activity_id":
			s.addGUID(e, KeyCorrelationActivityID, c)
		case "related_activity_id":
			s.addGUID(e, KeyCorrelationRelActivityID, c)
		case "time_created":
			s.setTime(0, c)
		case "event_data":
			s.winlogData(e, c, false)
		case "user_data":
			s.winlogData(e, c, true)
		case "process":
			if p := c.Get("pid"); p != nil {
				s.add(e, KeyProcessID, p)
			}
			if t := c.Get("thread", "id"); t != nil {
				s.add(e, KeyThreadID, t)
			}
		case "user":
			s.winlogUser(e, k, c)
		case "keywords":
			s.winlogKeywords(e, k, c)
		default:
			s.name = append(append(s.name[:0], "winlog."...), k...)
			s.flatten(e, c, 2, true)
		}
	})
}

// winlogData maps event_data / user_data members to fields of their own name.
func (s *stream) winlogData(e *event.Event, v *fastjson.Value, user bool) {
	o, err := v.Object()
	if err != nil {
		return
	}
	o.Visit(func(k []byte, c *fastjson.Value) {
		if user && string(k) == "xml_name" {
			return
		}
		s.userData(e, c, k, 0)
	})
}

// winlogUser maps winlog.user: identifier is the System Security UserID; the
// resolved name, domain and type stay as winlog.user.*.
func (s *stream) winlogUser(e *event.Event, k []byte, v *fastjson.Value) {
	o, err := v.Object()
	if err != nil {
		return
	}
	o.Visit(func(uk []byte, c *fastjson.Value) {
		if string(uk) == "identifier" {
			s.add(e, KeySecurityUserID, c)
			return
		}
		s.name = append(append(append(append(s.name[:0], "winlog."...), k...), '.'), uk...)
		s.flatten(e, c, 3, false)
	})
}

// winlogKeywords keeps winlog.keywords and recovers Keywords for the audit names.
func (s *stream) winlogKeywords(e *event.Event, k []byte, v *fastjson.Value) {
	s.name = append(append(s.name[:0], "winlog."...), k...)
	s.flatten(e, v, 2, false)
	a, err := v.Array()
	if err != nil {
		return
	}
	for _, x := range a {
		b, _ := x.StringBytes()
		switch string(b) {
		case "Audit Success":
			s.addStr(e, KeyKeywords, keywordsAuditSuccess)
			return
		case "Audit Failure":
			s.addStr(e, KeyKeywords, keywordsAuditFailure)
			return
		}
	}
}

// ecsTarget is an ECS field of Vigil's core that a document field fills.
type ecsTarget struct {
	name string
	acc  event.Accessor
	kind uint8
}

const (
	ecsPlain uint8 = iota
	ecsCategory
	ecsType
	ecsIgnore // related.*: recomputed from the normalized fields
)

// ecsValue is a document value waiting for applyECS.
type ecsValue struct {
	target *ecsTarget
	value  string
}

// ecsTargets maps the ECS names of Vigil's core to their fields. Read-only after init.
var ecsTargets = func() map[string]*ecsTarget {
	m := make(map[string]*ecsTarget)
	for _, n := range event.ECSNames() {
		t := &ecsTarget{name: n, acc: event.Lookup(n)}
		switch {
		case n == "@timestamp", strings.HasPrefix(n, "host."):
			// host.* of a Winlogbeat document describe the shipper's host (the
			// collector, under event forwarding), not the event's: kept raw.
			continue
		case n == "event.category":
			t.kind = ecsCategory
		case n == "event.type":
			t.kind = ecsType
		case strings.HasPrefix(n, "related."):
			t.kind = ecsIgnore
		}
		m[n] = t
	}
	return m
}()

// applyECS fills the ECS fields Normalize left empty from the document's own
// ECS values (an Elastic Agent document carries process.*, user.*, ... already).
func (s *stream) applyECS(e *event.Event) {
	noCat, noType := e.Category == 0, e.Type == 0
	for _, v := range s.ecs {
		switch v.target.kind {
		case ecsCategory:
			if c, ok := event.ParseCategory(v.value); ok && noCat {
				e.Category |= c
			}
		case ecsType:
			if t, ok := event.ParseType(v.value); ok && noType {
				e.Type |= t
			}
		case ecsPlain:
			if _, set := v.target.acc.String(e); !set {
				event.Set(e, v.target.name, v.value)
			}
		}
	}
}

// ecsRoot reports whether a top-level document object can hold fields of Vigil's
// ECS core, so the others (agent, ecs, host, data_stream, ...) skip the lookup.
func ecsRoot(k []byte) bool {
	switch string(k) {
	case "message", "process", "user", "source", "destination", "file", "registry", "dns",
		"url", "network", "service", "log", "error", "client", "related", "user_agent", "http",
		"tls", "cloud", "orchestrator":
		return true
	}
	return false
}
