package winevt

import (
	"strconv"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

// fillFlat maps an NXLog/OTRF-style document, System and EventData fields side by
// side at the top level, onto raw fields (aliases in the package doc).
func (s *stream) fillFlat(e *event.Event, v *fastjson.Value) error {
	o, _ := v.Object()
	o.Visit(func(k []byte, c *fastjson.Value) {
		if c.Type() == fastjson.TypeNull {
			return
		}
		switch key, m := flatTarget(k); m {
		case flatOther:
			s.name = append(s.name[:0], k...)
			s.flatten(e, c, 1, false)
		case flatGUID:
			s.addGUID(e, key, c)
		default:
			s.flatValue(e, key, m, s.text(c), c.Type() == fastjson.TypeNumber)
		}
	})
	s.flatTail(e)
	return nil
}

// flatMember is what fillFlat does with a top-level member.
type flatMember uint8

const (
	flatOther       flatMember = iota // flattened under its own name
	flatSystem                        // added under the key flatTarget returns
	flatGUID                          // the same, a GUID (see addGUID)
	flatHostname                      // Computer, or Hostname beside a Computer
	flatKeywords                      // rendered as 0x hex when a number
	flatOpcodeValue                   // Opcode
	flatOpcode                        // Opcode when a number, else NXLog's text
	flatSeverity                      // kept, and read as log.level
	flatTimeCreated                   // event time, first choice
	flatTimestamp                     // event time, second choice
	flatEventTime                     // event time, third choice; kept
)

// flatTarget returns what fillFlat does with the top-level member k and, for the
// names of their own, the raw field it fills.
func flatTarget(k []byte) (event.Key, flatMember) {
	switch string(k) {
	case "EventID":
		return KeyEventID, flatSystem
	case "Channel":
		return KeyChannel, flatSystem
	case "Computer":
		return KeyComputer, flatSystem
	case "Hostname":
		return keyHostname, flatHostname
	case "SourceName", "ProviderName", "Provider_Name":
		return KeyProviderName, flatSystem
	case "ProviderGuid", "Provider_Guid":
		return KeyProviderGuid, flatGUID
	case "RecordNumber", "EventRecordID":
		return KeyEventRecordID, flatSystem
	case "ExecutionProcessID":
		return KeyProcessID, flatSystem
	case "ExecutionThreadID":
		return KeyThreadID, flatSystem
	case "ActivityID", "Correlation_ActivityID":
		return KeyCorrelationActivityID, flatGUID
	case "RelatedActivityID", "Correlation_RelatedActivityID":
		return KeyCorrelationRelActivityID, flatGUID
	case "UserID", "Security_UserID":
		return KeySecurityUserID, flatSystem
	case "Keywords":
		return KeyKeywords, flatKeywords
	case "OpcodeValue":
		return KeyOpcode, flatOpcodeValue
	case "Opcode":
		return KeyOpcode, flatOpcode
	case "Severity":
		return keySeverity, flatSeverity
	case "TimeCreated":
		return KeyTimeCreated, flatTimeCreated
	case "@timestamp":
		return event.Key{}, flatTimestamp
	case "EventTime":
		return keyEventTime, flatEventTime
	}
	return event.Key{}, flatOther
}

// flatValue maps the text of a non-null top-level member m (not flatOther) to key;
// number says the value is a JSON number. A flatGUID text is already rendered.
func (s *stream) flatValue(e *event.Event, key event.Key, m flatMember, text string, number bool) {
	switch m {
	case flatSystem, flatGUID:
		s.addStr(e, key, text)
	case flatHostname:
		s.hostname = text
	case flatKeywords:
		s.addStr(e, key, s.keywordsText(text, number))
	case flatOpcode:
		if !number {
			s.opcodeText = text
			return
		}
		fallthrough
	case flatOpcodeValue:
		s.addStr(e, key, text)
		s.hasOpcode = true
	case flatSeverity:
		// NXLog's severity of the Windows level; kept, and read as log.level.
		s.addStr(e, key, text)
		if l := nxlogLevel(text); l != "" {
			s.ecs = append(s.ecs, ecsValue{target: ecsTargets["log.level"], value: l})
		}
	case flatTimeCreated:
		s.times[0] = timeCandidate{text: text, set: true}
	case flatTimestamp:
		s.times[1] = timeCandidate{text: text, set: true}
	case flatEventTime:
		s.times[2] = timeCandidate{text: text, set: true}
		s.addStr(e, key, text)
	}
}

// flatTail adds what fillFlat decides once the whole document is read: NXLog's
// text Opcode without a numeric one, and Hostname.
func (s *stream) flatTail(e *event.Event) {
	if s.opcodeText != "" && !s.hasOpcode {
		e.AddRaw(KeyOpcode, s.opcodeText)
	}
	if s.hostname != "" {
		if s.hasComp {
			e.AddRaw(keyHostname, s.hostname)
		} else {
			s.addStr(e, KeyComputer, s.hostname)
		}
	}
}

var (
	keyHostname  = event.MakeKey("Hostname")
	keySeverity  = event.MakeKey("Severity")
	keyEventTime = event.MakeKey("EventTime")
)

// nxlogLevel maps NXLog's Severity names back to the names of Windows levels.
func nxlogLevel(sev string) string {
	switch sev {
	case "INFO":
		return "information"
	case "WARNING":
		return "warning"
	case "ERROR":
		return "error"
	case "CRITICAL":
		return "critical"
	case "DEBUG":
		return "verbose"
	}
	return ""
}

// keywordsText renders Keywords as Windows does (0x hex); NXLog writes the 64-bit
// mask as a signed decimal number. Other values are kept as they are.
func (s *stream) keywordsText(text string, number bool) string {
	if !number {
		return text
	}
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		s.tmp = strconv.AppendUint(append(s.tmp[:0], "0x"...), uint64(n), 16)
		return s.arena.String(s.tmp)
	}
	if n, err := strconv.ParseUint(text, 10, 64); err == nil {
		s.tmp = strconv.AppendUint(append(s.tmp[:0], "0x"...), n, 16)
		return s.arena.String(s.tmp)
	}
	return text
}
