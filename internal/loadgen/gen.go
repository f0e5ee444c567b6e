// Package loadgen drives Vigil's HTTP ingest at a target rate and measures what
// the server made of it: a generator of realistic raw records (Windows Sysmon
// and Security events as evtx_dump JSON, Linux sshd syslog lines) of which a
// small fraction match rules of the built-in Sigma pack, concurrent keep-alive
// HTTP clients posting NDJSON batches (honouring 429/503 Retry-After), and a
// scraper of the server's Prometheus /metrics that turns the signal-latency
// histogram, the processed-records counter, the resident memory and the
// write-ahead log backlog into a Report. `vigil loadtest` runs it from its own
// process, as issue 8's ingest target demands.
package loadgen

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// Formats the generator emits (vigil formats).
const (
	FormatWindows = "winevt-evtxdump"
	FormatSyslog  = "syslog-rfc3164"
)

// Generator builds batches of raw records with event times of now. It is not
// safe for concurrent use: give each client its own.
type Generator struct {
	rnd        *rand.Rand
	match      float64 // fraction of records that match a Sigma rule
	syslogFrac float64 // fraction of batches of Linux syslog
	recordID   uint64
	pid        int
}

// NewGenerator returns a generator seeded with seed; match is the fraction of
// records (0..1) that match a rule of the built-in Sigma pack, syslogFrac the
// fraction of batches that are Linux auth syslog instead of Windows events.
func NewGenerator(seed uint64, match, syslogFrac float64) *Generator {
	//nolint:gosec // synthetic log content, reproducible from the seed: not a secret
	return &Generator{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), match: match, syslogFrac: syslogFrac,
		recordID: seed << 32, pid: 1000}
}

