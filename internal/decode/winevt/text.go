package winevt

import (
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// atoi parses a non-negative decimal integer of at most 18 digits.
func atoi(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseUint parses a 64-bit unsigned integer written in decimal or 0x hex.
func parseUint(s string) (uint64, bool) {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
		if len(s) > 16 {
			return 0, false
		}
		var n uint64
		for i := 0; i < len(s); i++ {
			d, ok := hexVal(s[i])
			if !ok {
				return 0, false
			}
			n = n<<4 | uint64(d)
		}
		return n, true
	}
	n, ok := atoi(s)
	return uint64(n), ok
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parsePID parses a process id written in decimal (Sysmon) or 0x hex (Security).
func parsePID(s string) (int64, bool) {
	n, ok := parseUint(s)
	if !ok || n > 1<<32 {
		return 0, false
	}
	return int64(n), true
}

// lastSep returns the index of the last \ or / in p, -1 without one.
func lastSep(p string) int {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '\\' || p[i] == '/' {
			return i
		}
	}
	return -1
}

// baseName returns the last element of a Windows or POSIX path.
func baseName(p string) string { return p[lastSep(p)+1:] }

func lastByte(s string, c byte) int { return strings.LastIndexByte(s, c) }

func indexByte(s string, c byte) int { return strings.IndexByte(s, c) }

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\r' || s[len(s)-1] == '\n') {
		s = s[:len(s)-1]
	}
	return s
}

// hashTarget says where Sysmon hashes go: the process's own (event 1) or a file's.
type hashTarget uint8

const (
	hashProcess hashTarget = iota
	hashFile
)

