package zeek

import "strings"

// slot names a Zeek field that normalization reads. Decoders resolve a column or
// JSON key to its slot once (per header, per key), then store the record's value in
// record.vals[slot], so normalization never looks a field up by name.
type slot uint8

// Slots of the fields normalization reads. sNone marks a field kept only as raw.
const (
	sNone slot = iota
	sTS
	sUID
	sOrigH
	sOrigP
	sRespH
	sRespP
	sProto
	sService
	sDuration
	sOrigBytes
	sRespBytes
	sConnState
	sLocalOrig
	sLocalResp
	sOrigPkts
	sRespPkts
	sCommunityID
	sOrigL2
	sRespL2
	sQuery
	sQtypeName
	sRcodeName
	sAnswers
	sMethod
	sHost
	sURI
	sReferrer
	sVersion
	sUserAgent
	sReqBodyLen
	sRespBodyLen
	sStatusCode
	sUsername
	sCipher
	sServerName
	sSubject
	sIssuer
	sEstablished
	sJA3
	sAuthSuccess
	sAuthAttempts
	sClient
	sServer
	sDirection
	sRequestType
	sSuccess
	sErrorMsg
	sHostname
	sDomainname
	sServerDNSName
	sServerNBName
	sCookie
	sResult
	sClientName
	sAction
	sPath
	sName
	sSize
	sOperation
	sEndpoint
	sFUID
	sFilename
	sMD5
	sSHA1
	sSHA256
	sTotalBytes
	sSeenBytes
	sTxHosts
	sRxHosts
	sFileID
	sCertSubject
	sCertIssuer
	sSANDNS
	sFingerprint
	sNote
	sMsg
	sSrc
	sDst
	sP
	sAddl
	sClientAddr
	sServerAddr
	sMAC
	sHostName
	sClientFQDN
	sAssignedAddr
	sSoftwareType
	sUnparsedVersion
	sZeekPath // _path (Zeek JSON) or @stream (HELK/Logstash)

	numSlots
)

// slotByName maps Zeek's field names (dotted, as the TSV header and Zeek's JSON
// writer spell them) to slots. Read-only after init.
var slotByName = map[string]slot{
	"ts":                       sTS,
	"uid":                      sUID,
	"id.orig_h":                sOrigH,
	"id.orig_p":                sOrigP,
	"id.resp_h":                sRespH,
	"id.resp_p":                sRespP,
	"proto":                    sProto,
	"service":                  sService,
	"duration":                 sDuration,
	"orig_bytes":               sOrigBytes,
	"resp_bytes":               sRespBytes,
	"conn_state":               sConnState,
	"local_orig":               sLocalOrig,
	"local_resp":               sLocalResp,
	"orig_pkts":                sOrigPkts,
	"resp_pkts":                sRespPkts,
	"community_id":             sCommunityID,
	"orig_l2_addr":             sOrigL2,
	"resp_l2_addr":             sRespL2,
	"query":                    sQuery,
	"qtype_name":               sQtypeName,
	"rcode_name":               sRcodeName,
	"answers":                  sAnswers,
	"method":                   sMethod,
	"host":                     sHost,
	"uri":                      sURI,
	"referrer":                 sReferrer,
	"version":                  sVersion,
	"user_agent":               sUserAgent,
	"request_body_len":         sReqBodyLen,
	"response_body_len":        sRespBodyLen,
	"status_code":              sStatusCode,
	"username":                 sUsername,
	"cipher":                   sCipher,
	"server_name":              sServerName,
	"subject":                  sSubject,
	"issuer":                   sIssuer,
	"established":              sEstablished,
	"ja3":                      sJA3,
	"auth_success":             sAuthSuccess,
	"auth_attempts":            sAuthAttempts,
	"client":                   sClient,
	"server":                   sServer,
	"direction":                sDirection,
	"request_type":             sRequestType,
	"success":                  sSuccess,
	"error_msg":                sErrorMsg,
	"hostname":                 sHostname,
	"domainname":               sDomainname,
	"server_dns_computer_name": sServerDNSName,
	"server_nb_computer_name":  sServerNBName,
	"cookie":                   sCookie,
	"result":                   sResult,
	"client_name":              sClientName,
	"action":                   sAction,
	"path":                     sPath,
	"name":                     sName,
	"size":                     sSize,
	"operation":                sOperation,
	"endpoint":                 sEndpoint,
	"fuid":                     sFUID,
	"filename":                 sFilename,
	"md5":                      sMD5,
	"sha1":                     sSHA1,
	"sha256":                   sSHA256,
	"total_bytes":              sTotalBytes,
	"seen_bytes":               sSeenBytes,
	"tx_hosts":                 sTxHosts,
	"rx_hosts":                 sRxHosts,
	"id":                       sFileID,
	"certificate.subject":      sCertSubject,
	"certificate.issuer":       sCertIssuer,
	"san.dns":                  sSANDNS,
	"fingerprint":              sFingerprint,
	"note":                     sNote,
	"msg":                      sMsg,
	"src":                      sSrc,
	"dst":                      sDst,
	"p":                        sP,
	"addl":                     sAddl,
	"client_addr":              sClientAddr,
	"server_addr":              sServerAddr,
	"mac":                      sMAC,
	"host_name":                sHostName,
	"client_fqdn":              sClientFQDN,
	"assigned_addr":            sAssignedAddr,
	"assigned_ip":              sAssignedAddr, // dhcp.log before Zeek 2.6
	"software_type":            sSoftwareType,
	"unparsed_version":         sUnparsedVersion,
	"_path":                    sZeekPath,
	"@stream":                  sZeekPath,
}

// scopePrefixes are the record-valued fields Zeek flattens with its scope separator
// ("id.orig_h"). Pipelines that set Log::default_scope_sep="_" or rewrite dots for
// Elasticsearch (HELK/Logstash: "id_orig_h") lose the dot; dottedName restores it so
// every decoder uses Zeek's dotted names and a rule is written once.
var scopePrefixes = []string{
	"id_", "certificate_", "san_", "basic_constraints_", "remote_location_", "times_", "version_",
}

// dottedName returns Zeek's dotted name for a JSON key written with "_" as the scope
// separator, or name unchanged.
func dottedName(name string) string {
	for _, p := range scopePrefixes {
		if len(name) > len(p) && strings.HasPrefix(name, p) {
			return name[:len(p)-1] + "." + name[len(p):]
		}
	}
	return name
}
