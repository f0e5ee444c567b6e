// Package winevt normalizes Windows events into ECS and decodes the JSON shapes
// Windows events are exported in (evtx_dump/Chainsaw, Winlogbeat/Elastic Agent, flat
// NXLog/OTRF). The binary EVTX decoder (decode/evtx) fills the same raw fields and
// calls Normalize, so a Sigma rule sees identical fields whatever the source.
//
// Raw field convention (every Windows decoder must produce exactly these names):
//   - System: EventID, Version, Level, Task, Opcode, Keywords, TimeCreated,
//     EventRecordID, Correlation_ActivityID, Correlation_RelatedActivityID,
//     ProcessID, ThreadID (Execution), Channel, Computer, Provider_Name,
//     Provider_Guid, Security_UserID. Two optional refinements: the EventID
//     Qualifiers attribute as Qualifiers, and the Provider EventSourceName
//     attribute as Provider_EventSourceName.
//   - EventData: each <Data Name="X"> as X; unnamed <Data> as "Data" (repeated);
//     <Binary> as Binary. Attributes of EventData itself are dropped.
//   - UserData: each leaf element by its own name (the wrapper element, and any
//     intermediate element, is dropped; attributes such as xmlns are dropped).
//
// Values are rendered as Windows renders them in XML: integers in decimal, HexInt
// types as 0x-prefixed lower-case hex, GUIDs upper-case in braces, SIDs as S-1-...,
// and an empty <Data> as the empty string. TimeCreated is always rendered from the
// parsed event time as RFC 3339 UTC with exactly 7 fractional digits
// ("2024-05-02T10:11:12.3450000Z"), the form Windows writes, so every decoder gives
// the same text whatever precision its source kept.
//
// The JSON decoders map their producer's names onto the convention:
//   - winevt-evtxdump: evtx_dump/Chainsaw JSON ({"Event":{"System":..,"EventData":..}}).
//     evtx_dump writes GUID-typed values without braces; fields whose name ends in
//     Guid/GUID (and the System GUIDs) get them back. Keywords stay as written.
//   - winevt-winlogbeat: winlog.event_data.X and winlog.user_data.X become X
//     (user_data.xml_name, the wrapper's name, is dropped); winlog.channel,
//     event_id, provider_name, provider_guid, computer_name, record_id, version,
//     activity_id, related_activity_id, process.pid, process.thread.id and
//     user.identifier become the System names; winlog.keywords "Audit Success" /
//     "Audit Failure" become Keywords 0x8020000000000000 / 0x8010000000000000.
//     Level, Task and Opcode are only present as rendered text in Winlogbeat
//     documents and stay under their dotted names (winlog.level, winlog.task, ...).
//     Every other document field is kept under its dotted name, except fields with
//     an ECS name Vigil normalizes (process.command_line, message, ...): those fill
//     the ECS core where Normalize left it empty.
//   - winevt-flat: NXLog/OTRF documents where EventData fields sit at the top level
//     beside the System ones. Aliases: Hostname -> Computer (when Computer is
//     absent), SourceName/ProviderName -> Provider_Name, ProviderGuid ->
//     Provider_Guid, RecordNumber -> EventRecordID, ExecutionProcessID -> ProcessID,
//     ExecutionThreadID -> ThreadID, ActivityID/RelatedActivityID ->
//     Correlation_*, UserID -> Security_UserID, OpcodeValue -> Opcode (NXLog's
//     text Opcode is kept under Opcode only when no numeric one is present); a
//     numeric (signed) Keywords becomes 0x-hex; NXLog's Severity is kept and read
//     as log.level. NXLog has no Windows Level. The event time is taken from
//     TimeCreated, else @timestamp, else EventTime (NXLog's local time without a
//     zone, read as UTC). Other fields keep their own names (nested ones dotted).
//
// Every decoder requires an EventID and an event time; records without them are
// rejected (missing-field, bad-timestamp).
package winevt

import (
	"github.com/vigilsec/vigil/internal/event"
)

// Interned raw keys of the System section.
var (
	KeyEventID                  = event.MakeKey("EventID")
	KeyVersion                  = event.MakeKey("Version")
	KeyLevel                    = event.MakeKey("Level")
	KeyTask                     = event.MakeKey("Task")
	KeyOpcode                   = event.MakeKey("Opcode")
	KeyKeywords                 = event.MakeKey("Keywords")
	KeyTimeCreated              = event.MakeKey("TimeCreated")
	KeyEventRecordID            = event.MakeKey("EventRecordID")
	KeyCorrelationActivityID    = event.MakeKey("Correlation_ActivityID")
	KeyCorrelationRelActivityID = event.MakeKey("Correlation_RelatedActivityID")
	KeyProcessID                = event.MakeKey("ProcessID")
	KeyThreadID                 = event.MakeKey("ThreadID")
	KeyChannel                  = event.MakeKey("Channel")
	KeyComputer                 = event.MakeKey("Computer")
	KeyProviderName             = event.MakeKey("Provider_Name")
	KeyProviderGuid             = event.MakeKey("Provider_Guid")
	KeySecurityUserID           = event.MakeKey("Security_UserID")
	KeyQualifiers               = event.MakeKey("Qualifiers")
	KeyProviderEventSourceName  = event.MakeKey("Provider_EventSourceName")
	KeyData                     = event.MakeKey("Data")
	KeyBinary                   = event.MakeKey("Binary")
)

// TimeLayout is how TimeCreated is rendered: Windows' own XML form.
const TimeLayout = "2006-01-02T15:04:05.0000000Z"