// setHashes parses Sysmon's "SHA1=..,MD5=..,SHA256=..,IMPHASH=.." (any subset, any
// order) into process.hash.* or file.hash.sha256, and related.hash. Hashes are
// lower-cased, as ECS stores them.
func (n *Normalizer) setHashes(e winEvent, s string, to hashTarget) {
	if s == "" || s == "-" {
		return
	}
	s = n.lower(s)
	for len(s) > 0 {
		item := s
		if i := indexByte(s, ','); i >= 0 {
			item, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		algo, h, ok := strings.Cut(item, "=")
		if !ok || h == "" || h == "-" {
			continue
		}
		algo = trimSpace(algo)
		h = trimSpace(h)
		if algo == "imphash" {
			// The PE import hash identifies code but is not a hash of the file.
			if to == hashProcess && h != "00000000000000000000000000000000" {
				e.SetStr(event.ProcessHashImphash, h)
			}
			continue
		}
		switch {
		case to == hashProcess && algo == "md5":
			e.SetStr(event.ProcessHashMD5, h)
		case to == hashProcess && algo == "sha1":
			e.SetStr(event.ProcessHashSHA1, h)
		case to == hashProcess && algo == "sha256":
			e.SetStr(event.ProcessHashSHA256, h)
		case to == hashFile && algo == "sha256":
			e.SetStr(event.FileHashSHA256, h)
		}
		e.AddRelatedHash(h)
	}
}

// lowerASCII lower-cases ASCII letters, allocating only when s has upper case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// hasPrefixFold reports whether s starts with prefix, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// registryHives maps the root spellings Sysmon and the kernel use to ECS hive names.
var registryHives = [...]struct{ prefix, hive string }{
	{`HKLM\`, "HKLM"},
	{`HKU\`, "HKU"},
	{`HKCR\`, "HKCR"},
	{`HKCU\`, "HKCU"},
	{`HKCC\`, "HKCC"},
	{`HKEY_LOCAL_MACHINE\`, "HKLM"},
	{`HKEY_USERS\`, "HKU"},
	{`HKEY_CLASSES_ROOT\`, "HKCR"},
	{`HKEY_CURRENT_USER\`, "HKCU"},
	{`HKEY_CURRENT_CONFIG\`, "HKCC"},
	{`\REGISTRY\MACHINE\`, "HKLM"},
	{`\REGISTRY\USER\`, "HKU"},
}

// splitHive splits a registry path into its ECS hive and the rest.
func splitHive(p string) (hive, rest string) {
	for _, h := range registryHives {
		if hasPrefixFold(p, h.prefix) {
			return h.hive, p[len(h.prefix):]
		}
	}
	for _, h := range registryHives { // a bare root ("HKLM")
		if len(p) == len(h.prefix)-1 && strings.EqualFold(p, h.prefix[:len(h.prefix)-1]) {
			return h.hive, ""
		}
	}
	return "", p
}

// setRegistry fills registry.* from a Sysmon TargetObject. isValue says whether the
// path names a value (its last element) rather than a key.
func setRegistry(e winEvent, target string, isValue bool) {
	if target == "" || target == "-" {
		return
	}
	e.SetStr(event.RegistryPath, target)
	hive, rest := splitHive(target)
	if hive != "" {
		e.SetStr(event.RegistryHive, hive)
	}
	if isValue {
		i := lastByte(rest, '\\')
		e.SetStr(event.RegistryValue, rest[i+1:])
		if i < 0 {
			return
		}
		rest = rest[:i]
	}
	if rest != "" {
		e.SetStr(event.RegistryKey, rest)
	}
}

// registryDataType infers the value type from Sysmon's Details rendering.
func registryDataType(details string) string {
	switch {
	case details == "":
		return ""
	case strings.HasPrefix(details, "DWORD ("):
		return "REG_DWORD"
	case strings.HasPrefix(details, "QWORD ("):
		return "REG_QWORD"
	case details == "Binary Data":
		return "REG_BINARY"
	}
	return "REG_SZ"
}

// dnsResponseCode names the DNS status Sysmon reports as a Win32 error code.
func dnsResponseCode(status string) string {
	switch status {
	case "0":
		return "NOERROR"
	case "9001":
		return "FORMERR"
	case "9002":
		return "SERVFAIL"
	case "9003":
		return "NXDOMAIN"
	case "9004":
		return "NOTIMP"
	case "9005":
		return "REFUSED"
	case "9501":
		return "NOTFOUND" // DNS_INFO_NO_RECORDS
	case "1460":
		return "TIMEOUT"
	}
	return ""
}

// addDNSResultIPs records the addresses in Sysmon's QueryResults
// ("type:  5 cdn.example.net;::ffff:93.184.216.34;") in related.ip.
func addDNSResultIPs(e winEvent, results string) {
	for len(results) > 0 {
		item := results
		if i := indexByte(results, ';'); i >= 0 {
			item, results = results[:i], results[i+1:]
		} else {
			results = ""
		}
		item = trimSpace(item)
		if item == "" || strings.HasPrefix(item, "type:") {
			continue
		}
		e.AddRelatedIP(event.ParseIP(item))
	}
}

// integrityLevel names a Windows mandatory label SID (4688 MandatoryLabel).
func integrityLevel(sid string) string {
	switch sid {
	case "S-1-16-0":
		return "Untrusted"
	case "S-1-16-4096":
		return "Low"
	case "S-1-16-8192":
		return "Medium"
	case "S-1-16-8448":
		return "MediumPlus"
	case "S-1-16-12288":
		return "High"
	case "S-1-16-16384":
		return "System"
	case "S-1-16-20480":
		return "Protected"
	}
	return ""
}

// logonTypeName names a Windows logon type as Elastic's winlog.logon.type does.
func logonTypeName(t string) string {
	switch t {
	case "0":
		return "System"
	case "2":
		return "Interactive"
	case "3":
		return "Network"
	case "4":
		return "Batch"
	case "5":
		return "Service"
	case "7":
		return "Unlock"
	case "8":
		return "NetworkCleartext"
	case "9":
		return "NewCredentials"
	case "10":
		return "RemoteInteractive"
	case "11":
		return "CachedInteractive"
	case "12":
		return "CachedRemoteInteractive"
	case "13":
		return "CachedUnlock"
	}
	return ""
}

// logonFailureReason explains an NTSTATUS of a failed logon (4625 Status/SubStatus,
// 4776 Status).
func logonFailureReason(status uint64) string {
	switch status {
	case 0xc0000064:
		return "user name does not exist"
	case 0xc000006a:
		return "wrong password"
	case 0xc000006d:
		return "bad user name or password"
	case 0xc000006e:
		return "account restriction"
	case 0xc000006f:
		return "logon outside authorized hours"
	case 0xc0000070:
		return "logon from unauthorized workstation"
	case 0xc0000071:
		return "password expired"
	case 0xc0000072:
		return "account disabled"
	case 0xc000009a:
		return "insufficient system resources"
	case 0xc0000133:
		return "clock skew between hosts"
	case 0xc000015b:
		return "logon type not granted"
	case 0xc000018c:
		return "trust relationship failed"
	case 0xc0000192:
		return "netlogon service not started"
	case 0xc0000193:
		return "account expired"
	case 0xc0000224:
		return "password must change"
	case 0xc0000225:
		return "windows bug"
	case 0xc0000234:
		return "account locked out"
	case 0xc00002ee:
		return "failure reason unknown"
	case 0xc0000413:
		return "authentication firewall: machine not allowed"
	}
	return ""
}

// kerberosFailureReason explains a Kerberos result code (4768/4769/4771 Status).
func kerberosFailureReason(status uint64) string {
	switch status {
	case 0x6:
		return "client not found in Kerberos database"
	case 0x7:
		return "server not found in Kerberos database"
	case 0x12:
		return "client credentials revoked (disabled, expired or locked out)"
	case 0x17:
		return "password expired"
	case 0x18:
		return "pre-authentication failed (wrong password)"
	case 0x20:
		return "ticket expired"
	case 0x25:
		return "clock skew too great"
	}
	return ""
}

// firstCN returns the first CN= value of an LDAP distinguished name, or dn itself
// when it is not one ("CN=Alice Smith,OU=Staff,DC=corp" -> "Alice Smith").
func firstCN(dn string) string {
	if !hasPrefixFold(dn, "CN=") {
		return dn
	}
	dn = dn[3:]
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++ // escaped character
		case ',':
			return dn[:i]
		}
	}
	return dn
}

// appendTimeCreated appends t in TimeLayout, as t.AppendFormat(dst, TimeLayout)
// does (wall clock of t's location, fraction truncated to 100 ns), without the
// layout interpretation.
func appendTimeCreated(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, TimeLayout)
	}
	hour, minute, sec := t.Clock()
	dst = appendDigits(dst, year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, minute, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, sec, 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, t.Nanosecond()/100, 7)
	return append(dst, 'Z')
}

// appendDigits appends v (>= 0) as exactly width decimal digits.
func appendDigits(dst []byte, v, width int) []byte {
	n := len(dst) + width
	dst = append(dst, make([]byte, width)...)
	for i := n - 1; i >= n-width; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
	return dst
}
