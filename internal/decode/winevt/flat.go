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
		switch string(k) {
		case "EventID":
			s.add(e, KeyEventID, c)
		case "Channel":
			s.add(e, KeyChannel, c)
		case "Computer":
			s.add(e, KeyComputer, c)
		case "Hostname":
			s.hostname = s.text(c)
		case "SourceName", "ProviderName", "Provider_Name":
			s.add(e, KeyProviderName, c)
		case "ProviderGuid", "Provider_Guid":
			s.addGUID(e, KeyProviderGuid, c)
		case "RecordNumber", "EventRecordID":
			s.add(e, KeyEventRecordID, c)
		case "ExecutionProcessID":
			s.add(e, KeyProcessID, c)
		case "ExecutionThreadID":
			s.add(e, KeyThreadID, c)
		case "ActivityID", "Correlation_ActivityID":
			s.addGUID(e, KeyCorrelationActivityID, c)
		case "RelatedActivityID", "Correlation_RelatedActivityID":
			s.addGUID(e, KeyCorrelationRelActivityID, c)
		case "UserID", "Security_UserID":
			s.add(e, KeySecurityUserID, c)
		case "Keywords":
			s.flatKeywords(e, c)
		case "OpcodeValue":
			s.add(e, KeyOpcode, c)
			s.hasOpcode = true
		case "Opcode":
			if c.Type() == fastjson.TypeNumber {
				s.add(e, KeyOpcode, c)
				s.hasOpcode = true
			} else {
				s.opcodeText = s.text(c)
			}
		case "Severity":
			// NXLog's severity of the Windows level; kept, and read as log.level.
			s.add(e, keySeverity, c)
			if l := nxlogLevel(s.text(c)); l != "" {
				s.ecs = append(s.ecs, ecsValue{target: ecsTargets["log.level"], value: l})
			}
		case "TimeCreated":
			s.setTime(0, c)
		case "@timestamp":
			s.setTime(1, c)
		case "EventTime":
			s.setTime(2, c)
			s.add(e, s.keys.Key(k), c)
		default:
			s.name = append(s.name[:0], k...)
			s.flatten(e, c, 1, false)
		}
	})
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
	return nil
}

var (
	keyHostname = event.MakeKey("Hostname")
	keySeverity = event.MakeKey("Severity")
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

// flatKeywords renders Keywords as Windows does (0x hex); NXLog writes the 64-bit
// mask as a signed decimal number.
func (s *stream) flatKeywords(e *event.Event, c *fastjson.Value) {
	if c.Type() == fastjson.TypeNumber {
		s.tmp = c.MarshalTo(s.tmp[:0])
		if n, err := strconv.ParseInt(string(s.tmp), 10, 64); err == nil {
			s.tmp = strconv.AppendUint(append(s.tmp[:0], "0x"...), uint64(n), 16)
			s.addStr(e, KeyKeywords, s.arena.String(s.tmp))
			return
		}
		if n, err := strconv.ParseUint(string(s.tmp), 10, 64); err == nil {
			s.tmp = strconv.AppendUint(append(s.tmp[:0], "0x"...), n, 16)
			s.addStr(e, KeyKeywords, s.arena.String(s.tmp))
			return
		}
	}
	s.add(e, KeyKeywords, c)
}
