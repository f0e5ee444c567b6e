package winevt

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

func decodeFixture(t *testing.T, d *Decoder, name string) *decodetest.Sink {
	t.Helper()
	s, err := decodetest.DecodeFile(t, d, filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(s.Rejects) != 0 {
		t.Fatalf("%s: rejects %v", name, s.Rejects)
	}
	return s
}

func TestGoldenFixtures(t *testing.T) {
	for _, tc := range []struct {
		file   string
		dec    *Decoder
		events int
	}{
		{"evtxdump_more.json", NewEvtxDump(), 8},
		{"winlogbeat8.ndjson", NewWinlogbeat(), 3},
		{"flat_otrf.ndjson", NewFlat(), 3},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s := decodeFixture(t, tc.dec, tc.file)
			if len(s.Events) != tc.events {
				t.Fatalf("%d events, want %d", len(s.Events), tc.events)
			}
			decodetest.Golden(t, strings.TrimSuffix(tc.file, filepath.Ext(tc.file)), s.JSONL())
		})
	}
}

// str reads any field by name, as a rule would.
func str(e *event.Event, name string) string {
	v, _ := event.Lookup(name).String(e)
	return v
}

// all reads every value of a field by name.
func all(e *event.Event, name string) []string {
	var out []string
	event.Lookup(name).Each(e, func(s string) bool { out = append(out, s); return true })
	return out
}

type want map[string]string

