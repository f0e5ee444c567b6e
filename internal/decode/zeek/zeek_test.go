package zeek

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

func raw(e *event.Event, name string) (string, bool) { return e.RawValue(event.MakeKey(name)) }

func rawAll(e *event.Event, name string) []string {
	var out []string
	k := event.MakeKey(name)
	for _, r := range e.Raw {
		if r.Key == k {
			out = append(out, r.Value)
		}
	}
	return out
}

func decodeFixture(t *testing.T, d decode.Decoder, name string) *decodetest.Sink {
	t.Helper()
	s, err := decodetest.DecodeFile(t, d, filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	return s
}

func TestGoldenTSV(t *testing.T) {
	for _, name := range []string{
		"conn.log", "dns.log", "http.log", "ssl.log", "kerberos.log", "ntlm.log", "rdp.log",
		"smb_files.log", "smb_mapping.log", "notice.log", "weird.log",
	} {
		t.Run(name, func(t *testing.T) {
			s := decodeFixture(t, NewTSV(), name)
			if len(s.Rejects) != 0 {
				t.Fatalf("rejects: %v", s.Rejects)
			}
			decodetest.Golden(t, name, s.JSONL())
		})
	}
}

func TestGoldenJSON(t *testing.T) {
	for _, name := range []string{"apt29.json", "zeek_native.json"} {
		t.Run(name, func(t *testing.T) {
			s := decodeFixture(t, NewJSON(), name)
			decodetest.Golden(t, name, s.JSONL())
		})
	}
}

// TestFixtureFields checks, field by field, what the golden files hold for a few
// records of each log type.
func TestFixtureFields(t *testing.T) {
	t.Run("conn", func(t *testing.T) {
		s := decodeFixture(t, NewTSV(), "conn.log")
		if len(s.Events) != 12 {
			t.Fatalf("events = %d, want 12", len(s.Events))
		}
		// worker-eth0-1 1713502795.590368 CHTvvZ3wamtjpgL6Qg 209.141.58.142 34680 64.225.56.201 22 tcp ssh 3.743151 1266 1694 SF F T 0 ShADadFf 12 1898 14 2430 -
		e := s.Events[2]
		if got := e.Timestamp; !got.Equal(time.Unix(1713502795, 590368000)) {
			t.Errorf("ts = %v", got)
		}
		checkStr(t, e, event.EventID, "CHTvvZ3wamtjpgL6Qg")
		checkStr(t, e, event.EventDataset, "zeek.conn")
		checkStr(t, e, event.NetworkTransport, "tcp")
		checkStr(t, e, event.NetworkProtocol, "ssh")
		checkStr(t, e, event.EventOutcome, "success")
		checkStr(t, e, event.NetworkDirection, "inbound")
		checkIP(t, e, event.SourceIP, "209.141.58.142")
		checkIP(t, e, event.DestinationIP, "64.225.56.201")
		checkNum(t, e, event.SourcePort, 34680)
		checkNum(t, e, event.DestinationPort, 22)
		checkNum(t, e, event.SourceBytes, 1266)
		checkNum(t, e, event.DestinationBytes, 1694)
		checkNum(t, e, event.NetworkBytes, 2960)
		checkNum(t, e, event.SourcePackets, 12)
		checkNum(t, e, event.NetworkPackets, 26)
		checkNum(t, e, event.EventDurationNS, 3_743_151_000)
		checkRaw(t, e, "conn_state", "SF")
		checkRaw(t, e, "local_orig", "false")
		checkRaw(t, e, "_node_name", "worker-eth0-1")
		if _, ok := raw(e, "tunnel_parents"); ok {
			t.Error("unset tunnel_parents kept as a raw field")
		}
		if _, ok := raw(e, "service"); !ok {
			t.Error("service missing")
		}
		if s.Events[0].Str(event.EventOutcome) != "failure" { // REJ
			t.Errorf("REJ outcome = %q", s.Events[0].Str(event.EventOutcome))
		}
		if o := e.Origin; o.Format != FormatTSV || o.Line != 11 || o.Source != "conn.log" {
			t.Errorf("origin = %+v", o)
		}
	})
	t.Run("http beacon", func(t *testing.T) {
		s := decodeFixture(t, NewTSV(), "http.log")
		e := s.Events[0]
		checkStr(t, e, event.UserAgentOriginal, "Modzilla/0.0001 (Atari 7800)")
		checkStr(t, e, event.URLDomain, "")
		checkRaw(t, e, "host", "")
		checkStr(t, e, event.HTTPRequestMethod, "GET")
		checkNum(t, e, event.HTTPResponseStatusCode, 400)
		checkNum(t, e, event.HTTPResponseBodyBytes, 166)
		checkRaw(t, e, "tags", "")
		last := s.Events[len(s.Events)-1]
		checkStr(t, last, event.HTTPRequestReferrer, "http://fomobase.app")
	})
	t.Run("dns", func(t *testing.T) {
		s := decodeFixture(t, NewTSV(), "dns.log")
		var found bool
		for _, e := range s.Events {
			if e.Str(event.DNSAnswers) == "45-33-87-154.ip.linodeusercontent.com" {
				found = true
				checkStr(t, e, event.DNSQuestionName, "154.87.33.45.in-addr.arpa")
				checkStr(t, e, event.DNSQuestionType, "PTR")
				checkStr(t, e, event.DNSResponseCode, "NOERROR")
				checkRaw(t, e, "TTLs", "86400.000000")
				checkRaw(t, e, "RD", "true")
			}
		}
		if !found {
			t.Error("no dns record with the linode PTR answer")
		}
	})
	t.Run("ssl", func(t *testing.T) {
		s := decodeFixture(t, NewTSV(), "ssl.log")
		e := s.Events[len(s.Events)-1]
		checkStr(t, e, event.TLSVersion, "1.3")
		checkStr(t, e, event.TLSCipher, "TLS_AES_256_GCM_SHA384")
		checkStr(t, e, event.TLSServerName, "api.snapcraft.io")
		checkStr(t, e, event.TLSClientJA3, "473cd7cb9faa642487833865d516e578")
		checkStr(t, e, event.EventOutcome, "success")
		checkRaw(t, e, "version", "TLSv13")
	})
	t.Run("kerberos", func(t *testing.T) {
		s := decodeFixture(t, NewTSV(), "kerberos.log")
		e := s.Events[0]
		checkStr(t, e, event.UserName, "alice")
		checkStr(t, e, event.UserDomain, "corp.local")
		checkStr(t, e, event.EventOutcome, "failure")
		checkStr(t, e, event.EventReason, "KDC_ERR_PREAUTH_REQUIRED")
		checkStr(t, e, event.EventAction, "AS")
		if !e.Category.Has(event.CatAuthentication) {
			t.Error("kerberos not an authentication event")
		}
		if got := e.Related.User; len(got) != 1 || got[0] != "alice@corp.local" {
			t.Errorf("related.user = %v", got)
		}
		rc4 := s.Events[2]
		checkRaw(t, rc4, "cipher", "rc4-hmac")
		checkStr(t, rc4, event.TLSCipher, "") // a Kerberos cipher is not TLS
		checkStr(t, s.Events[3], event.UserName, "")
		checkStr(t, s.Events[4], event.UserName, "ws-07$")
	})
	t.Run("ntlm", func(t *testing.T) {
		s := decodeFixture(t, NewTSV(), "ntlm.log")
		e := s.Events[1]
		checkStr(t, e, event.UserName, "administrator")
		checkStr(t, e, event.UserDomain, "workgroup")
		checkStr(t, e, event.SourceDomain, "KALI")
		checkStr(t, e, event.DestinationDomain, "fs01.corp.local")
		checkStr(t, e, event.EventOutcome, "failure")
		checkStr(t, s.Events[2], event.UserName, "")
		checkRaw(t, s.Events[2], "username", "")
	})
	t.Run("rdp", func(t *testing.T) {
		s := decodeFixture(t, NewTSV(), "rdp.log")
		e := s.Events[0]
		checkStr(t, e, event.UserName, "administr")
		checkStr(t, e, event.EventOutcome, "failure")
		checkStr(t, e, event.NetworkProtocol, "rdp")
		if got := rawAll(e, "client_channels"); strings.Join(got, "|") != "rdpdr|rdpsnd|drdynvc|cliprdr" {
			t.Errorf("client_channels = %q", got)
		}
		checkStr(t, s.Events[1], event.EventOutcome, "success")
	})
	t.Run("smb", func(t *testing.T) {
		s := decodeFixture(t, NewTSV(), "smb_files.log")
		e := s.Events[1]
		checkRaw(t, e, "path", `\\FS01\ADMIN$`)
		checkStr(t, e, event.FilePath, `\\FS01\ADMIN$\PSEXESVC.exe`)
		checkStr(t, e, event.FileName, "PSEXESVC.exe")
		checkStr(t, e, event.FileExtension, "exe")
		checkNum(t, e, event.FileSize, 381816)
		if !e.Type.Has(event.TypeChange) || !e.Category.Has(event.CatFile) {
			t.Errorf("write: category %v type %v", e.Category.Names(), e.Type.Names())
		}
		del := s.Events[2]
		checkRaw(t, del, "name", "Windows\\Temp\\out\ttab.txt")
		if !del.Type.Has(event.TypeDeletion) {
			t.Errorf("delete type %v", del.Type.Names())
		}
		m := decodeFixture(t, NewTSV(), "smb_mapping.log")
		checkRaw(t, m.Events[0], "path", `\\FS01\IPC$`)
		checkRaw(t, m.Events[0], "share_type", "PIPE")
	})
	t.Run("notice", func(t *testing.T) {
		s := decodeFixture(t, NewTSV(), "notice.log")
		e := s.Events[0]
		checkStr(t, e, event.EventKind, "alert")
		checkStr(t, e, event.EventAction, "Scan::Port_Scan")
		checkIP(t, e, event.SourceIP, "203.0.113.77")
		checkIP(t, e, event.DestinationIP, "10.0.0.30")
		if !e.Category.Has(event.CatIntrusionDetection) {
			t.Error("notice not intrusion_detection")
		}
		if got := rawAll(s.Events[1], "actions"); len(got) != 2 || got[1] != "Notice::ACTION_EMAIL" {
			t.Errorf("actions = %q", got)
		}
		w := decodeFixture(t, NewTSV(), "weird.log")
		checkStr(t, w.Events[0], event.EventReason, "bad_TCP_checksum")
		checkStr(t, w.Events[0], event.EventDataset, "zeek.weird")
	})
	t.Run("json native", func(t *testing.T) {
		s := decodeFixture(t, NewJSON(), "zeek_native.json")
		if len(s.Events) != 9 || len(s.Rejects) != 0 {
			t.Fatalf("events %d rejects %v", len(s.Events), s.Rejects)
		}
		conn := s.Events[0]
		checkStr(t, conn, event.NetworkCommunityID, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
		checkStr(t, conn, event.NetworkDirection, "outbound")
		checkNum(t, conn, event.EventDurationNS, 1_204_918_000)
		dns := s.Events[1]
		if !dns.Timestamp.Equal(time.Date(2024, 4, 19, 9, 0, 1, 123456000, time.UTC)) {
			t.Errorf("ISO ts = %v", dns.Timestamp)
		}
		checkStr(t, dns, event.DNSAnswers, "www.example.com.edgesuite.net,93.184.216.34")
		if len(rawAll(dns, "answers")) != 2 {
			t.Errorf("answers raw = %v", rawAll(dns, "answers"))
		}
		ssh := s.Events[2]
		checkStr(t, ssh, event.EventOutcome, "failure")
		checkStr(t, ssh, event.NetworkDirection, "inbound")
		if !ssh.Category.Has(event.CatAuthentication) {
			t.Error("ssh with auth attempts is not authentication")
		}
		checkStr(t, s.Events[3], event.SourceDomain, "ws-44.corp.local")
		checkStr(t, s.Events[4], event.UserAgentOriginal, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 Firefox/124.0")
		x := s.Events[5]
		checkStr(t, x, event.TLSServerIssuer, "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,O=DigiCert Inc,C=US")
		if len(x.Related.Hosts) != 3 {
			t.Errorf("x509 related.hosts = %v", x.Related.Hosts)
		}
		f := s.Events[6]
		checkStr(t, f, event.FileHashSHA256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
		if len(f.Related.Hash) != 3 {
			t.Errorf("files related.hash = %v", f.Related.Hash)
		}
		checkStr(t, s.Events[7], event.EventDataset, "zeek.modbus")
		checkIP(t, s.Events[7], event.DestinationIP, "10.0.5.20")
		h := s.Events[8]
		checkStr(t, h, event.URLPath, "/gate.php")
		checkStr(t, h, event.URLQuery, "id=7&os=win")
		checkStr(t, h, event.UserName, "svc_web")
		checkStr(t, h, event.UserDomain, "corp")
	})
}

func checkStr(t *testing.T, e *event.Event, f event.StrField, want string) {
	t.Helper()
	if got := e.Str(f); got != want {
		t.Errorf("%s = %q, want %q", f.Name(), got, want)
	}
}

func checkNum(t *testing.T, e *event.Event, f event.NumField, want int64) {
	t.Helper()
	if got, ok := e.Num(f); !ok || got != want {
		t.Errorf("%s = %d (set %v), want %d", f.Name(), got, ok, want)
	}
}

func checkIP(t *testing.T, e *event.Event, f event.IPField, want string) {
	t.Helper()
	if got := e.IP(f); got.String() != want {
		t.Errorf("%s = %v, want %s", f.Name(), got, want)
	}
}

func checkRaw(t *testing.T, e *event.Event, name, want string) {
	t.Helper()
	got, ok := raw(e, name)
	if !ok || got != want {
		t.Errorf("raw %s = %q (present %v), want %q", name, got, ok, want)
	}
}

const connHeader = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n" +
	"#open\t2024-04-19-05-00-01\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n" +
	"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\n"

func TestBadInputTSV(t *testing.T) {
	good := "1713502795.521155\tC1\t10.0.0.1\t1234\t10.0.0.2\t80\ttcp\n"
	cases := []struct {
		name    string
		input   string
		events  int
		reasons map[string]int
		line    int64 // line of the first reject
	}{
		{"wrong field count", connHeader + "1713502795.1\tC0\t10.0.0.1\t1\n" + good, 1, map[string]int{"malformed": 1}, 9},
		{"too many fields", connHeader + "1713502795.1\tC0\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\textra\n" + good, 1, map[string]int{"malformed": 1}, 9},
		{"data before header", good + connHeader + good, 1, map[string]int{"missing-field": 1}, 1},
		{"garbage", "\x00\x01\x02garbage\xff\n" + connHeader + good, 1, map[string]int{"missing-field": 1}, 1},
		{"bad ts", connHeader + "17135x2795.1\tC0\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\n" + good, 1, map[string]int{"bad-timestamp": 1}, 9},
		{"unset ts", connHeader + "-\tC0\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\n" + good, 1, map[string]int{"bad-timestamp": 1}, 9},
		{"ts out of range", connHeader + "99999999999.0\tC0\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\n" + good, 1, map[string]int{"bad-timestamp": 1}, 9},
		{"truncated header", "#separator \\x09\n#set_separator\t,\n#path\tconn\n" + good, 0, map[string]int{"missing-field": 1}, 4},
		{"header block replaced without fields", connHeader + good + "#separator \\x09\n#path\tdns\n" + good, 1, map[string]int{"missing-field": 1}, 12},
		{"too many columns", "#separator \\x09\n#fields\tts" + strings.Repeat("\tx", maxColumns) + "\n" + good, 0, map[string]int{"missing-field": 1}, 3},
		{"header without ts", "#separator \\x09\n#fields\tname\n#types\tstring\nfoo\n", 0, map[string]int{"bad-timestamp": 1}, 4},
		{"truncated last line", connHeader + good + "1713502795.2\tC2\t10.0", 1, map[string]int{"malformed": 1}, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := decodetest.Decode(t, NewTSV(), "conn.log", []byte(c.input))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Events) != c.events {
				t.Errorf("events = %d, want %d", len(s.Events), c.events)
			}
			if got := s.Reasons(); !mapsEqual(got, c.reasons) {
				t.Errorf("reasons = %v, want %v (%v)", got, c.reasons, s.Rejects)
			}
			if len(s.Rejects) > 0 {
				r := s.Rejects[0]
				if r.Line != c.line || r.Format != FormatTSV || r.Source != "conn.log" || r.Err == nil {
					t.Errorf("reject = %+v, want line %d", r, c.line)
				}
			}
			for _, e := range s.Events {
				if e.Str(event.EventID) != "C1" {
					t.Errorf("emitted %q, want only the good record C1", e.Str(event.EventID))
				}
			}
		})
	}
}

func TestHugeLine(t *testing.T) {
	good := "1713502795.521155\tC1\t10.0.0.1\t1234\t10.0.0.2\t80\ttcp\n"
	huge := strings.Repeat("A", 10<<20) + "\n"
	s, err := decodetest.Decode(t, NewTSV(), "conn.log", []byte(connHeader+huge+good))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 1 || s.Reasons()[decode.ReasonLineTooLong] != 1 {
		t.Fatalf("events %d rejects %v", len(s.Events), s.Rejects)
	}
	if s.Events[0].Origin.Line != 10 {
		t.Errorf("line after huge one = %d, want 10", s.Events[0].Origin.Line)
	}
	js, err := decodetest.Decode(t, NewJSON(), "conn.log",
		[]byte(`{"ts":1,"x":"`+strings.Repeat("A", 10<<20)+`"}`+"\n"+`{"_path":"conn","ts":1713502795.5,"uid":"C1"}`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(js.Events) != 1 || js.Reasons()[decode.ReasonLineTooLong] != 1 {
		t.Fatalf("json: events %d rejects %v", len(js.Events), js.Rejects)
	}
}

func TestBadInputJSON(t *testing.T) {
	good := `{"_path":"conn","ts":1713502795.521155,"uid":"C1","id.orig_h":"10.0.0.1"}` + "\n"
	cases := []struct {
		name    string
		input   string
		reasons map[string]int
	}{
		{"garbage", "garbage\n" + good, map[string]int{"malformed": 1}},
		{"invalid json", `{"ts":1713502795.5,"uid":}` + "\n" + good, map[string]int{"malformed": 1}},
		{"no ts", `{"_path":"conn","uid":"C0"}` + "\n" + good, map[string]int{"bad-timestamp": 1}},
		{"bad ts", `{"_path":"conn","ts":"yesterday","uid":"C0"}` + "\n" + good, map[string]int{"bad-timestamp": 1}},
		{"null ts", `{"_path":"conn","ts":null,"uid":"C0"}` + "\n" + good, map[string]int{"bad-timestamp": 1}},
		{"ts out of range", `{"_path":"conn","ts":-5,"uid":"C0"}` + "\n" + good, map[string]int{"bad-timestamp": 1}},
		{"truncated", good + `{"_path":"conn","ts":1713502795.5,"ui`, map[string]int{"malformed": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := decodetest.Decode(t, NewJSON(), "x.log", []byte(c.input))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Events) != 1 || s.Events[0].Str(event.EventID) != "C1" {
				t.Errorf("events = %d, want the good record", len(s.Events))
			}
			if got := s.Reasons(); !mapsEqual(got, c.reasons) {
				t.Errorf("reasons = %v, want %v (%v)", got, c.reasons, s.Rejects)
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestMidFileHeaders(t *testing.T) {
	conn, err := os.ReadFile("testdata/conn.log")
	if err != nil {
		t.Fatal(err)
	}
	dns, err := os.ReadFile("testdata/dns.log")
	if err != nil {
		t.Fatal(err)
	}
	// Logs concatenated without their #close, as a crash or a naive cat leaves them.
	noClose := bytes.TrimSuffix(conn, []byte("#close\t2024-04-19-06-00-00\n"))
	data := append(append(append([]byte{}, noClose...), dns...), conn...)
	s, err := decodetest.Decode(t, NewTSV(), "mixed.log", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rejects) != 0 {
		t.Fatalf("rejects: %v", s.Rejects)
	}
	count := map[string]int{}
	for _, e := range s.Events {
		count[e.Str(event.EventDataset)]++
	}
	if count["zeek.conn"] != 24 || count["zeek.dns"] != 10 {
		t.Errorf("per dataset = %v, want 24 conn and 10 dns", count)
	}
}

func TestFieldHandling(t *testing.T) {
	in := "#separator \\x2c\n#set_separator,|\n#empty_field,EMPTY\n#unset_field,NONE\n#path,weird\n" +
		"#fields,ts,name,addl,flag,peers\n#types,time,string,string,bool,set[string]\n" +
		"1713502795.000001,a\\x2cb,EMPTY,T,x|y\\x7cz|EMPTYISH\n" +
		"1713502795.000002,#hash,NONE,F,EMPTY\n"
	s, err := decodetest.Decode(t, NewTSV(), "w.log", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 2 || len(s.Rejects) != 0 {
		t.Fatalf("events %d rejects %v", len(s.Events), s.Rejects)
	}
	e := s.Events[0]
	checkRaw(t, e, "name", "a,b")
	checkRaw(t, e, "addl", "")
	checkRaw(t, e, "flag", "true")
	if got := rawAll(e, "peers"); strings.Join(got, "/") != "x/y|z/EMPTYISH" {
		t.Errorf("peers = %q", got)
	}
	if !e.Timestamp.Equal(time.Unix(1713502795, 1000)) {
		t.Errorf("ts = %v (float rounding?)", e.Timestamp.Format(time.RFC3339Nano))
	}
	e = s.Events[1]
	checkRaw(t, e, "name", "#hash")
	if _, ok := raw(e, "addl"); ok {
		t.Error("unset addl kept")
	}
	checkRaw(t, e, "peers", "")
}

func TestJSONUnderscoreNames(t *testing.T) {
	in := `{"@stream":"smb_files","@system":"s","@proc":"zeek","ts":1588206049.298765,"uid":"C1","id_orig_h":"10.0.1.6","id_orig_p":56957,"id_resp_h":"10.0.0.4","id_resp_p":445,"action":"SMB::FILE_OPEN","path":"\\\\NEWYORK\\sysvol","name":"a\\gpt.ini","size":22,"times_modified":1588187906.664602}` + "\n"
	s, err := decodetest.Decode(t, NewJSON(), "whatever.log", []byte(in))
	if err != nil || len(s.Events) != 1 {
		t.Fatalf("err %v events %d rejects %v", err, len(s.Events), s.Rejects)
	}
	e := s.Events[0]
	checkRaw(t, e, "id.orig_h", "10.0.1.6")
	checkRaw(t, e, "id.resp_p", "445")
	checkRaw(t, e, "times.modified", "1588187906.664602")
	checkRaw(t, e, "@stream", "smb_files")
	checkStr(t, e, event.FilePath, `\\NEWYORK\sysvol\a\gpt.ini`)
	checkStr(t, e, event.EventDataset, "zeek.smb_files")
	if _, ok := raw(e, "id_orig_h"); ok {
		t.Error("underscore name kept")
	}
}

func TestPathFromSource(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/data/NASHUA_conn.log", "conn"},
		{"conn.05:00:00-06:00:00.log.gz", "conn"},
		{"conn.log", "conn"},
		{"UTICA-A_smb_files.log", "smb_files"},
		{"SCRANTON_dce_rpc.log", "dce_rpc"},
		{"NEWYORK_capture_loss.log", "capture_loss"},
		{"UTICA-ONE-DRIVE_loaded_scripts.log", "loaded_scripts"},
		{"capture_loss.00:00:00-01:00:00.log.gz", "capture_loss"},
		{"logs.zip!2024/http.log", "http"},
		{"", ""},
		{".", ""},
	} {
		if got := pathFromSource(c.in); got != c.want {
			t.Errorf("pathFromSource(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestJSONLogFromFileName(t *testing.T) {
	in := `{"ts":1588205198.89971,"uid":"C1","id_orig_h":"10.0.1.4","id_orig_p":1,"id_resp_h":"10.0.0.4","id_resp_p":53,"proto":"udp","conn_state":"SF"}` + "\n"
	s, err := decodetest.Decode(t, NewJSON(), "/x/NASHUA_conn.log", []byte(in))
	if err != nil || len(s.Events) != 1 {
		t.Fatalf("err %v events %d", err, len(s.Events))
	}
	checkStr(t, s.Events[0], event.EventDataset, "zeek.conn")
	checkStr(t, s.Events[0], event.EventOutcome, "success")
}

func TestUnescape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`plain`, "plain"},
		{`a\x09b`, "a\tb"},
		{`\\\\host\\share`, `\\host\share`},
		{`\x5c`, `\`},
		{`trail\`, `trail\`},
		{`\xZZ`, `\xZZ`},
		{`\x4`, `\x4`},
		{`\n`, `\n`},
	} {
		if got := string(unescape(nil, []byte(c.in))); got != c.want {
			t.Errorf("unescape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseSecondsNS(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0.104134", 104_134_000, true},
		{"3", 3_000_000_000, true},
		{"0.0015780925750732422", 1_578_092, true},
		{"1.2e-05", 12_000, true},
		{"-0.5", -500_000_000, true},
		{".5", 500_000_000, true},
		{"abc", 0, false},
		{"", 0, false},
	} {
		got, ok := parseSecondsNS(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("parseSecondsNS(%q) = %d %v, want %d %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestSniff(t *testing.T) {
	for _, c := range []struct {
		name     string
		head     string
		tsv, jsn int
	}{
		{"tsv", connHeader, 100, 0},
		{"helk json", `{"@stream":"conn","@system":"x","ts":1588205198.89971,"uid":"C"}`, 0, 85},
		{"zeek json", `{"_path":"dns","ts":"2024-04-19T09:00:01Z","uid":"C"}`, 0, 85},
		{"conn id only", `{"ts":1.5,"id.orig_h":"10.0.0.1"}`, 0, 85},
		{"other json", `{"ts":1.5,"message":"x"}`, 0, 0},
		{"loaded_scripts", `{"@stream":"loaded_scripts","name":"/x"}`, 0, 0},
		{"text", "hello world", 0, 0},
		{"empty", "", 0, 0},
		{"truncated json", `{"_path":"conn","ts":1`, 0, 0},
	} {
		if got := SniffTSV([]byte(c.head)); got != c.tsv {
			t.Errorf("%s: SniffTSV = %d, want %d", c.name, got, c.tsv)
		}
		if got := SniffJSON([]byte(c.head)); got != c.jsn {
			t.Errorf("%s: SniffJSON = %d, want %d", c.name, got, c.jsn)
		}
	}
	ids := map[string]bool{}
	for _, f := range Formats() {
		ids[f.ID] = f.New() != nil
	}
	if !ids[FormatTSV] || !ids[FormatJSON] {
		t.Errorf("Formats = %v", ids)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, d := range []decode.Decoder{NewTSV(), NewJSON()} {
		err := d.Decode(ctx, decode.Input{R: strings.NewReader(connHeader), Source: "x"}, &decodetest.Sink{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%T: err = %v, want context.Canceled", d, err)
		}
	}
}
