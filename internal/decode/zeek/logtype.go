package zeek

import (
	"path/filepath"
	"strings"
)

// pathKind is the normalization a Zeek log (#path, _path, @stream) gets.
type pathKind uint8

const (
	pOther pathKind = iota // any other log: generic id.*/uid normalization
	pConn
	pDNS
	pHTTP
	pSSL
	pFiles
	pSSH
	pKerberos
	pNTLM
	pRDP
	pSMBFiles
	pSMBMapping
	pDCERPC
	pX509
	pNotice
	pWeird
	pDHCP
	pSoftware
)

// logType is a resolved Zeek log path: its name, normalization and event.dataset.
type logType struct {
	path    string
	kind    pathKind
	dataset string
}

// knownLogs lists the logs with a specific normalization, longest names first so
// that a file name like "x_smb_files.log" resolves to smb_files, not files.
var knownLogs = []logType{
	{"smb_mapping", pSMBMapping, "zeek.smb_mapping"},
	{"smb_files", pSMBFiles, "zeek.smb_files"},
	{"software", pSoftware, "zeek.software"},
	{"kerberos", pKerberos, "zeek.kerberos"},
	{"dce_rpc", pDCERPC, "zeek.dce_rpc"},
	{"notice", pNotice, "zeek.notice"},
	{"files", pFiles, "zeek.files"},
	{"weird", pWeird, "zeek.weird"},
	{"conn", pConn, "zeek.conn"},
	{"http", pHTTP, "zeek.http"},
	{"ntlm", pNTLM, "zeek.ntlm"},
	{"x509", pX509, "zeek.x509"},
	{"dhcp", pDHCP, "zeek.dhcp"},
	{"dns", pDNS, "zeek.dns"},
	{"ssl", pSSL, "zeek.ssl"},
	{"ssh", pSSH, "zeek.ssh"},
	{"rdp", pRDP, "zeek.rdp"},
}

// maxPathLen bounds a log path taken from input; longer ones are cut.
const maxPathLen = 64

// resolveLog returns the log type named path. Unknown paths get the generic
// normalization and dataset "zeek.<path>"; an empty path gives dataset "zeek".
func resolveLog(path string) logType {
	for _, l := range knownLogs {
		if l.path == path {
			return l
		}
	}
	if path == "" {
		return logType{dataset: "zeek"}
	}
	if len(path) > maxPathLen {
		path = path[:maxPathLen]
	}
	path = strings.Clone(path)
	return logType{path: path, kind: pOther, dataset: "zeek." + path}
}

// pathFromSource guesses the log path from a file name as Zeek and collectors name
// them: "conn.log", "conn.05:00:00-06:00:00.log.gz", "NASHUA_conn.log",
// "smb_files.log". It returns "" when the name says nothing.
func pathFromSource(source string) string {
	base := filepath.Base(source)
	if i := strings.LastIndexByte(base, '!'); i >= 0 { // archive!member
		base = filepath.Base(base[i+1:])
	}
	stem := base
	if i := strings.IndexByte(stem, '.'); i >= 0 {
		stem = stem[:i]
	}
	if stem == "" || stem == "." {
		return ""
	}
	for _, l := range knownLogs {
		if stem == l.path || hasSuffixSep(stem, l.path) {
			return l.path
		}
	}
	// A collector's upper-case host prefix: "NEWYORK_capture_loss" -> "capture_loss".
	if n := upperPrefixLen(stem); n > 0 && n < len(stem)-1 && stem[n] == '_' {
		return stem[n+1:]
	}
	return stem
}

func hasSuffixSep(stem, p string) bool {
	if !strings.HasSuffix(stem, p) || len(stem) == len(p) {
		return false
	}
	c := stem[len(stem)-len(p)-1]
	return c == '_' || c == '-' || c == '.'
}

// upperPrefixLen returns the length of the upper-case host-name prefix of s
// ("NASHUA", "UTICA-A"): upper-case letters, digits and '-'; 0 when s starts otherwise.
func upperPrefixLen(s string) int {
	n := 0
	for n < len(s) {
		c := s[n]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			break
		}
		n++
	}
	return n
}
