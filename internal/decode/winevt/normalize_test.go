package winevt

import (
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
)

// raw builds an event from name=value pairs, as a decoder would fill it.
func raw(pairs ...string) *event.Event {
	e := &event.Event{}
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		e.AddRaw(event.MakeKey(k), v)
	}
	return e
}

func sysmonEv(id string, pairs ...string) *event.Event {
	return raw(append([]string{"EventID=" + id, "Channel=" + chSysmon, "Provider_Name=" + provSysmon, "Computer=WS01.corp.example.com"}, pairs...)...)
}

func securityEv(id string, pairs ...string) *event.Event {
	return raw(append([]string{"EventID=" + id, "Channel=Security", "Provider_Name=" + provSecurity, "Computer=DC01.corp.example.com", "Keywords=0x8020000000000000"}, pairs...)...)
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		e    *event.Event
		want want
		cat  []string
		typ  []string
	}{
		{"sysmon1", sysmonEv("1", `Image=C:\Windows\System32\cmd.exe`, "ProcessId=4242", "ProcessGuid={A-B}", `CommandLine=cmd /c whoami`,
			`ParentImage=/usr/bin/bash`, "ParentProcessId=0x10", `User=CORP\Bob`, "Hashes=MD5=AA,SHA256=BB,IMPHASH=CC"),
			want{"event.action": "process-created", "process.name": "cmd.exe", "process.pid": "4242", "process.entity_id": "{A-B}",
				"process.command_line": "cmd /c whoami", "process.parent.name": "bash", "process.parent.pid": "16",
				"user.name": "bob", "user.domain": "corp", "process.hash.md5": "aa", "process.hash.sha256": "bb",
				"process.pe.imphash": "cc", "related.hash": "aa", "host.hostname": "ws01", "event.kind": "event",
				"winlog.event_id": "1", "event.dataset": "windows.sysmon_operational"},
			[]string{"process"}, []string{"start"}},
		{"sysmon2", sysmonEv("2", `TargetFilename=C:\x\a.txt`), want{"event.action": "file-creation-time-changed", "file.name": "a.txt"},
			[]string{"file"}, []string{"change"}},
		{"sysmon3-v6", sysmonEv("3", "Protocol=udp", "Initiated=false", "SourceIp=::ffff:10.1.1.1", "SourcePort=53",
			"DestinationIp=fe80::1", "DestinationPort=65536", "DestinationHostname=-"),
			want{"network.transport": "udp", "network.direction": "ingress", "source.ip": "10.1.1.1", "source.port": "53",
				"destination.ip": "fe80::1", "destination.port": "", "destination.domain": ""},
			[]string{"network"}, []string{"connection", "start"}},
		{"sysmon5", sysmonEv("5", `Image=C:\a\b.exe`, "ProcessId=12"), want{"event.action": "process-terminated", "process.pid": "12"},
			[]string{"process"}, []string{"end"}},
		{"sysmon6", sysmonEv("6", `ImageLoaded=C:\Windows\System32\drivers\evil.sys`, "Hashes=SHA256=DD"),
			want{"event.action": "driver-loaded", "file.extension": "sys", "file.hash.sha256": "dd", "process.name": ""},
			[]string{"driver"}, []string{"start"}},
		{"sysmon7", sysmonEv("7", `Image=C:\a\app.exe`, `ImageLoaded=C:\a\x.dll`, "Hashes=SHA1=EE,IMPHASH=FF"),
			want{"event.action": "image-loaded", "file.name": "x.dll", "process.name": "app.exe", "process.hash.sha1": "",
				"process.pe.imphash": "", "related.hash": "ee"},
			[]string{"library"}, []string{"start"}},
		{"sysmon8", sysmonEv("8", `SourceImage=C:\a\inj.exe`, "SourceProcessId=7", "SourceProcessGuid={S}", `TargetImage=C:\Windows\explorer.exe`),
			want{"event.action": "remote-thread-created", "process.name": "inj.exe", "process.pid": "7", "process.entity_id": "{S}"},
			[]string{"process"}, []string{"change"}},
		{"sysmon10", sysmonEv("10", `SourceImage=C:\a\mimi.exe`, "SourceProcessGUID={G}", "SourceProcessId=99", `SourceUser=CORP\eve`,
			`TargetImage=C:\Windows\system32\lsass.exe`, "GrantedAccess=0x1010"),
			want{"event.action": "process-accessed", "process.entity_id": "{G}", "user.name": "eve", "GrantedAccess": "0x1010"},
			[]string{"process"}, []string{"access"}},
		{"sysmon11", sysmonEv("11", `TargetFilename=C:\Users\x\AppData\evil.ps1`),
			want{"event.action": "file-created", "file.path": `C:\Users\x\AppData\evil.ps1`, "file.directory": `C:\Users\x\AppData`, "file.extension": "ps1"},
			[]string{"file"}, []string{"creation"}},
		{"sysmon12-create", sysmonEv("12", "EventType=CreateKey", `TargetObject=HKLM\SOFTWARE\Evil`),
			want{"event.action": "registry-key-created", "registry.hive": "HKLM", "registry.key": `SOFTWARE\Evil`, "registry.value": ""},
			[]string{"configuration", "registry"}, []string{"creation"}},
		{"sysmon12-delete", sysmonEv("12", "EventType=DeleteKey", `TargetObject=\REGISTRY\MACHINE\SYSTEM\X`),
			want{"event.action": "registry-key-deleted", "registry.hive": "HKLM", "registry.key": `SYSTEM\X`},
			[]string{"configuration", "registry"}, []string{"deletion"}},
		{"sysmon13", sysmonEv("13", "EventType=SetValue", `TargetObject=HKU\S-1-5-21-1\Software\Run\x`, "Details=QWORD (0x00000000-0x00000001)"),
			want{"event.action": "registry-value-set", "registry.hive": "HKU", "registry.key": `S-1-5-21-1\Software\Run`,
				"registry.value": "x", "registry.data.type": "REG_QWORD"},
			[]string{"configuration", "registry"}, []string{"change"}},
		{"sysmon14", sysmonEv("14", `TargetObject=HKCR\a\b`, `NewName=HKCR\a\c`),
			want{"event.action": "registry-key-renamed", "registry.hive": "HKCR", "registry.key": `a\b`},
			[]string{"configuration", "registry"}, []string{"change"}},
		{"sysmon15", sysmonEv("15", `TargetFilename=C:\d\f.exe:Zone.Identifier`, "Hash=SHA256=AB"),
			want{"event.action": "file-stream-created", "file.hash.sha256": "ab"}, []string{"file"}, []string{"creation"}},
		{"sysmon17", sysmonEv("17", `PipeName=\evil`), want{"event.action": "pipe-created", "file.name": `\evil`}, []string{"file"}, []string{"creation"}},
		{"sysmon18", sysmonEv("18", `PipeName=\evil`), want{"event.action": "pipe-connected"}, []string{"file"}, []string{"access"}},
		{"sysmon22", sysmonEv("22", "QueryName=evil.example", "QueryStatus=9003", "QueryResults=type:  5 cdn.example;::ffff:1.2.3.4;"),
			want{"event.action": "dns-query", "dns.question.name": "evil.example", "dns.response_code": "NXDOMAIN", "related.ip": "1.2.3.4",
				"network.protocol": "dns"},
			[]string{"network"}, []string{"connection", "info", "protocol"}},
		{"sysmon23", sysmonEv("23", `TargetFilename=C:\x\y.bat`, "Hashes=SHA256=CD"), want{"event.action": "file-deleted", "file.hash.sha256": "cd"},
			[]string{"file"}, []string{"deletion"}},
		{"sysmon26", sysmonEv("26", `TargetFilename=C:\x\y.bat`), want{"event.action": "file-deleted"}, []string{"file"}, []string{"deletion"}},
		{"sysmon25", sysmonEv("25", `Image=C:\x.exe`, "Type=Image is replaced"), want{"event.action": "process-tampered"}, []string{"process"}, []string{"change"}},
		{"sysmon-unknown", sysmonEv("255", "Description=x"), want{"event.action": "", "event.code": "255"}, nil, nil},
		{"4624", securityEv("4624", "SubjectUserName=DC01$", "SubjectDomainName=CORP", "TargetUserName=Alice", "TargetDomainName=CORP",
			"TargetUserSid=S-1-5-21-9", "LogonType=10", "IpAddress=::ffff:10.0.0.9", "IpPort=3389", "WorkstationName=WS9", "TargetLogonId=0x99"),
			want{"event.action": "logged-in", "event.outcome": "success", "user.name": "alice", "user.domain": "corp", "user.id": "S-1-5-21-9",
				"winlog.logon.type": "RemoteInteractive", "source.ip": "10.0.0.9", "source.port": "3389", "source.domain": "WS9",
				"winlog.logon.id": "0x99", "user.target.name": ""},
			[]string{"authentication", "session"}, []string{"start"}},
		{"4625", securityEv("4625", "TargetUserName=bob", "Status=0xc000006d", "SubStatus=0xC0000064", "LogonType=3", "IpAddress=-", "IpPort=-"),
			want{"event.action": "logon-failed", "event.outcome": "failure", "event.reason": "user name does not exist", "source.ip": ""},
			[]string{"authentication"}, []string{"start"}},
		{"4634", securityEv("4634", "TargetUserName=alice", "TargetDomainName=CORP", "TargetLogonId=0x99", "LogonType=3"),
			want{"event.action": "logged-out", "user.name": "alice", "winlog.logon.type": "Network"}, []string{"authentication", "session"}, []string{"end"}},
		{"4647", securityEv("4647", "TargetUserName=alice"), want{"event.action": "logged-out"}, []string{"authentication", "session"}, []string{"end"}},
		{"4648", securityEv("4648", "SubjectUserName=alice", "SubjectDomainName=CORP", "TargetUserName=admin", "TargetDomainName=CORP",
			"TargetServerName=srv1", `ProcessName=C:\Windows\System32\runas.exe`, "ProcessId=0x1a4"),
			want{"event.action": "logged-in-explicit", "user.name": "alice", "user.target.name": "admin", "process.pid": "420",
				"destination.domain": "srv1", "related.user": "alice@corp"},
			[]string{"authentication"}, []string{"start"}},
		{"4672", securityEv("4672", "SubjectUserName=admin", "SubjectDomainName=CORP", "SubjectLogonId=0x5"),
			want{"event.action": "logged-in-special", "user.name": "admin", "winlog.logon.id": "0x5"}, []string{"iam"}, []string{"admin"}},
		{"4688", securityEv("4688", "SubjectUserName=alice", `NewProcessName=C:\Windows\System32\whoami.exe`, "NewProcessId=0x2a",
			"ProcessId=0x2b", `ParentProcessName=C:\Windows\System32\cmd.exe`, "CommandLine=whoami /all", "MandatoryLabel=S-1-16-16384", "TargetUserName=-"),
			want{"event.action": "process-created", "process.pid": "42", "process.parent.pid": "43", "process.name": "whoami.exe",
				"process.parent.name": "cmd.exe", "process.command_line": "whoami /all", "process.integrity_level": "System", "user.target.name": ""},
			[]string{"process"}, []string{"start"}},
		{"4689", securityEv("4689", `ProcessName=C:\a\b.exe`, "ProcessId=0x10"), want{"event.action": "process-terminated", "process.pid": "16"},
			[]string{"process"}, []string{"end"}},
		{"4697", securityEv("4697", "SubjectUserName=admin", "ServiceName=evilsvc"), want{"event.action": "service-installed", "service.name": "evilsvc"},
			[]string{"configuration", "iam"}, []string{"admin", "change"}},
		{"4698", securityEv("4698", "SubjectUserName=admin", `TaskName=\Evil`), want{"event.action": "scheduled-task-created"},
			[]string{"configuration", "iam"}, []string{"admin", "creation"}},
		{"4702", securityEv("4702", "SubjectUserName=admin"), want{"event.action": "scheduled-task-updated"},
			[]string{"configuration", "iam"}, []string{"admin", "change"}},
		{"4720", securityEv("4720", "SubjectUserName=admin", "TargetUserName=newbie", "TargetDomainName=CORP", "TargetSid=S-1-5-21-7"),
			want{"event.action": "added-user-account", "user.name": "admin", "user.target.name": "newbie", "user.target.id": "S-1-5-21-7"},
			[]string{"iam"}, []string{"creation", "user"}},
		{"4722", securityEv("4722", "TargetUserName=x"), want{"event.action": "enabled-user-account"}, []string{"iam"}, []string{"change", "user"}},
		{"4723", securityEv("4723", "TargetUserName=x"), want{"event.action": "changed-password"}, []string{"iam"}, []string{"change", "user"}},
		{"4724", securityEv("4724", "TargetUserName=x"), want{"event.action": "reset-password"}, []string{"iam"}, []string{"change", "user"}},
		{"4725", securityEv("4725", "TargetUserName=x"), want{"event.action": "disabled-user-account"}, []string{"iam"}, []string{"change", "user"}},
		{"4726", securityEv("4726", "TargetUserName=x"), want{"event.action": "deleted-user-account"}, []string{"iam"}, []string{"deletion", "user"}},
		{"4738", securityEv("4738", "TargetUserName=x"), want{"event.action": "modified-user-account"}, []string{"iam"}, []string{"change", "user"}},
		{"4740", securityEv("4740", "TargetUserName=x", "TargetDomainName=WS7"),
			want{"event.action": "locked-out-user-account", "user.target.name": "x", "user.target.domain": "", "source.domain": "WS7"},
			[]string{"iam"}, []string{"change", "user"}},
		{"4728", securityEv("4728", "SubjectUserName=admin", "MemberName=CN=Eve Evil,OU=Staff,DC=corp", "MemberSid=S-1-5-21-3", "TargetUserName=Domain Admins"),
			want{"event.action": "added-member-to-group", "user.target.name": "eve evil", "user.target.id": "S-1-5-21-3"},
			[]string{"iam"}, []string{"change", "group"}},
		{"4732", securityEv("4732", "MemberName=-", "MemberSid=S-1-5-21-3"), want{"event.action": "added-member-to-group", "user.target.name": ""},
			[]string{"iam"}, []string{"change", "group"}},
		{"4756", securityEv("4756", "MemberName=CN=x"), want{"event.action": "added-member-to-group"}, []string{"iam"}, []string{"change", "group"}},
		{"4768", securityEv("4768", "TargetUserName=alice", "TargetDomainName=CORP.EXAMPLE.COM", "TargetSid=S-1-5-21-1", "Status=0x0",
			"IpAddress=::ffff:10.1.2.3", "IpPort=50000", "ServiceName=krbtgt"),
			want{"event.action": "kerberos-authentication-ticket-requested", "event.outcome": "success", "user.name": "alice",
				"user.domain": "corp.example.com", "source.ip": "10.1.2.3", "service.name": "krbtgt"},
			[]string{"authentication"}, []string{"start"}},
		{"4769", securityEv("4769", "TargetUserName=alice@CORP.EXAMPLE.COM", "ServiceName=MSSQLSvc", "Status=0x12"),
			want{"event.action": "kerberos-service-ticket-requested", "event.outcome": "failure", "user.name": "alice",
				"user.domain": "corp.example.com", "event.reason": "client credentials revoked (disabled, expired or locked out)"},
			[]string{"authentication"}, []string{"start"}},
		{"4771", securityEv("4771", "TargetUserName=bob", "Status=0x18", "IpAddress=10.9.9.9"),
			want{"event.action": "kerberos-preauth-failed", "event.outcome": "failure", "event.reason": "pre-authentication failed (wrong password)"},
			[]string{"authentication"}, []string{"start"}},
		{"4776", securityEv("4776", "TargetUserName=bob", "Workstation=WS3", "Status=0xc000006a"),
			want{"event.action": "credential-validated", "event.outcome": "failure", "event.reason": "wrong password", "source.domain": "WS3"},
			[]string{"authentication"}, []string{"start"}},
		{"5140", securityEv("5140", "SubjectUserName=alice", "IpAddress=10.0.0.5", "IpPort=445", `ShareName=\\*\C$`, `ShareLocalPath=\??\C:\`),
			want{"event.action": "network-share-object-accessed", "source.ip": "10.0.0.5", "file.path": `\??\C:\`},
			[]string{"file", "network"}, []string{"access", "info"}},
		{"5145", securityEv("5145", "SubjectUserName=alice", "IpAddress=10.0.0.5", `RelativeTargetName=Windows\Temp\x.exe`, `ShareLocalPath=\??\C:\`),
			want{"event.action": "network-share-object-access-checked", "file.name": "x.exe", "file.directory": `\??\C:\`},
			[]string{"file", "network"}, []string{"access", "info"}},
		{"1102", raw("EventID=1102", "Channel=Security", "Provider_Name="+provEventlog, "Computer=DC01", "SubjectUserName=admin", "SubjectDomainName=CORP"),
			want{"event.action": "audit-log-cleared", "user.name": "admin"}, []string{"configuration"}, []string{"deletion"}},
		{"security-failure-keywords", raw("EventID=4656", "Channel=Security", "Provider_Name="+provSecurity, "Keywords=0x8010000000000000"),
			want{"event.outcome": "failure", "event.action": ""}, nil, nil},
		{"7045", raw("EventID=7045", "Channel=System", "Provider_Name="+provSCM, "ServiceName=PSEXESVC", `ImagePath=%SystemRoot%\PSEXESVC.exe`),
			want{"event.action": "service-installed", "service.name": "PSEXESVC", "event.dataset": "windows.system"}, []string{"configuration"}, []string{"creation"}},
		{"7036", raw("EventID=7036", "Channel=System", "Provider_Name="+provSCM, "param1=Windows Update", "param2=running"),
			want{"event.action": "service-state-changed", "service.name": "Windows Update"}, []string{"configuration"}, []string{"change"}},
		{"7040", raw("EventID=7040", "Channel=System", "Provider_Name="+provSCM, "param1=BITS"),
			want{"event.action": "service-start-type-changed", "service.name": "BITS"}, []string{"configuration"}, []string{"change"}},
		{"4103", raw("EventID=4103", "Channel="+chPowerShell, "Provider_Name="+provPS, "Security_UserID=S-1-5-21-5",
			"ContextInfo=        Severity = Informational\r\n        Host Name = ConsoleHost\r\n        Host Application = powershell.exe -enc AAA\r\n        User = CORP\\alice\r\n        Script Name = C:\\s\\a.ps1\r\n"),
			want{"event.action": "powershell-pipeline-executed", "process.command_line": "powershell.exe -enc AAA", "user.name": "alice",
				"user.id": "S-1-5-21-5", "file.path": `C:\s\a.ps1`},
			[]string{"process"}, []string{"info"}},
		{"4104", raw("EventID=4104", "Channel="+chPowerShell, "Provider_Name="+provPS, "ScriptBlockText=iex x", `Path=C:\s\b.ps1`),
			want{"event.action": "powershell-script-block-logged", "file.name": "b.ps1"}, []string{"process"}, []string{"info"}},
		{"1117", raw("EventID=1117", "Channel="+chDefender, "Provider_Name="+provDefender, "Threat Name=EICAR", `Path=file:_C:\t\e.com; file:_C:\t\f.com`),
			want{"event.action": "malware-action-taken", "event.kind": "alert", "event.outcome": "success", "file.path": `C:\t\e.com`, "event.reason": "EICAR"},
			[]string{"intrusion_detection", "malware"}, []string{"info"}},
		{"unknown-channel", raw("EventID=42", "Channel=Application", "Provider_Name=App", "Computer=-"),
			want{"event.code": "42", "event.provider": "App", "host.name": "", "event.dataset": ""}, nil, nil},
		{"empty", raw(), want{"event.kind": "event", "event.code": ""}, nil, nil},
		{"garbage-values", sysmonEv("1", "ProcessId=0xZZ", "ParentProcessId=99999999999999999999", "Hashes=,,==,SHA256=", "User=\\", "Image=\\"),
			want{"process.pid": "", "process.parent.pid": "", "process.hash.sha256": "", "process.name": ""}, []string{"process"}, []string{"start"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Normalize(tt.e)
			check(t, tt.e, tt.want)
			if got := tt.e.Category.Names(); !slices.Equal(got, tt.cat) {
				t.Errorf("event.category = %v, want %v", got, tt.cat)
			}
			if got := tt.e.Type.Names(); !slices.Equal(got, tt.typ) {
				t.Errorf("event.type = %v, want %v", got, tt.typ)
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		pid  int64
		isOK bool
	}{{"1234", 1234, true}, {"0x1a4", 420, true}, {"0X1A4", 420, true}, {"", 0, false}, {"-", 0, false}, {"0x", 0, false}, {"12a", 0, false}} {
		if got, ok := parsePID(tc.in); got != tc.pid || ok != tc.isOK {
			t.Errorf("parsePID(%q) = %d, %v", tc.in, got, ok)
		}
	}
	for in, want := range map[string]string{`C:\a\b.exe`: "b.exe", "/usr/bin/x": "x", "plain": "plain", `C:\dir\`: "", `a/b\c`: "c"} {
		if got := baseName(in); got != want {
			t.Errorf("baseName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string][2]string{
		`HKLM\Software\X`: {"HKLM", `Software\X`}, `hkey_users\S-1`: {"HKU", "S-1"}, `\REGISTRY\USER\S-1\x`: {"HKU", `S-1\x`},
		"HKCU": {"HKCU", ""}, `Other\x`: {"", `Other\x`},
	} {
		if h, r := splitHive(in); h != want[0] || r != want[1] {
			t.Errorf("splitHive(%q) = %q, %q; want %q", in, h, r, want)
		}
	}
	if got := firstCN(`CN=Smith\, John,OU=x`); got != `Smith\, John` {
		t.Errorf("firstCN = %q", got)
	}
	if got := contextValue("  Host Application = a = b\n User = x", "Host Application"); got != "a = b" {
		t.Errorf("contextValue = %q", got)
	}
}
