package event

// StrField identifies a normalized ECS keyword field held as a string.
// The ECS name of each is in strNames; Lookup resolves names to fields once.
type StrField uint8

// ECS keyword fields. Keep strNames in the same order.
const (
	EventKind StrField = iota
	EventAction
	EventOutcome
	EventCode
	EventProvider
	EventDataset
	EventModule
	EventID
	EventReason
	EventOriginalTZ

	HostName
	HostHostname
	HostDomain
	HostID
	HostOSType

	UserName
	UserDomain
	UserID
	UserEmail
	UserFullName
	UserTargetName
	UserTargetDomain
	UserTargetID
	UserEffectiveName

	SourceAddress
	SourceDomain
	SourceMAC
	SourceUserName
	DestinationAddress
	DestinationDomain
	DestinationMAC

	ProcessName
	ProcessExecutable
	ProcessCommandLine
	ProcessEntityID
	ProcessWorkingDirectory
	ProcessHashMD5
	ProcessHashSHA1
	ProcessHashSHA256
	ProcessHashImphash
	ProcessUserName
	ProcessIntegrityLevel
	ProcessParentName
	ProcessParentExecutable
	ProcessParentCommandLine
	ProcessParentEntityID

	FilePath
	FileName
	FileDirectory
	FileExtension
	FileTargetPath
	FileHashSHA256

	RegistryPath
	RegistryHive
	RegistryKey
	RegistryValue
	RegistryDataStrings
	RegistryDataType

	DNSQuestionName
	DNSQuestionType
	DNSResponseCode
	DNSAnswers

	URLOriginal
	URLFull
	URLDomain
	URLPath
	URLQuery
	URLScheme

	HTTPRequestMethod
	HTTPRequestReferrer
	HTTPVersion
	UserAgentOriginal

	NetworkTransport
	NetworkProtocol
	NetworkDirection
	NetworkCommunityID
	NetworkApplication

	TLSVersion
	TLSCipher
	TLSServerName
	TLSServerSubject
	TLSServerIssuer
	TLSClientJA3

	CloudProvider
	CloudRegion
	CloudAccountID
	CloudServiceName
	CloudInstanceID

	OrchestratorType
	OrchestratorNamespace
	OrchestratorResourceType
	OrchestratorResourceName
	OrchestratorResourceSubresource
	OrchestratorAPIVersion
	OrchestratorClusterName

	ServiceName
	ErrorMessage
	LogLevel
	Message

	WinlogChannel
	WinlogProviderName
	WinlogComputerName
	WinlogLogonType
	WinlogLogonID

	numStrFields
)