func check(t *testing.T, e *event.Event, w want) {
	t.Helper()
	for name, v := range w {
		if got := str(e, name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
}

func TestFixtureFacts(t *testing.T) {
	wlb := decodeFixture(t, NewWinlogbeat(), "winlogbeat8.ndjson").Events
	check(t, wlb[0], want{
		"event.action": "process-created", "event.category": "process", "event.type": "start",
		"process.executable": `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`,
		"process.name":       "powershell.exe", "process.pid": "6412", "process.parent.pid": "5520",
		"process.parent.name": "cmd.exe", "process.entity_id": "{8A5E6C1B-6F10-6633-4B02-000000000F00}",
		"process.hash.sha256": "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c",
		"user.name":           "alice", "user.domain": "corp", "host.name": "ws01.corp.example.com", "host.hostname": "ws01",
		"log.level": "information", "Image": `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`,
		"EventID": "1", "Channel": chSysmon, "Provider_Name": provSysmon, "Security_UserID": "S-1-5-18",
		"TimeCreated": "2024-05-02T10:11:12.3450000Z", "agent.type": "winlogbeat", "winlog.task": "Process Create (rule: ProcessCreate)",
	})
	if !strings.HasPrefix(str(wlb[0], "message"), "Process Create:") {
		t.Errorf("message not taken from the document: %q", str(wlb[0], "message"))
	}
	check(t, wlb[1], want{
		"event.action": "logged-in", "event.outcome": "success", "user.name": "alice", "user.domain": "corp",
		"user.id": "S-1-5-21-3623811015-3361044348-30300820-1104", "source.ip": "10.20.30.41", "source.port": "49832",
		"source.domain": "WS01", "winlog.logon.type": "Network", "winlog.logon.id": "0x1f4a3c2", "Keywords": keywordsAuditSuccess,
		"host.name": "dc01.corp.example.com",
	})
	check(t, wlb[2], want{
		"event.action": "logon-failed", "event.outcome": "failure", "event.reason": "wrong password",
		"user.name": "administrator", "user.id": "", "source.ip": "192.168.56.23", "source.domain": "KALI",
		"Keywords": keywordsAuditFailure,
	})
	if got := all(wlb[2], "related.ip"); !slices.Equal(got, []string{"192.168.56.23"}) {
		t.Errorf("related.ip = %v; the agent's host.ip must not leak into it", got)
	}

	flat := decodeFixture(t, NewFlat(), "flat_otrf.ndjson").Events
	check(t, flat[0], want{
		"event.action": "process-created", "process.name": "rundll32.exe", "process.pid": "7136",
		"process.parent.pid": "8076", "process.parent.name": "powershell.exe", "process.integrity_level": "High",
		"user.name": "pgustavo", "user.domain": "theshire", "host.name": "workstation5.theshire.local",
		"Computer": "WORKSTATION5.theshire.local", "Keywords": "0x8020000000000000", "event.outcome": "success",
		"Provider_Name": provSecurity, "EventRecordID": "1003257", "ProcessID": "4", "ThreadID": "5612", "Opcode": "0",
		"@timestamp": "2020-09-21T21:38:02.918Z", "EventTime": "2020-09-21 17:38:02", "tags": "mordorDataset",
	})
	check(t, flat[1], want{
		"event.action": "registry-value-set", "registry.hive": "HKU", "registry.value": "Updater",
		"registry.key":          `S-1-5-21-4228717743-1032521047-1810997296-1104\Software\Microsoft\Windows\CurrentVersion\Run`,
		"registry.data.strings": `C:\Users\pgustavo\AppData\Local\Temp\updater.exe`, "registry.data.type": "REG_SZ",
		"EventType": "SetValue", "Security_UserID": "S-1-5-18", "Keywords": "0x8000000000000000",
	})
	check(t, flat[2], want{"source.ip": "172.18.39.5", "source.port": "51004", "user.name": "pgustavo", "source.domain": ""})

	more := decodeFixture(t, NewEvtxDump(), "evtxdump_more.json").Events
	check(t, more[0], want{
		"event.action": "network-connection", "network.transport": "tcp", "network.direction": "egress",
		"source.ip": "10.20.30.41", "source.port": "50412", "destination.ip": "185.199.108.133", "destination.port": "443",
		"source.domain": "WS01.corp.example.com", "destination.domain": "", "Initiated": "true",
	})
	check(t, more[1], want{"event.action": "dns-query", "dns.question.name": "raw.githubusercontent.com", "dns.response_code": "NOERROR"})
	if got := all(more[1], "related.ip"); !slices.Equal(got, []string{"185.199.108.133", "185.199.109.133", "185.199.110.133"}) {
		t.Errorf("dns related.ip = %v", got)
	}
	check(t, more[2], want{"process.pid": "6412", "process.parent.pid": "5520", "process.integrity_level": "Medium",
		"user.name": "alice", "user.target.name": "", "Security_UserID": ""})
	check(t, more[3], want{"event.action": "powershell-script-block-logged", "user.id": "S-1-5-21-3623811015-3361044348-30300820-1104",
		"file.path": "", "Path": "", "Correlation_ActivityID": "{1C2E6F0A-9C5D-0002-2A4F-2E1C5D9CDA01}",
		"ScriptBlockId": "6b1e9c3d-2a4f-4e7b-9d1c-3f5a7b9c1d2e", "log.level": "verbose"})
	check(t, more[4], want{"event.action": "audit-log-cleared", "user.name": "administrator", "SubjectLogonId": "0x3e2b41"})
	check(t, more[5], want{"event.action": "service-installed", "service.name": "PSEXESVC", "EventID": "7045", "Qualifiers": "16384",
		"Provider_EventSourceName": "Service Control Manager", "ImagePath": `%SystemRoot%\PSEXESVC.exe`})
	if got := all(more[6], "Data"); len(got) != 3 || got[0] != "Available" || !strings.Contains(got[2], "HostApplication=powershell.exe") {
		t.Errorf("unnamed Data = %q", got)
	}
	check(t, more[6], want{"Binary": "", "event.action": ""})
	check(t, more[7], want{"event.kind": "alert", "event.action": "malware-detected", "event.reason": "Trojan:PowerShell/Mimikatz.A",
		"process.name": "powershell.exe", "user.name": "alice", "file.path": ""})
}

// TestCrossShape decodes the same two events (Sysmon 1, Security 4624) written as
// evtx_dump JSON, Winlogbeat 8 documents and flat OTRF documents, and requires the
// same raw fields and the same ECS core. What a shape cannot carry is named: a
// Winlogbeat document has Level, Task and Opcode only as rendered text and Keywords
// only for the audit bits; NXLog has no Windows Level. The shapes' own extra fields
// (agent.*, Message, EventTime, ...) and the message ECS field are not compared.
func TestCrossShape(t *testing.T) {
	ref := decodeFixture(t, NewEvtxDump(), "cross_evtxdump.json").Events
	if len(ref) != 2 {
		t.Fatalf("%d reference events", len(ref))
	}
	for _, tc := range []struct {
		file string
		dec  *Decoder
		skip []string
	}{
		{"cross_winlogbeat.ndjson", NewWinlogbeat(), []string{"Level", "Task", "Opcode", "Keywords"}},
		{"cross_flat.ndjson", NewFlat(), []string{"Level"}},
	} {
		got := decodeFixture(t, tc.dec, tc.file).Events
		if len(got) != len(ref) {
			t.Fatalf("%s: %d events, want %d", tc.file, len(got), len(ref))
		}
		for i := range ref {
			for _, f := range ref[i].Raw {
				name := f.Name()
				if slices.Contains(tc.skip, name) && !(name == "Keywords" && i == 1) {
					continue
				}
				if g, w := all(got[i], name), all(ref[i], name); !slices.Equal(g, w) {
					t.Errorf("%s event %d: raw %s = %q, want %q", tc.file, i, name, g, w)
				}
			}
			if g, w := ecsJSON(got[i]), ecsJSON(ref[i]); g != w {
				t.Errorf("%s event %d: ECS differs\n got: %s\nwant: %s", tc.file, i, g, w)
			}
		}
	}
}

// ecsJSON renders e's normalized fields only: no raw fields, no origin, no message.
func ecsJSON(e *event.Event) string {
	c := *e
	c.Raw = nil
	c.Origin = event.Origin{}
	c.SetStr(event.Message, "")
	return string(c.AppendJSON(nil))
}
