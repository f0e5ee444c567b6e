package winevt

import (
	"github.com/vigilsec/vigil/internal/event"
)

// Channels and providers Normalize recognises.
const (
	chSysmon     = "Microsoft-Windows-Sysmon/Operational"
	chSecurity   = "Security"
	chSystem     = "System"
	chPowerShell = "Microsoft-Windows-PowerShell/Operational"
	chDefender   = "Microsoft-Windows-Windows Defender/Operational"
	provSysmon   = "Microsoft-Windows-Sysmon"
	provSecurity = "Microsoft-Windows-Security-Auditing"
	provEventlog = "Microsoft-Windows-Eventlog"
	provSCM      = "Service Control Manager"
	provDefender = "Microsoft-Windows-Windows Defender"
	provPS       = "Microsoft-Windows-PowerShell"
)

// Keywords bits of the Security log's audit outcome.
const (
	kwAuditFailure = 0x0010000000000000
	kwAuditSuccess = 0x0020000000000000
)

// Normalize fills the ECS core of e from its Windows raw fields (see the package
// doc for their names). e.Timestamp must already be set by the decoder. Events
// Normalize does not know keep the System normalization only; missing or malformed
// fields are skipped, never fatal. Decoders of a stream use a Normalizer, which
// caches what repeats.
func Normalize(e *event.Event) {
	var n Normalizer
	n.Normalize(e)
}

// Normalize is the package's Normalize with n's caches.
func (n *Normalizer) Normalize(ev *event.Event) {
	n.raw.index(ev)
	e := winEvent{Event: ev, raw: &n.raw}
	code := get(e, KeyEventID)
	ch := get(e, KeyChannel)
	prov := get(e, KeyProviderName)
	comp := get(e, KeyComputer)

	e.SetStr(event.EventKind, "event")
	e.SetStr(event.EventModule, "windows")
	e.SetStr(event.EventCode, code)
	e.SetStr(event.EventProvider, prov)
	e.SetStr(event.WinlogChannel, ch)
	e.SetStr(event.WinlogProviderName, prov)
	e.SetStr(event.WinlogComputerName, comp)
	e.SetStr(event.HostOSType, "windows")
	n.setHost(e, comp)
	id, ok := atoi(code)
	if ok {
		e.SetNum(event.WinlogEventID, id)
	} else {
		id = -1
	}
	if rec, ok := atoi(get(e, KeyEventRecordID)); ok {
		e.SetNum(event.WinlogRecordID, rec)
	}
	if l := levelName(get(e, KeyLevel)); l != "" {
		e.SetStr(event.LogLevel, l)
	}

	switch {
	case ch == chSysmon || (ch == "" && prov == provSysmon):
		e.SetStr(event.EventDataset, "windows.sysmon_operational")
		n.sysmon(e, id)
	case ch == chSecurity:
		e.SetStr(event.EventDataset, "windows.security")
		auditOutcome(e)
		n.security(e, id, prov)
	case ch == chSystem:
		e.SetStr(event.EventDataset, "windows.system")
		n.system(e, id, prov)
	case ch == chPowerShell:
		e.SetStr(event.EventDataset, "windows.powershell_operational")
		n.powershell(e, id)
	case ch == chDefender || (ch == "" && prov == provDefender):
		e.SetStr(event.EventDataset, "windows.defender_operational")
		n.defender(e, id)
	}
}

// auditOutcome sets event.outcome from the Security log's audit keywords.
func auditOutcome(e winEvent) {
	kw, ok := parseUint(get(e, KeyKeywords))
	switch {
	case !ok:
	case kw&kwAuditSuccess != 0:
		e.SetStr(event.EventOutcome, "success")
	case kw&kwAuditFailure != 0:
		e.SetStr(event.EventOutcome, "failure")
	}
}

// classify sets the ECS categorization and action in one call.
func classify(e winEvent, c event.Category, t event.Type, action string) {
	e.Category |= c
	e.Type |= t
	e.SetStr(event.EventAction, action)
}

func levelName(s string) string {
	switch s {
	case "0", "4":
		return "information"
	case "1":
		return "critical"
	case "2":
		return "error"
	case "3":
		return "warning"
	case "5":
		return "verbose"
	}
	return ""
}

func (n *Normalizer) system(e winEvent, id int64, prov string) {
	switch {
	case id == 7045 && prov == provSCM:
		classify(e, event.CatConfiguration, event.TypeCreation, "service-installed")
		setStr(e, event.ServiceName, kServiceName)
	case id == 7036 && prov == provSCM:
		classify(e, event.CatConfiguration, event.TypeChange, "service-state-changed")
		setStr(e, event.ServiceName, kParam1)
	case id == 7040 && prov == provSCM:
		classify(e, event.CatConfiguration, event.TypeChange, "service-start-type-changed")
		setStr(e, event.ServiceName, kParam1)
	case id == 104 && prov == provEventlog:
		classify(e, event.CatConfiguration, event.TypeDeletion, "log-cleared")
		n.setUser(e, get(e, kSubjectUserName), get(e, kSubjectDomainName))
	}
}