var strNames = [numStrFields]string{
	EventKind:       "event.kind",
	EventAction:     "event.action",
	EventOutcome:    "event.outcome",
	EventCode:       "event.code",
	EventProvider:   "event.provider",
	EventDataset:    "event.dataset",
	EventModule:     "event.module",
	EventID:         "event.id",
	EventReason:     "event.reason",
	EventOriginalTZ: "event.timezone",

	HostName:     "host.name",
	HostHostname: "host.hostname",
	HostDomain:   "host.domain",
	HostID:       "host.id",
	HostOSType:   "host.os.type",

	UserName:          "user.name",
	UserDomain:        "user.domain",
	UserID:            "user.id",
	UserEmail:         "user.email",
	UserFullName:      "user.full_name",
	UserTargetName:    "user.target.name",
	UserTargetDomain:  "user.target.domain",
	UserTargetID:      "user.target.id",
	UserEffectiveName: "user.effective.name",

	SourceAddress:      "source.address",
	SourceDomain:       "source.domain",
	SourceMAC:          "source.mac",
	SourceUserName:     "source.user.name",
	DestinationAddress: "destination.address",
	DestinationDomain:  "destination.domain",
	DestinationMAC:     "destination.mac",

	ProcessName:              "process.name",
	ProcessExecutable:        "process.executable",
	ProcessCommandLine:       "process.command_line",
	ProcessEntityID:          "process.entity_id",
	ProcessWorkingDirectory:  "process.working_directory",
	ProcessHashMD5:           "process.hash.md5",
	ProcessHashSHA1:          "process.hash.sha1",
	ProcessHashSHA256:        "process.hash.sha256",
	ProcessHashImphash:       "process.pe.imphash",
	ProcessUserName:          "process.user.name",
	ProcessIntegrityLevel:    "process.integrity_level",
	ProcessParentName:        "process.parent.name",
	ProcessParentExecutable:  "process.parent.executable",
	ProcessParentCommandLine: "process.parent.command_line",
	ProcessParentEntityID:    "process.parent.entity_id",

	FilePath:       "file.path",
	FileName:       "file.name",
	FileDirectory:  "file.directory",
	FileExtension:  "file.extension",
	FileTargetPath: "file.target_path",
	FileHashSHA256: "file.hash.sha256",

	RegistryPath:        "registry.path",
	RegistryHive:        "registry.hive",
	RegistryKey:         "registry.key",
	RegistryValue:       "registry.value",
	RegistryDataStrings: "registry.data.strings",
	RegistryDataType:    "registry.data.type",

	DNSQuestionName: "dns.question.name",
	DNSQuestionType: "dns.question.type",
	DNSResponseCode: "dns.response_code",
	DNSAnswers:      "dns.answers.data",

	URLOriginal: "url.original",
	URLFull:     "url.full",
	URLDomain:   "url.domain",
	URLPath:     "url.path",
	URLQuery:    "url.query",
	URLScheme:   "url.scheme",

	HTTPRequestMethod:   "http.request.method",
	HTTPRequestReferrer: "http.request.referrer",
	HTTPVersion:         "http.version",
	UserAgentOriginal:   "user_agent.original",

	NetworkTransport:   "network.transport",
	NetworkProtocol:    "network.protocol",
	NetworkDirection:   "network.direction",
	NetworkCommunityID: "network.community_id",
	NetworkApplication: "network.application",

	TLSVersion:       "tls.version",
	TLSCipher:        "tls.cipher",
	TLSServerName:    "tls.client.server_name",
	TLSServerSubject: "tls.server.subject",
	TLSServerIssuer:  "tls.server.issuer",
	TLSClientJA3:     "tls.client.ja3",

	CloudProvider:    "cloud.provider",
	CloudRegion:      "cloud.region",
	CloudAccountID:   "cloud.account.id",
	CloudServiceName: "cloud.service.name",
	CloudInstanceID:  "cloud.instance.id",

	OrchestratorType:                "orchestrator.type",
	OrchestratorNamespace:           "orchestrator.namespace",
	OrchestratorResourceType:        "orchestrator.resource.type",
	OrchestratorResourceName:        "orchestrator.resource.name",
	OrchestratorResourceSubresource: "orchestrator.resource.subresource",
	OrchestratorAPIVersion:          "orchestrator.api_version",
	OrchestratorClusterName:         "orchestrator.cluster.name",

	ServiceName:  "service.name",
	ErrorMessage: "error.message",
	LogLevel:     "log.level",
	Message:      "message",

	WinlogChannel:      "winlog.channel",
	WinlogProviderName: "winlog.provider_name",
	WinlogComputerName: "winlog.computer_name",
	WinlogLogonType:    "winlog.logon.type",
	WinlogLogonID:      "winlog.logon.id",
}

// Name returns the ECS name of f.
func (f StrField) Name() string {
	if f >= numStrFields {
		return ""
	}
	return strNames[f]
}

// NumField identifies a normalized ECS numeric field.
type NumField uint8

// ECS numeric fields. Keep numNames in the same order.
const (
	EventSeverity NumField = iota
	EventDurationNS
	SourcePort
	SourceBytes
	SourcePackets
	DestinationPort
	DestinationBytes
	DestinationPackets
	NetworkBytes
	NetworkPackets
	ProcessPID
	ProcessParentPID
	HTTPResponseStatusCode
	HTTPRequestBodyBytes
	HTTPResponseBodyBytes
	FileSize
	WinlogRecordID
	WinlogEventID

	numNumFields
)

var numNames = [numNumFields]string{
	EventSeverity:          "event.severity",
	EventDurationNS:        "event.duration",
	SourcePort:             "source.port",
	SourceBytes:            "source.bytes",
	SourcePackets:          "source.packets",
	DestinationPort:        "destination.port",
	DestinationBytes:       "destination.bytes",
	DestinationPackets:     "destination.packets",
	NetworkBytes:           "network.bytes",
	NetworkPackets:         "network.packets",
	ProcessPID:             "process.pid",
	ProcessParentPID:       "process.parent.pid",
	HTTPResponseStatusCode: "http.response.status_code",
	HTTPRequestBodyBytes:   "http.request.body.bytes",
	HTTPResponseBodyBytes:  "http.response.body.bytes",
	FileSize:               "file.size",
	WinlogRecordID:         "winlog.record_id",
	WinlogEventID:          "winlog.event_id",
}

// Name returns the ECS name of f.
func (f NumField) Name() string {
	if f >= numNumFields {
		return ""
	}
	return numNames[f]
}

// IPField identifies a normalized ECS IP address field.
type IPField uint8

// ECS IP fields. Keep ipNames in the same order.
const (
	SourceIP IPField = iota
	DestinationIP
	HostIP
	ClientIP

	numIPFields
)

var ipNames = [numIPFields]string{
	SourceIP:      "source.ip",
	DestinationIP: "destination.ip",
	HostIP:        "host.ip",
	ClientIP:      "client.ip",
}

// Name returns the ECS name of f.
func (f IPField) Name() string {
	if f >= numIPFields {
		return ""
	}
	return ipNames[f]
}
