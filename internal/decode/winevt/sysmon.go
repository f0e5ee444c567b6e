package winevt

import "github.com/vigilsec/vigil/internal/event"

// sysmon normalizes Microsoft-Windows-Sysmon/Operational events.
func (n *Normalizer) sysmon(e winEvent, id int64) {
	switch id {
	case 1:
		classify(e, event.CatProcess, event.TypeStart, "process-created")
		n.sysmonProcess(e)
		setStr(e, event.ProcessCommandLine, kCommandLine)
		setStr(e, event.ProcessWorkingDirectory, kCurrentDirectory)
		setStr(e, event.ProcessIntegrityLevel, kIntegrityLevel)
		setStr(e, event.WinlogLogonID, kLogonID)
		n.setHashes(e, get(e, kHashes), hashProcess)
		setParentExecutable(e, val(e, kParentImage))
		setStr(e, event.ProcessParentCommandLine, kParentCommandLine)
		setStr(e, event.ProcessParentEntityID, kParentProcessGuid)
		setPID(e, event.ProcessParentPID, kParentProcessID)
		n.relatedUser(e, get(e, kParentUser), "")
	case 2:
		classify(e, event.CatFile, event.TypeChange, "file-creation-time-changed")
		n.sysmonProcess(e)
		setFile(e, val(e, kTargetFilename))
	case 3:
		classify(e, event.CatNetwork, event.TypeConnection|event.TypeStart, "network-connection")
		n.sysmonProcess(e)
		sysmonNetwork(e)
	case 5:
		classify(e, event.CatProcess, event.TypeEnd, "process-terminated")
		n.sysmonProcess(e)
	case 6:
		classify(e, event.CatDriver, event.TypeStart, "driver-loaded")
		setFile(e, val(e, kImageLoaded))
		n.setHashes(e, get(e, kHashes), hashFile)
	case 7:
		classify(e, event.CatLibrary, event.TypeStart, "image-loaded")
		n.sysmonProcess(e)
		setFile(e, val(e, kImageLoaded))
		n.setHashes(e, get(e, kHashes), hashFile)
	case 8:
		classify(e, event.CatProcess, event.TypeChange, "remote-thread-created")
		n.sysmonSourceProcess(e)
	case 10:
		classify(e, event.CatProcess, event.TypeAccess, "process-accessed")
		n.sysmonSourceProcess(e)
	case 11:
		classify(e, event.CatFile, event.TypeCreation, "file-created")
		n.sysmonProcess(e)
		setFile(e, val(e, kTargetFilename))
	case 12:
		n.sysmonProcess(e)
		switch get(e, kEventType) {
		case "DeleteKey":
			classify(e, event.CatRegistry|event.CatConfiguration, event.TypeDeletion, "registry-key-deleted")
			setRegistry(e, get(e, kTargetObject), false)
		case "DeleteValue":
			classify(e, event.CatRegistry|event.CatConfiguration, event.TypeDeletion, "registry-value-deleted")
			setRegistry(e, get(e, kTargetObject), true)
		default: // CreateKey
			classify(e, event.CatRegistry|event.CatConfiguration, event.TypeCreation, "registry-key-created")
			setRegistry(e, get(e, kTargetObject), false)
		}
	case 13:
		classify(e, event.CatRegistry|event.CatConfiguration, event.TypeChange, "registry-value-set")
		n.sysmonProcess(e)
		setRegistry(e, get(e, kTargetObject), true)
		if d := get(e, kDetails); d != "" {
			e.SetStr(event.RegistryDataStrings, d)
			e.SetStr(event.RegistryDataType, registryDataType(d))
		}
	case 14:
		classify(e, event.CatRegistry|event.CatConfiguration, event.TypeChange, "registry-key-renamed")
		n.sysmonProcess(e)
		setRegistry(e, get(e, kTargetObject), false)
	case 15:
		classify(e, event.CatFile, event.TypeCreation, "file-stream-created")
		n.sysmonProcess(e)
		setFile(e, val(e, kTargetFilename))
		n.setHashes(e, sysmonHashes(e), hashFile)
	case 17:
		classify(e, event.CatFile, event.TypeCreation, "pipe-created")
		n.sysmonProcess(e)
		setStr(e, event.FileName, kPipeName)
	case 18:
		classify(e, event.CatFile, event.TypeAccess, "pipe-connected")
		n.sysmonProcess(e)
		setStr(e, event.FileName, kPipeName)
	case 22:
		classify(e, event.CatNetwork, event.TypeConnection|event.TypeProtocol|event.TypeInfo, "dns-query")
		n.sysmonProcess(e)
		e.SetStr(event.NetworkProtocol, "dns")
		setStr(e, event.DNSQuestionName, kQueryName)
		if rc := dnsResponseCode(get(e, kQueryStatus)); rc != "" {
			e.SetStr(event.DNSResponseCode, rc)
		}
		if r := val(e, kQueryResults); r != "" {
			e.SetStr(event.DNSAnswers, r)
			addDNSResultIPs(e, r)
		}
	case 23, 26:
		classify(e, event.CatFile, event.TypeDeletion, "file-deleted")
		n.sysmonProcess(e)
		setFile(e, val(e, kTargetFilename))
		n.setHashes(e, sysmonHashes(e), hashFile)
	case 25:
		classify(e, event.CatProcess, event.TypeChange, "process-tampered")
		n.sysmonProcess(e)
	}
}

// sysmonHashes returns the Hashes field, or Hash as Sysmon names it in events 15 and 23.
func sysmonHashes(e winEvent) string {
	if h := get(e, kHashes); h != "" {
		return h
	}
	return get(e, kHash)
}

// sysmonProcess fills process.* and user.* from the acting process of most events.
func (n *Normalizer) sysmonProcess(e winEvent) {
	setExecutable(e, val(e, kImage))
	setPID(e, event.ProcessPID, kProcessID)
	setStr(e, event.ProcessEntityID, kProcessGuid)
	n.setUser(e, get(e, kUser), "")
}

// sysmonSourceProcess fills process.* from the Source* fields of events 8 and 10
// (the target process stays in the raw Target* fields).
func (n *Normalizer) sysmonSourceProcess(e winEvent) {
	setExecutable(e, val(e, kSourceImage))
	setPID(e, event.ProcessPID, kSourceProcessID)
	if g := val(e, kSourceProcessGUID); g != "" {
		e.SetStr(event.ProcessEntityID, g)
	} else {
		setStr(e, event.ProcessEntityID, kSourceProcessGuid)
	}
	n.setUser(e, get(e, kSourceUser), "")
}

// sysmonNetwork fills source/destination and network.* of event 3.
func sysmonNetwork(e winEvent) {
	if t := val(e, kProtocol); t != "" {
		e.SetStr(event.NetworkTransport, lowerASCII(t))
	}
	switch get(e, kInitiated) {
	case "true":
		e.SetStr(event.NetworkDirection, "egress")
	case "false":
		e.SetStr(event.NetworkDirection, "ingress")
	}
	setSource(e, kSourceIP, kSourcePort)
	setDestination(e, kDestinationIP, kDestinationPort)
	setStr(e, event.SourceDomain, kSourceHostname)
	setStr(e, event.DestinationDomain, kDestinationHostname)
}