var (
	// An organisation of a realistic size: rule hits spread over many hosts and
	// users, so incidents stay the size analysts see, not one giant incident.
	hosts  = names("WS-", 1800, "SRV-", 200)
	users  = names("user", 4000, "svc-", 100)
	benign = [][2]string{ // image, command line
		{`C:\Windows\System32\svchost.exe`, `C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule`},
		{`C:\Program Files\Google\Chrome\Application\chrome.exe`, `"C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US`},
		{`C:\Windows\System32\conhost.exe`, `\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1`},
		{`C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE`, `"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE" /recycle`},
		{`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, `powershell.exe -NoProfile -Command Get-Service`},
		{`C:\Windows\System32\taskhostw.exe`, `taskhostw.exe Install $(Arg0)`},
		{`C:\Windows\System32\cmd.exe`, `cmd.exe /c dir C:\Users\Public`},
		{`C:\Windows\System32\notepad.exe`, `"C:\Windows\system32\notepad.exe" C:\Users\Public\notes.txt`},
	}
	parents = []string{`C:\Windows\explorer.exe`, `C:\Windows\System32\services.exe`, `C:\Windows\System32\svchost.exe`}
	dests   = []string{"10.0.0.10", "10.0.0.53", "10.20.1.5", "52.96.10.2", "140.82.112.3", "185.199.108.133", "142.250.74.78"}
)

// names returns n prefixed numbered names and m more with another prefix.
func names(prefix string, n int, prefix2 string, m int) []string {
	out := make([]string, 0, n+m)
	for i := range n {
		out = append(out, prefix+strconv.Itoa(1000+i))
	}
	for i := range m {
		out = append(out, prefix2+strconv.Itoa(100+i))
	}
	return out
}

// Batch appends n records, one per line, to buf and returns the lines, their
// format and how many of them should match a Sigma rule.
func (g *Generator) Batch(buf []byte, n int, now time.Time) (lines []byte, format string, matching int) {
	buf = buf[:0]
	syslog := g.rnd.Float64() < g.syslogFrac
	format = FormatWindows
	if syslog {
		format = FormatSyslog
	}
	for i := range n {
		// spread the batch's event times over the last few milliseconds
		t := now.Add(-time.Duration(n-i) * time.Microsecond)
		hit := !syslog && g.rnd.Float64() < g.match // no rule of the pack covers sshd
		if hit {
			matching++
		}
		if syslog {
			buf = g.sshd(buf, t)
		} else {
			buf = g.windows(buf, t, hit)
		}
		buf = append(buf, '\n')
	}
	return buf, format, matching
}

func (g *Generator) pick(s []string) string { return s[g.rnd.IntN(len(s))] }

// userHost picks a user and where they act, as in an organisation: mostly their
// own workstation, sometimes one of the servers.
func (g *Generator) userHost() (host, user string) {
	i := g.rnd.IntN(len(users))
	if g.rnd.IntN(5) == 0 {
		return hosts[1800+g.rnd.IntN(len(hosts)-1800)], users[i]
	}
	return hosts[i%1800], users[i]
}

// windows appends one evtx_dump JSON event: a Sysmon process creation or
// network connection, or a Security interactive logon; hit: a shadow-copy
// deletion (rule "Shadow Copies, Backup Catalog Or Boot Recovery Removed").
func (g *Generator) windows(b []byte, t time.Time, hit bool) []byte {
	g.recordID++
	g.pid = 1000 + (g.pid+7)%60000
	host, user := g.userHost()
	kind := g.rnd.IntN(10)
	if hit {
		kind = -1
	}
	switch {
	case kind < 0 || kind < 5: // Sysmon 1
		img, cmd := benign[g.rnd.IntN(len(benign))][0], benign[g.rnd.IntN(len(benign))][1]
		if hit {
			img, cmd = `C:\Windows\System32\vssadmin.exe`, `vssadmin.exe delete shadows /all /quiet`
		}
		b = g.system(b, "Microsoft-Windows-Sysmon", "Microsoft-Windows-Sysmon/Operational", 1, host, t)
		b = append(b, `"EventData":{"RuleName":"-","UtcTime":"`...)
		b = t.UTC().AppendFormat(b, "2006-01-02 15:04:05.000")
		b = append(b, `","ProcessGuid":"{8A5E6C1B-6F10-6633-`...)
		b = strconv.AppendUint(b, g.recordID&0xffffffff, 16)
		b = append(b, `}","ProcessId":`...)
		b = strconv.AppendInt(b, int64(g.pid), 10)
		b = append(b, `,"Image":`...)
		b = strconv.AppendQuote(b, img)
		b = append(b, `,"CommandLine":`...)
		b = strconv.AppendQuote(b, cmd)
		b = append(b, `,"CurrentDirectory":"C:\\Windows\\system32\\","User":"CORP\\`...)
		b = append(b, user...)
		b = append(b, `","IntegrityLevel":"Medium","Hashes":"SHA256=9F914D42706FE215501044ACD85A32D58AAEF1419D404FDDFA5D3B48F66CCD9F","ParentProcessId":`...)
		b = strconv.AppendInt(b, int64(g.pid/2+4), 10)
		b = append(b, `,"ParentImage":`...)
		b = strconv.AppendQuote(b, g.pick(parents))
		b = append(b, "}}}"...)
	case kind < 8: // Sysmon 3
		b = g.system(b, "Microsoft-Windows-Sysmon", "Microsoft-Windows-Sysmon/Operational", 3, host, t)
		b = append(b, `"EventData":{"RuleName":"-","UtcTime":"`...)
		b = t.UTC().AppendFormat(b, "2006-01-02 15:04:05.000")
		b = append(b, `","ProcessId":`...)
		b = strconv.AppendInt(b, int64(g.pid), 10)
		b = append(b, `,"Image":"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe","User":"CORP\\`...)
		b = append(b, user...)
		b = append(b, `","Protocol":"tcp","Initiated":true,"SourceIp":"10.20.30.`...)
		b = strconv.AppendInt(b, int64(10+g.rnd.IntN(200)), 10)
		b = append(b, `","SourcePort":`...)
		b = strconv.AppendInt(b, int64(49152+g.rnd.IntN(16000)), 10)
		b = append(b, `,"DestinationIp":"`...)
		b = append(b, g.pick(dests)...)
		b = append(b, `","DestinationPort":443,"DestinationPortName":"https"}}}`...)
	default: // Security 4624, interactive
		b = g.system(b, "Microsoft-Windows-Security-Auditing", "Security", 4624, host, t)
		b = append(b, `"EventData":{"SubjectUserSid":"S-1-5-18","SubjectUserName":"`...)
		b = append(b, host...)
		b = append(b, `$","SubjectDomainName":"CORP","TargetUserName":"`...)
		b = append(b, user...)
		b = append(b, `","TargetDomainName":"CORP","LogonType":2,"LogonProcessName":"User32","AuthenticationPackageName":"Negotiate","WorkstationName":"`...)
		b = append(b, host...)
		b = append(b, `","IpAddress":"127.0.0.1","IpPort":"0"}}}`...)
	}
	return b
}

func (g *Generator) system(b []byte, provider, channel string, id int, host string, t time.Time) []byte {
	b = append(b, `{"Event":{"System":{"Provider":{"#attributes":{"Name":"`...)
	b = append(b, provider...)
	b = append(b, `"}},"EventID":`...)
	b = strconv.AppendInt(b, int64(id), 10)
	b = append(b, `,"Level":4,"TimeCreated":{"#attributes":{"SystemTime":"`...)
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, `"}},"EventRecordID":`...)
	b = strconv.AppendUint(b, g.recordID, 10)
	b = append(b, `,"Channel":"`...)
	b = append(b, channel...)
	b = append(b, `","Computer":"`...)
	b = append(b, host...)
	b = append(b, `.corp.example.com"},`...)
	return b
}

// sshd appends one auth syslog line with an RFC 3339 timestamp: an accepted
// or failed sign-in (the behavioral models' input; no rule of the pack).
func (g *Generator) sshd(b []byte, t time.Time) []byte {
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, " lnx-"...)
	b = strconv.AppendInt(b, int64(g.rnd.IntN(20)), 10)
	b = append(b, " sshd["...)
	b = strconv.AppendInt(b, int64(1000+g.rnd.IntN(60000)), 10)
	b = append(b, "]: "...)
	switch {
	case g.rnd.IntN(10) < 8:
		b = append(b, "Accepted publickey for "...)
	default:
		b = append(b, "Failed password for "...)
	}
	b = append(b, g.pick(users)...)
	b = append(b, " from 10.20.40."...)
	b = strconv.AppendInt(b, int64(1+g.rnd.IntN(250)), 10)
	b = append(b, " port "...)
	b = strconv.AppendInt(b, int64(49152+g.rnd.IntN(16000)), 10)
	b = append(b, " ssh2"...)
	return b
}
