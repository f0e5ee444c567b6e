package zeek

import (
	"math"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// record holds the values of one Zeek record that normalization reads, by slot.
// Multi-valued fields (sets, vectors, JSON arrays) are kept joined by sep.
type record struct {
	vals [numSlots]string
	used []slot // slots set since the last reset, so reset clears only those
	sep  byte
}

func (r *record) set(s slot, v string) {
	r.vals[s] = v
	r.used = append(r.used, s)
}

func (r *record) reset(sep byte) {
	for _, s := range r.used {
		r.vals[s] = ""
	}
	r.used = r.used[:0]
	r.sep = sep
}

// normalizer fills an event's ECS core from a record. It owns a scratch buffer for
// the few values it must build (file paths), backed by the decoder's arena.
type normalizer struct {
	arena *decode.Arena
	buf   []byte
}

// normalize fills e from r, the record of a log of type lt.
func (n *normalizer) normalize(e *event.Event, lt *logType, r *record) {
	e.SetStr(event.EventKind, "event")
	e.SetStr(event.EventModule, "zeek")
	e.SetStr(event.EventDataset, lt.dataset)
	common(e, r)
	switch lt.kind {
	case pConn:
		conn(e, r)
	case pDNS:
		dns(e, r)
	case pHTTP:
		httpLog(e, r)
	case pSSL:
		ssl(e, r)
	case pSSH:
		ssh(e, r)
	case pKerberos:
		kerberos(e, r)
	case pNTLM:
		ntlm(e, r)
	case pRDP:
		rdp(e, r)
	case pSMBFiles:
		n.smbFiles(e, r)
	case pSMBMapping:
		protocol(e, "smb")
		e.Type |= event.TypeAccess
	case pDCERPC:
		protocol(e, "dce_rpc")
		e.SetStr(event.EventAction, r.vals[sOperation])
	case pFiles:
		files(e, r)
	case pX509:
		x509(e, r)
	case pNotice:
		notice(e, r)
	case pWeird:
		weird(e, r)
	case pDHCP:
		dhcp(e, r)
	case pSoftware:
		software(e, r)
	case pOther:
		if e.Category.Has(event.CatNetwork) {
			e.Type |= event.TypeConnection | event.TypeProtocol
		}
	}
}

// common maps the connection id and uid that most Zeek logs carry.
func common(e *event.Event, r *record) {
	setIP(e, event.SourceIP, r.vals[sOrigH])
	setIP(e, event.DestinationIP, r.vals[sRespH])
	setNum(e, event.SourcePort, r.vals[sOrigP])
	setNum(e, event.DestinationPort, r.vals[sRespP])
	if r.vals[sOrigH] != "" || r.vals[sRespH] != "" {
		e.Category |= event.CatNetwork
	}
	e.SetStr(event.EventID, r.vals[sUID])
	e.SetStr(event.NetworkTransport, r.vals[sProto])
	e.SetStr(event.NetworkCommunityID, r.vals[sCommunityID])
}

func protocol(e *event.Event, name string) {
	e.Category |= event.CatNetwork
	e.Type |= event.TypeConnection | event.TypeProtocol
	e.SetStr(event.NetworkProtocol, name)
}

func conn(e *event.Event, r *record) {
	e.Category |= event.CatNetwork
	e.Type |= event.TypeConnection
	e.SetStr(event.NetworkProtocol, r.vals[sService])
	sb, okS := setNum(e, event.SourceBytes, r.vals[sOrigBytes])
	db, okD := setNum(e, event.DestinationBytes, r.vals[sRespBytes])
	if okS || okD {
		e.SetNum(event.NetworkBytes, sb+db)
	}
	sp, okS := setNum(e, event.SourcePackets, r.vals[sOrigPkts])
	dp, okD := setNum(e, event.DestinationPackets, r.vals[sRespPkts])
	if okS || okD {
		e.SetNum(event.NetworkPackets, sp+dp)
	}
	if ns, ok := parseSecondsNS(r.vals[sDuration]); ok {
		e.SetNum(event.EventDurationNS, ns)
	}
	e.SetStr(event.SourceMAC, r.vals[sOrigL2])
	e.SetStr(event.DestinationMAC, r.vals[sRespL2])
	connState(e, r.vals[sConnState])
	if lo, lr := r.vals[sLocalOrig], r.vals[sLocalResp]; lo != "" && lr != "" {
		e.SetStr(event.NetworkDirection, direction(isTrue(lo), isTrue(lr)))
	}
}

// connState maps Zeek's conn_state to event.outcome and start/end types: a
// connection that was established succeeded; one attempted and refused or never
// answered failed; midstream traffic (OTH) is unknown.
func connState(e *event.Event, s string) {
	switch s {
	case "SF", "S2", "S3", "RSTO", "RSTR":
		e.SetStr(event.EventOutcome, "success")
		e.Type |= event.TypeStart | event.TypeEnd
	case "S1":
		e.SetStr(event.EventOutcome, "success")
		e.Type |= event.TypeStart
	case "REJ", "RSTOS0", "RSTRH", "SH", "SHR":
		e.SetStr(event.EventOutcome, "failure")
		e.Type |= event.TypeStart | event.TypeEnd
	case "S0":
		e.SetStr(event.EventOutcome, "failure")
		e.Type |= event.TypeStart
	case "OTH":
		e.SetStr(event.EventOutcome, "unknown")
	}
}

// direction is Elastic's network.direction from Zeek's local_orig/local_resp.
func direction(localOrig, localResp bool) string {
	switch {
	case localOrig && localResp:
		return "internal"
	case localOrig:
		return "outbound"
	case localResp:
		return "inbound"
	}
	return "external"
}

func dns(e *event.Event, r *record) {
	protocol(e, "dns")
	e.SetStr(event.DNSQuestionName, r.vals[sQuery])
	e.SetStr(event.DNSQuestionType, r.vals[sQtypeName])
	e.SetStr(event.DNSResponseCode, r.vals[sRcodeName])
	ans := r.vals[sAnswers]
	e.SetStr(event.DNSAnswers, ans)
	eachElem(ans, r.sep, func(v string) {
		if a := event.ParseIP(v); a.IsValid() {
			e.AddRelatedIP(a)
		}
	})
}

func httpLog(e *event.Event, r *record) {
	protocol(e, "http")
	e.Category |= event.CatWeb
	e.SetStr(event.HTTPRequestMethod, r.vals[sMethod])
	uri := r.vals[sURI]
	e.SetStr(event.URLOriginal, uri)
	path, query, _ := strings.Cut(uri, "?")
	if i := strings.IndexByte(path, '#'); i >= 0 {
		path = path[:i]
	}
	e.SetStr(event.URLPath, path)
	e.SetStr(event.URLQuery, query)
	e.SetStr(event.URLDomain, r.vals[sHost])
	e.SetStr(event.UserAgentOriginal, r.vals[sUserAgent])
	e.SetStr(event.HTTPRequestReferrer, r.vals[sReferrer])
	e.SetStr(event.HTTPVersion, r.vals[sVersion])
	setNum(e, event.HTTPResponseStatusCode, r.vals[sStatusCode])
	setNum(e, event.HTTPRequestBodyBytes, r.vals[sReqBodyLen])
	setNum(e, event.HTTPResponseBodyBytes, r.vals[sRespBodyLen])
	e.SetUser(event.ParseUser(r.vals[sUsername]))
}

// tlsVersions maps Zeek's ssl.log version to ECS tls.version.
var tlsVersions = map[string]string{
	"TLSv10": "1.0", "TLSv11": "1.1", "TLSv12": "1.2", "TLSv13": "1.3",
	"SSLv2": "2.0", "SSLv3": "3.0", "DTLSv10": "1.0", "DTLSv12": "1.2", "DTLSv13": "1.3",
}

func ssl(e *event.Event, r *record) {
	protocol(e, "tls")
	if v, ok := tlsVersions[r.vals[sVersion]]; ok {
		e.SetStr(event.TLSVersion, v)
	}
	e.SetStr(event.TLSCipher, r.vals[sCipher])
	e.SetStr(event.TLSServerName, r.vals[sServerName])
	e.SetStr(event.TLSServerSubject, r.vals[sSubject])
	e.SetStr(event.TLSServerIssuer, r.vals[sIssuer])
	e.SetStr(event.TLSClientJA3, r.vals[sJA3])
	setOutcome(e, r.vals[sEstablished])
}

func ssh(e *event.Event, r *record) {
	protocol(e, "ssh")
	attempts, _ := parseInt(r.vals[sAuthAttempts])
	if succ := r.vals[sAuthSuccess]; succ != "" || attempts > 0 {
		e.Category |= event.CatAuthentication
		e.Type |= event.TypeInfo
		setOutcome(e, succ)
	}
	switch strings.ToUpper(r.vals[sDirection]) {
	case "INBOUND":
		e.SetStr(event.NetworkDirection, "inbound")
	case "OUTBOUND":
		e.SetStr(event.NetworkDirection, "outbound")
	}
}

func kerberos(e *event.Event, r *record) {
	protocol(e, "kerberos")
	e.Category |= event.CatAuthentication
	e.Type |= event.TypeInfo
	e.SetStr(event.EventAction, r.vals[sRequestType])
	// Zeek writes the client as "name/REALM".
	if c := r.vals[sClient]; c != "" {
		name, realm := c, ""
		if i := strings.LastIndexByte(c, '/'); i > 0 {
			name, realm = c[:i], c[i+1:]
		}
		e.SetUser(event.CanonicalUser(name, realm))
	}
	setOutcome(e, r.vals[sSuccess])
	e.SetStr(event.EventReason, r.vals[sErrorMsg])
}

func ntlm(e *event.Event, r *record) {
	protocol(e, "ntlm")
	e.Category |= event.CatAuthentication
	e.Type |= event.TypeInfo
	e.SetUser(event.CanonicalUser(r.vals[sUsername], r.vals[sDomainname]))
	setDomain(e, event.SourceDomain, r.vals[sHostname])
	if h := r.vals[sServerDNSName]; h != "" {
		setDomain(e, event.DestinationDomain, h)
	} else {
		setDomain(e, event.DestinationDomain, r.vals[sServerNBName])
	}
	setOutcome(e, r.vals[sSuccess])
}

func rdp(e *event.Event, r *record) {
	protocol(e, "rdp")
	// The cookie is the user name the client announced (mstshash=...).
	e.SetUser(event.ParseUser(r.vals[sCookie]))
	setDomain(e, event.SourceDomain, r.vals[sClientName])
	switch res := r.vals[sResult]; {
	case res == "":
	case strings.EqualFold(res, "Success"):
		e.SetStr(event.EventOutcome, "success")
	default:
		e.SetStr(event.EventOutcome, "failure")
	}
}

func (n *normalizer) smbFiles(e *event.Event, r *record) {
	protocol(e, "smb")
	e.Category |= event.CatFile
	action := r.vals[sAction]
	e.SetStr(event.EventAction, action)
	switch strings.TrimPrefix(action, "SMB::") {
	case "FILE_OPEN", "FILE_READ", "FILE_CLOSE", "PRINT_READ":
		e.Type |= event.TypeAccess
	case "FILE_WRITE", "FILE_RENAME", "FILE_SET_ATTRIBUTE", "PRINT_WRITE":
		e.Type |= event.TypeChange
	case "FILE_DELETE":
		e.Type |= event.TypeDeletion
	}
	name := r.vals[sName]
	if name != "" {
		share := r.vals[sPath]
		if share != "" {
			n.buf = append(n.buf[:0], share...)
			if !strings.HasSuffix(share, `\`) && name[0] != '\\' {
				n.buf = append(n.buf, '\\')
			}
			n.buf = append(n.buf, name...)
			e.SetStr(event.FilePath, n.arena.String(n.buf))
		} else {
			e.SetStr(event.FilePath, name)
		}
		base := name[strings.LastIndexAny(name, `\/`)+1:]
		e.SetStr(event.FileName, base)
		if i := strings.LastIndexByte(base, '.'); i >= 0 && i < len(base)-1 {
			e.SetStr(event.FileExtension, base[i+1:])
		}
	}
	setNum(e, event.FileSize, r.vals[sSize])
}

func files(e *event.Event, r *record) {
	e.Category |= event.CatFile
	e.Type |= event.TypeInfo
	e.SetStrIfEmpty(event.EventID, r.vals[sFUID])
	e.SetStr(event.FileName, r.vals[sFilename])
	if _, ok := setNum(e, event.FileSize, r.vals[sTotalBytes]); !ok {
		setNum(e, event.FileSize, r.vals[sSeenBytes])
	}
	e.SetStr(event.FileHashSHA256, r.vals[sSHA256])
	e.AddRelatedHash(r.vals[sMD5])
	e.AddRelatedHash(r.vals[sSHA1])
	e.AddRelatedHash(r.vals[sSHA256])
	addRelatedIPs(e, r.vals[sTxHosts], r.sep)
	addRelatedIPs(e, r.vals[sRxHosts], r.sep)
}

func x509(e *event.Event, r *record) {
	e.Category |= event.CatNetwork
	e.Type |= event.TypeInfo
	e.SetStrIfEmpty(event.EventID, r.vals[sFileID])
	e.SetStr(event.TLSServerSubject, r.vals[sCertSubject])
	e.SetStr(event.TLSServerIssuer, r.vals[sCertIssuer])
	e.AddRelatedHash(r.vals[sFingerprint])
	eachElem(r.vals[sSANDNS], r.sep, func(v string) { e.AddRelatedHost(event.CanonicalHost(v).FQDN) })
}

func notice(e *event.Event, r *record) {
	e.SetStr(event.EventKind, "alert")
	e.Category |= event.CatIntrusionDetection | event.CatNetwork
	e.Type |= event.TypeInfo
	e.SetStr(event.EventAction, r.vals[sNote])
	e.SetStr(event.EventReason, r.vals[sMsg])
	e.SetStr(event.Message, r.vals[sMsg])
	if r.vals[sOrigH] == "" {
		setIP(e, event.SourceIP, r.vals[sSrc])
	}
	if r.vals[sRespH] == "" {
		setIP(e, event.DestinationIP, r.vals[sDst])
	}
	if r.vals[sRespP] == "" {
		setNum(e, event.DestinationPort, r.vals[sP])
	}
}

func weird(e *event.Event, r *record) {
	e.SetStr(event.EventKind, "alert")
	e.Category |= event.CatIntrusionDetection | event.CatNetwork
	e.Type |= event.TypeInfo
	e.SetStr(event.EventAction, r.vals[sName])
	e.SetStr(event.EventReason, r.vals[sName])
}

func dhcp(e *event.Event, r *record) {
	protocol(e, "dhcp")
	if r.vals[sOrigH] == "" {
		setIP(e, event.SourceIP, r.vals[sClientAddr])
	}
	if r.vals[sRespH] == "" {
		setIP(e, event.DestinationIP, r.vals[sServerAddr])
	}
	e.SetStr(event.SourceMAC, r.vals[sMAC])
	if h := r.vals[sClientFQDN]; h != "" {
		setDomain(e, event.SourceDomain, h)
	} else {
		setDomain(e, event.SourceDomain, r.vals[sHostName])
	}
	e.AddRelatedIP(event.ParseIP(r.vals[sAssignedAddr]))
}

func software(e *event.Event, r *record) {
	e.Category |= event.CatNetwork
	e.Type |= event.TypeInfo
	setIP(e, event.HostIP, r.vals[sHost])
	t := r.vals[sSoftwareType]
	e.SetStr(event.EventAction, t)
	if t == "HTTP::BROWSER" {
		e.SetStr(event.UserAgentOriginal, r.vals[sUnparsedVersion])
	}
}

// setDomain sets a source/destination domain and records the host in related.hosts.
func setDomain(e *event.Event, f event.StrField, name string) {
	h := event.CanonicalHost(name)
	if h.FQDN == "" {
		return
	}
	e.SetStr(f, name)
	e.AddRelatedHost(h.FQDN)
}

func setIP(e *event.Event, f event.IPField, s string) {
	if s == "" {
		return
	}
	e.SetIP(f, event.ParseIP(s))
}

// setNum parses s as an integer and sets f when it parses.
func setNum(e *event.Event, f event.NumField, s string) (int64, bool) {
	v, ok := parseInt(s)
	if ok {
		e.SetNum(f, v)
	}
	return v, ok
}

func parseInt(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// JSON writers may print counts as floats ("2.0").
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return 0, false
		}
		return int64(f), true
	}
	return v, true
}

// parseSecondsNS parses a Zeek interval (decimal seconds, "0.104134") as
// nanoseconds without float rounding; exponent forms fall back to float parsing.
func parseSecondsNS(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	neg := false
	t := s
	if t[0] == '-' {
		neg, t = true, t[1:]
	}
	ip, frac, _ := strings.Cut(t, ".")
	sec, err := strconv.ParseUint(nonEmpty(ip), 10, 63)
	if err != nil || sec > math.MaxInt64/1_000_000_000-1 {
		return parseFloatNS(s)
	}
	if len(frac) > 9 {
		frac = frac[:9]
	}
	var ns uint64
	if frac != "" {
		ns, err = strconv.ParseUint(frac, 10, 32)
		if err != nil {
			return parseFloatNS(s)
		}
		for i := len(frac); i < 9; i++ {
			ns *= 10
		}
	}
	v := int64(sec)*1e9 + int64(ns)
	if neg {
		v = -v
	}
	return v, true
}

func nonEmpty(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func parseFloatNS(s string) (int64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > math.MaxInt64/1e9 {
		return 0, false
	}
	return int64(f * 1e9), true
}

// isTrue reads a Zeek bool as TSV ("T") or JSON ("true") writes it.
func isTrue(s string) bool { return s == "true" || s == "T" }

// setOutcome sets event.outcome from a Zeek bool.
func setOutcome(e *event.Event, b string) {
	switch b {
	case "true", "T":
		e.SetStr(event.EventOutcome, "success")
	case "false", "F":
		e.SetStr(event.EventOutcome, "failure")
	}
}

// eachElem calls fn with each element of a joined multi-valued field.
func eachElem(s string, sep byte, fn func(string)) {
	for s != "" {
		i := strings.IndexByte(s, sep)
		if i < 0 {
			fn(s)
			return
		}
		fn(s[:i])
		s = s[i+1:]
	}
}

func addRelatedIPs(e *event.Event, s string, sep byte) {
	eachElem(s, sep, func(v string) { e.AddRelatedIP(event.ParseIP(v)) })
}