func (n *Normalizer) powershell(e winEvent, id int64) {
	switch id {
	case 4103:
		classify(e, event.CatProcess, event.TypeInfo, "powershell-pipeline-executed")
		ctx := get(e, kContextInfo)
		if v := contextValue(ctx, "Host Application"); v != "" {
			e.SetStr(event.ProcessCommandLine, v)
		}
		if v := contextValue(ctx, "User"); v != "" {
			n.setUser(e, v, "")
		}
		if v := contextValue(ctx, "Script Name"); v != "" {
			setFile(e, v)
		}
		setStr(e, event.UserID, KeySecurityUserID)
	case 4104:
		classify(e, event.CatProcess, event.TypeInfo, "powershell-script-block-logged")
		if p := val(e, kPath); p != "" {
			setFile(e, p)
		}
		setStr(e, event.UserID, KeySecurityUserID)
	}
}

// contextValue returns the value of "name = value" in a PowerShell 4103
// ContextInfo block (lines of "        Name = value").
func contextValue(ctx, name string) string {
	for len(ctx) > 0 {
		line := ctx
		if i := indexByte(ctx, '\n'); i >= 0 {
			line, ctx = ctx[:i], ctx[i+1:]
		} else {
			ctx = ""
		}
		line = trimSpace(line)
		if len(line) > len(name)+2 && line[:len(name)] == name {
			rest := trimSpace(line[len(name):])
			if len(rest) > 0 && rest[0] == '=' {
				return trimSpace(rest[1:])
			}
		}
	}
	return ""
}

func (n *Normalizer) defender(e winEvent, id int64) {
	switch id {
	case 1116:
		classify(e, event.CatMalware|event.CatIntrusionDetection, event.TypeInfo, "malware-detected")
	case 1117:
		classify(e, event.CatMalware|event.CatIntrusionDetection, event.TypeInfo, "malware-action-taken")
		e.SetStr(event.EventOutcome, "success")
	case 1118:
		classify(e, event.CatMalware|event.CatIntrusionDetection, event.TypeInfo, "malware-action-failed")
		e.SetStr(event.EventOutcome, "failure")
	case 1119:
		classify(e, event.CatMalware|event.CatIntrusionDetection, event.TypeInfo, "malware-action-critically-failed")
		e.SetStr(event.EventOutcome, "failure")
	default:
		return
	}
	e.SetStr(event.EventKind, "alert")
	setStr(e, event.EventReason, kThreatName)
	if p := val(e, kDefProcessName); p != "" && p != "Unknown" {
		setExecutable(e, p)
	}
	if p := val(e, kPath); len(p) > 6 && p[:6] == "file:_" {
		// "file:_C:\dir\x.exe"; several resources are joined by "; ", and
		// other schemes (amsi:_, regkey:_, process:_) are not files.
		p = p[6:]
		if i := indexByte(p, ';'); i >= 0 {
			p = p[:i]
		}
		setFile(e, p)
	}
	n.setUser(e, get(e, kDetectionUser), "")
}

// val is get with Windows' placeholders ("-", "") read as absent.
func val(e winEvent, k event.Key) string {
	v := get(e, k)
	if v == "-" {
		return ""
	}
	return v
}

// setStr copies raw field k into f unless it is absent or a placeholder.
func setStr(e winEvent, f event.StrField, k event.Key) {
	if v := val(e, k); v != "" {
		e.SetStr(f, v)
	}
}

// setPID parses raw field k (decimal or 0x hex) into f.
func setPID(e winEvent, f event.NumField, k event.Key) {
	if p, ok := parsePID(get(e, k)); ok && p != 0 { // 0 stands for none
		e.SetNum(f, p)
	}
}

// setExecutable sets process.executable and process.name.
func setExecutable(e winEvent, exe string) {
	if exe == "" || exe == "-" {
		return
	}
	e.SetStr(event.ProcessExecutable, exe)
	e.SetStr(event.ProcessName, baseName(exe))
}

// setParentExecutable sets process.parent.executable and process.parent.name.
func setParentExecutable(e winEvent, exe string) {
	if exe == "" || exe == "-" {
		return
	}
	e.SetStr(event.ProcessParentExecutable, exe)
	e.SetStr(event.ProcessParentName, baseName(exe))
}

// setFile sets file.path, name, directory and extension from a path.
func setFile(e winEvent, p string) {
	if p == "" || p == "-" {
		return
	}
	e.SetStr(event.FilePath, p)
	i := lastSep(p)
	name := p[i+1:]
	e.SetStr(event.FileName, name)
	if i > 0 {
		e.SetStr(event.FileDirectory, p[:i])
	}
	if j := lastByte(name, '.'); j >= 0 && j < len(name)-1 {
		e.SetStr(event.FileExtension, name[j+1:])
	}
}

// setSourceIP sets source.ip and source.port from raw fields.
func setSource(e winEvent, ipKey, portKey event.Key) {
	e.SetIP(event.SourceIP, event.ParseIP(get(e, ipKey)))
	if p, ok := atoi(get(e, portKey)); ok && p > 0 && p < 65536 {
		e.SetNum(event.SourcePort, p)
	}
}

func setDestination(e winEvent, ipKey, portKey event.Key) {
	e.SetIP(event.DestinationIP, event.ParseIP(get(e, ipKey)))
	if p, ok := atoi(get(e, portKey)); ok && p > 0 && p < 65536 {
		e.SetNum(event.DestinationPort, p)
	}
}
