package csvlog

import (
	"errors"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
)

// role is what a column means to ECS, known from its header name.
type role uint8

const (
	roleNone role = iota
	roleSourceIP
	roleDestIP
	roleSourcePort
	roleDestPort
	roleUser
	roleUserID
	roleUserDomain
	roleAction
	roleProvider
	roleEventID
	roleEventType
	roleUserAgent
	roleHost
	roleURL
	roleMethod
	roleStatus
	roleMessage
	roleRegion
	roleAccount
	roleError
	roleErrorCode
	roleOutcome
	roleProcessName
	roleExecutable
	roleCommandLine
	rolePID
	roleLevel
	roleFilePath
	roleFileName
	roleTransport
	roleProtocol
)

// roles maps normalized header names (see normName) to their ECS meaning.
var roles = map[string]role{
	"sourceip": roleSourceIP, "srcip": roleSourceIP, "sourceipaddress": roleSourceIP, "clientip": roleSourceIP,
	"clientipaddress": roleSourceIP, "srcaddr": roleSourceIP, "sourceaddress": roleSourceIP, "remoteip": roleSourceIP,
	"remoteaddr": roleSourceIP, "remoteaddress": roleSourceIP, "callerip": roleSourceIP, "ipaddress": roleSourceIP,
	"ip": roleSourceIP, "cip": roleSourceIP, "cip1": roleSourceIP,

	"destinationip": roleDestIP, "dstip": roleDestIP, "destip": roleDestIP, "dstaddr": roleDestIP,
	"destinationaddress": roleDestIP, "serverip": roleDestIP, "sip": roleDestIP,

	"sourceport": roleSourcePort, "srcport": roleSourcePort, "sport": roleSourcePort, "clientport": roleSourcePort,
	"destinationport": roleDestPort, "dstport": roleDestPort, "dport": roleDestPort, "destport": roleDestPort,
	"serverport": roleDestPort,

	"user": roleUser, "username": roleUser, "account": roleUser, "accountname": roleUser, "login": roleUser,
	"loginname": roleUser, "userprincipalname": roleUser, "upn": roleUser, "subjectusername": roleUser,
	"userid": roleUserID, "uid": roleUserID,
	"domain": roleUserDomain, "userdomain": roleUserDomain, "accountdomain": roleUserDomain, "subjectdomainname": roleUserDomain,

	"eventname": roleAction, "action": roleAction, "operation": roleAction, "activity": roleAction, "eventaction": roleAction,
	"eventsource": roleProvider, "provider": roleProvider, "eventprovider": roleProvider, "providername": roleProvider,
	"eventid":   roleEventID,
	"eventtype": roleEventType,

	"useragent": roleUserAgent, "requestuseragent": roleUserAgent, "httpuseragent": roleUserAgent, "ua": roleUserAgent,
	"csuseragent": roleUserAgent,

	"host": roleHost, "hostname": roleHost, "computer": roleHost, "computername": roleHost, "device": roleHost,
	"devicename": roleHost, "machine": roleHost, "machinename": roleHost, "workstation": roleHost, "workstationname": roleHost,

	"url": roleURL, "uri": roleURL, "requesturl": roleURL, "requesturi": roleURL,
	"method": roleMethod, "httpmethod": roleMethod, "requestmethod": roleMethod, "csmethod": roleMethod,
	"statuscode": roleStatus, "httpstatus": roleStatus, "responsecode": roleStatus, "scstatus": roleStatus, "status": roleStatus,

	"message": roleMessage, "msg": roleMessage,
	"awsregion": roleRegion, "region": roleRegion,
	"recipientaccountid": roleAccount, "awsaccountid": roleAccount, "accountid": roleAccount,
	"errormessage": roleError, "error": roleError,
	"errorcode": roleErrorCode,
	"outcome":   roleOutcome, "result": roleOutcome,

	"processname": roleProcessName, "process": roleProcessName,
	"image": roleExecutable, "executable": roleExecutable, "processpath": roleExecutable,
	"commandline": roleCommandLine, "cmdline": roleCommandLine,
	"pid": rolePID, "processid": rolePID,
	"level": roleLevel, "loglevel": roleLevel,
	"filepath": roleFilePath, "targetfilename": roleFilePath,
	"filename":  roleFileName,
	"transport": roleTransport, "proto": roleTransport,
	"protocol": roleProtocol,
}

// userRanks orders user columns when a header has several: a login name beats a
// display name ("Username" over "User" in Entra ID exports).
var userRanks = map[string]int{
	"username": 2, "userprincipalname": 2, "upn": 2, "loginname": 2, "login": 2, "subjectusername": 2,
	"user": 1, "account": 1, "accountname": 1,
}

// timeNames are the normalized header names of event-time columns, tried first and
// in header order; then any column whose normalized name ends with "time", "date"
// or "timestamp".
var timeNames = map[string]bool{
	"time": true, "timestamp": true, "date": true, "datetime": true, "eventdatetime": true, "eventtime": true,
	"eventdate": true, "eventtimestamp": true, "timegenerated": true, "timecreated": true, "creationtime": true,
	"createdat": true, "ts": true, "dateandtime": true, "datetimeutc": true, "utctime": true, "logtime": true,
	"receivedtime": true, "timeutc": true, "timestamputc": true, "dateutc": true,
}

// normName folds a header for matching: lower-case ASCII letters and digits only,
// so "Source IP", "source_ip", "sourceIp" and "@timestamp" become "sourceip" and
// "timestamp".
func normName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		}
	}
	return b.String()
}

// timeColumns returns the indexes of the columns that may hold the event time, in
// the order they are tried.
func timeColumns(norm []string) []int {
	var exact, suffix []int
	for i, n := range norm {
		switch {
		case timeNames[n]:
			exact = append(exact, i)
		case strings.HasSuffix(n, "time"), strings.HasSuffix(n, "date"), strings.HasSuffix(n, "timestamp"):
			suffix = append(suffix, i)
		}
	}
	return append(exact, suffix...)
}

// extraLayouts are tried after decode.ParseTime: the forms spreadsheet and console
// exports use. Slash dates are read month first (US), as Excel and the AWS and
// Windows consoles write them in their default locale.
var extraLayouts = []string{
	"2006/01/02 15:04:05.999999999",
	"2006/01/02 15:04:05",
	"01/02/2006 15:04:05",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 15:04:05",
	"01/02/2006 15:04",
	"02/Jan/2006:15:04:05 -0700",
	"Jan 2, 2006, 3:04:05 PM",
	"Jan 2, 2006 3:04:05 PM",
}

var errShortEpoch = errors.New("number too short for an epoch time")

// parseTime parses a time cell. A bare number is taken as epoch time only with at
// least 9 integer digits (from 1973 on), so small counts in a "time" column (a
// duration, say) are not read as 1970 dates.
func parseTime(s string) (time.Time, error) {
	if n := epochDigits(s); n > 0 && n < 9 {
		return time.Time{}, errShortEpoch
	}
	t, err := decode.ParseTime(s)
	if err == nil {
		return t, nil
	}
	for _, l := range extraLayouts {
		if t, err2 := time.Parse(l, strings.TrimSpace(s)); err2 == nil {
			return decode.CheckTime(t)
		}
	}
	return time.Time{}, err
}

// epochDigits returns the number of integer digits of s when s is a plain decimal
// number, else 0.
func epochDigits(s string) int {
	s = strings.TrimSpace(s)
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" {
		return 0
	}
	for _, p := range [...]string{intPart, frac} {
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return 0
			}
		}
	}
	return len(intPart)
}
