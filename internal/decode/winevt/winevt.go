// Package winevt normalizes Windows events into ECS and decodes the JSON shapes
// Windows events are exported in (evtx_dump/Chainsaw, Winlogbeat/Elastic Agent, flat
// NXLog/OTRF). The binary EVTX decoder (decode/evtx) fills the same raw fields and
// calls Normalize, so a Sigma rule sees identical fields whatever the source.
//
// Raw field convention (every Windows decoder must produce exactly these names):
//   - System: EventID, Version, Level, Task, Opcode, Keywords, TimeCreated,
//     EventRecordID, Correlation_ActivityID, Correlation_RelatedActivityID,
//     ProcessID, ThreadID (Execution), Channel, Computer, Provider_Name,
//     Provider_Guid, Security_UserID.
//   - EventData: each <Data Name="X"> as X; unnamed <Data> as "Data" (repeated).
//   - UserData: each leaf element by its own name (the wrapper element is dropped).
//
// Values are rendered as Windows renders them in XML: integers in decimal, HexInt
// types as 0x-prefixed lower-case hex, GUIDs upper-case in braces, SIDs as S-1-...,
// times as RFC 3339 UTC with 7 fractional digits where the source has them.
package winevt

import (
	"github.com/vigilsec/vigil/internal/event"
)

// Interned raw keys of the System section.
var (
	KeyEventID       = event.MakeKey("EventID")
	KeyChannel       = event.MakeKey("Channel")
	KeyComputer      = event.MakeKey("Computer")
	KeyProviderName  = event.MakeKey("Provider_Name")
	KeyEventRecordID = event.MakeKey("EventRecordID")
	KeyTimeCreated   = event.MakeKey("TimeCreated")
)

// Normalize fills the ECS core of e from its Windows raw fields. e.Timestamp must
// already be set by the decoder.
func Normalize(e *event.Event) {
	code, _ := e.RawValue(KeyEventID)
	e.SetStr(event.EventCode, code)
	ch, _ := e.RawValue(KeyChannel)
	e.SetStr(event.WinlogChannel, ch)
	prov, _ := e.RawValue(KeyProviderName)
	e.SetStr(event.EventProvider, prov)
	e.SetStr(event.WinlogProviderName, prov)
	comp, _ := e.RawValue(KeyComputer)
	e.SetStr(event.WinlogComputerName, comp)
	e.SetHost(comp)
	e.SetStr(event.EventKind, "event")
}
