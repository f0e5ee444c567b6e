package csvlog

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/cputime"
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

var fixtures = []string{"signins.csv", "firewall.csv", "winevents.tsv"}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func raw(e *event.Event, name string) []string {
	var out []string
	event.Lookup(name).Each(e, func(s string) bool { out = append(out, s); return true })
	return out
}

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		head string
		want int
	}{
		{"signins", string(readFixture(t, "signins.csv")), 40},
		{"semicolons", string(readFixture(t, "firewall.csv")), 40},
		{"powershell tsv", string(readFixture(t, "winevents.tsv")), 40},
		{"header only", "time,user,action\n", 0},
		{"no newline", "time,user,action", 0},
		{"two columns", "time,user\n2024-01-01,bob\n", 0},
		{"ragged", "time,user,action\n2024-01-01,bob\n", 0},
		{"numeric header", "1,2,3\n4,5,6\n", 0},
		{"darpa edges", "1,2,07/03/1998-08:00,-\n3,4,07/03/1998-08:01,-\n", 0},
		{"json", `{"a":1,"b":2,"c":3}` + "\n", 0},
		{"json array", `[{"a":1},{"b":2},{"c":3}]` + "\n", 0},
		{"zeek tsv", "#separator \\x09\n#set_separator\t,\n#fields\tts\tuid\tid.orig_h\n", 0},
		{"w3c", "#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip\n", 0},
		{"syslog rfc5424", "<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - 'su root' failed, for, lonvick\n<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - a, b, c\n", 0},
		{"syslog bsd", "Oct 11 22:14:15 mymachine su: a, b, c\nOct 11 22:14:16 mymachine su: d, e, f\n", 0},
		{"evtx", "ElfFile\x00\x00\x00\x00\x00,a,b\n", 0},
		{"apache", `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326` + "\n", 0},
		{"header of values", "2024-01-01T00:00:00Z,10.0.0.1,x\n2024-01-01T00:00:01Z,10.0.0.2,y\n", 0},
		{"quoted field cut by head", "time,user,msg\n2024-01-01T00:00:00Z,bob,\"multi\nline\"\n2024-01-01T00:00:00Z,bob,\"cut", 40},
		{"empty", "", 0},
		{"inventory without time", "user,aliases,department\nalice,CORP\\alice,Finance\n", 0},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.head)); got != tt.want {
			t.Errorf("%s: Sniff = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestGolden(t *testing.T) {
	for _, name := range fixtures {
		s, err := decodetest.DecodeFile(t, New(Options{}), "testdata/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Rejects) > 0 {
			t.Errorf("%s: unexpected rejects: %v", name, s.Rejects)
		}
		decodetest.Golden(t, name, s.JSONL())
	}
}

func TestSignins(t *testing.T) {
	s, err := decodetest.DecodeFile(t, New(Options{}), "testdata/signins.csv")
	if err != nil || len(s.Events) != 5 || len(s.Rejects) != 0 {
		t.Fatalf("err %v, %d events, rejects %v", err, len(s.Events), s.Rejects)
	}
	type want struct{ user, domain, ip, outcome, ua string }
	wants := []want{
		{"alice.martin", "contoso.com", "203.0.113.10", "success", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0"},
		{"bob.stone", "contoso.com", "185.220.101.4", "failure", "python-requests/2.31.0"},
		{"carol.diaz", "contoso.com", "185.220.101.4", "failure", "python-requests/2.31.0"},
		{"dan.jones", "contoso.com", "185.220.101.4", "failure", "python-requests/2.31.0"},
		{"alice.martin", "contoso.com", "2001:db8:1f70:0:999:de8:7648:6e8", "success", "Microsoft Authentication Broker/1.0"},
	}
	for i, w := range wants {
		e := s.Events[i]
		got := want{e.Str(event.UserName), e.Str(event.UserDomain), e.IP(event.SourceIP).String(), e.Str(event.EventOutcome), e.Str(event.UserAgentOriginal)}
		if got != w {
			t.Errorf("row %d:\n got %+v\nwant %+v", i+2, got, w)
		}
		if e.Origin.Line != int64(i+2) || e.Origin.Format != FormatID {
			t.Errorf("row %d origin %+v", i+2, e.Origin)
		}
	}
	if got := raw(s.Events[3], "User"); !slices.Equal(got, []string{`Dan "DJ" Jones`}) {
		t.Errorf("quoted quotes: %q", got)
	}
	if got := raw(s.Events[1], "Location"); !slices.Equal(got, []string{"Frankfurt am Main, Hessen, DE"}) {
		t.Errorf("quoted commas: %q", got)
	}
	if got := raw(s.Events[0], "Failure reason"); got != nil {
		t.Errorf("empty cell kept: %q", got)
	}
	if got := raw(s.Events[0], "Date (UTC)"); !slices.Equal(got, []string{"2024-05-02T08:01:12Z"}) {
		t.Errorf("first header (after the BOM) = %q", got)
	}
	if got, want := s.Events[4].Timestamp, time.Date(2024, 5, 2, 9, 15, 30, 123456700, time.UTC); !got.Equal(want) {
		t.Errorf("time = %v, want %v", got, want)
	}
}

func TestFirewall(t *testing.T) {
	s, err := decodetest.DecodeFile(t, New(Options{}), "testdata/firewall.csv")
	if err != nil || len(s.Events) != 4 || len(s.Rejects) != 0 {
		t.Fatalf("err %v, %d events, rejects %v", err, len(s.Events), s.Rejects)
	}
	e := s.Events[1]
	sp, _ := e.Num(event.SourcePort)
	dp, _ := e.Num(event.DestinationPort)
	if e.IP(event.SourceIP).String() != "10.1.4.23" || e.IP(event.DestinationIP).String() != "203.0.113.200" || sp != 51546 || dp != 4444 ||
		e.Str(event.NetworkTransport) != "tcp" || e.Str(event.EventAction) != "deny" || !e.Type.Has(event.TypeDenied) ||
		e.Str(event.HostName) != "fw-edge-01.corp.example" || e.Str(event.HostHostname) != "fw-edge-01" {
		t.Errorf("firewall row: %s", e.AppendJSON(nil))
	}
	if got := raw(s.Events[3], "rule"); !slices.Equal(got, []string{"no-rdp; external"}) {
		t.Errorf("quoted delimiter: %q", got)
	}
	if got, want := e.Timestamp, time.Date(2024, 5, 2, 10, 0, 3, 0, time.UTC); !got.Equal(want) {
		t.Errorf("time %v", got)
	}
}

func TestPowerShellExport(t *testing.T) {
	s, err := decodetest.DecodeFile(t, New(Options{}), "testdata/winevents.tsv")
	if err != nil || len(s.Events) != 3 || len(s.Rejects) != 0 {
		t.Fatalf("err %v, %d events, rejects %v", err, len(s.Events), s.Rejects)
	}
	e := s.Events[2]
	if got := raw(e, "Id"); !slices.Equal(got, []string{"4688"}) || e.Str(event.HostHostname) != "ws-042" || e.Str(event.EventProvider) != "Microsoft-Windows-Security-Auditing" {
		t.Errorf("row: %s", e.AppendJSON(nil))
	}
	if got, want := e.Timestamp, time.Date(2024, 5, 2, 13, 2, 59, 0, time.UTC); !got.Equal(want) {
		t.Errorf("time %v, want %v", got, want)
	}
	msg := e.Str(event.Message)
	if !strings.Contains(msg, "\tProcess Command Line:\tcmd.exe /c \"whoami /all\"") || strings.Count(msg, "\n") != 4 {
		t.Errorf("multi-line message = %q", msg)
	}
	// Records spanning lines report their first line.
	if lines := []int64{s.Events[0].Origin.Line, s.Events[1].Origin.Line, s.Events[2].Origin.Line}; !slices.Equal(lines, []int64{3, 17, 25}) {
		t.Errorf("lines = %v", lines)
	}
}

// TestCorpusHoneyBucket decodes OTRF's AWS_S3_HoneyBucketLogs.csv: 301 CloudTrail
// alerts exported to CSV.
func TestCorpusHoneyBucket(t *testing.T) {
	path := decodetest.Corpora(t, "cloud/aws/aws_s3_honeybucketlogs.zip")
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := zr.Open("AWS_S3_HoneyBucketLogs.csv")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if Sniff(data[:min(len(data), decode.SniffSize)]) != 40 {
		t.Error("corpus not sniffed as CSV")
	}
	s, err := decodetest.Decode(t, New(Options{}), "aws_s3_honeybucketlogs.zip!AWS_S3_HoneyBucketLogs.csv", data)
	if err != nil {
		t.Fatal(err)
	}
	// 302 lines (CRLF), one header: 301 records.
	if len(s.Events) != 301 || len(s.Rejects) != 0 {
		t.Fatalf("%d events, rejects %v; want 301, none", len(s.Events), s.Rejects)
	}
	actions := map[string]int{}
	for _, e := range s.Events {
		actions[e.Str(event.EventAction)]++
		if e.Str(event.CloudProvider) != "aws" || !e.Category.Has(event.CatAPI) {
			t.Fatalf("not marked as AWS: %s", e.AppendJSON(nil))
		}
	}
	if actions["HeadBucket"] != 159 || actions["ListObjects"] != 138 || actions["PutObject"] != 4 {
		t.Errorf("event names: %v", actions)
	}
	first := s.Events[0]
	if first.Str(event.EventAction) != "ListObjects" || first.IP(event.SourceIP).String() != "177.131.167.145" ||
		first.Str(event.EventID) != "283770f5-968d-448d-9328-0b010f4d3696" ||
		first.Str(event.UserAgentOriginal) != "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/98.0.4758.102 Safari/537.36" ||
		first.Str(event.UserID) != "" {
		t.Errorf("first row: %s", first.AppendJSON(nil))
	}
	if got, want := first.Timestamp, time.Date(2022, 2, 18, 17, 34, 57, 0, time.UTC); !got.Equal(want) {
		t.Errorf("first time %v (Event DateTime, not Alarm DateTime), want %v", got, want)
	}
	for name, want := range map[string]string{
		"User ID":            "{'type': 'AWSAccount', 'principalId': '', 'accountId': 'ANONYMOUS_PRINCIPAL'}",
		"Request Parameters": "{'bucketName': 'microsoft-devtest', 'Host': 'microsoft-devtest.s3-eu-west-1.amazonaws.com'}",
		"Alert":              " 302-2022-02-18T17:34:57Z",
		"Repeated Attempts":  "4",
		"Alarm DateTime":     "2022-02-18T17:39:28.127636+00:00",
	} {
		if got := raw(first, name); !slices.Equal(got, []string{want}) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	last := s.Events[300]
	if last.IP(event.SourceIP).String() != "34.68.153.199" || last.Str(event.UserAgentOriginal) != "python-requests/2.22.0" || last.Origin.Line != 302 {
		t.Errorf("last row: %s", last.AppendJSON(nil))
	}
	if got, want := last.Timestamp, time.Date(2020, 2, 11, 3, 33, 11, 0, time.UTC); !got.Equal(want) {
		t.Errorf("last time %v, want %v", got, want)
	}
}

func TestDelimiterOption(t *testing.T) {
	in := "time|user|action|src_ip\n2024-05-02T10:00:00Z|bob|login|10.0.0.1\n"
	s, err := decodetest.Decode(t, New(Options{Delimiter: '|'}), "pipe.csv", []byte(in))
	if err != nil || len(s.Events) != 1 {
		t.Fatalf("err %v, rejects %v", err, s.Rejects)
	}
	if e := s.Events[0]; e.Str(event.UserName) != "bob" || e.IP(event.SourceIP).String() != "10.0.0.1" {
		t.Errorf("%s", e.AppendJSON(nil))
	}
	for _, tt := range []struct {
		line string
		want byte
	}{{"a,b,c", ','}, {"a;b;c", ';'}, {"a\tb\tc", '\t'}, {`"a;b",c,d`, ','}, {"a;b,c", ','}, {"abc", ','}, {"a\tb;c\td", '\t'}} {
		if got := detectDelimiter([]byte(tt.line)); got != tt.want {
			t.Errorf("detectDelimiter(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestTimeColumns(t *testing.T) {
	tests := []struct {
		header string
		cells  string
		want   time.Time
		ok     bool
	}{
		{"@timestamp,user,x", "2024-05-02T10:00:00Z,a,b", time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC), true},
		{"_time,user,x", "1714644000,a,b", time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC), true},
		{"Event Time,user,x", "2024/05/02 10:00:00,a,b", time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC), true},
		{"duration_time,date,x", "12,05/02/2024 10:00:00,b", time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC), true}, // exact name first, short number refused
		{"time,backup_time,x", ",2024-05-02 10:00:00,b", time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC), true},     // empty cell: next candidate
		{"time,user,x", "yesterday,a,b", time.Time{}, false},
		{"when,user,x", "2024-05-02T10:00:00Z,a,b", time.Time{}, false}, // no time column
	}
	for _, tt := range tests {
		s, err := decodetest.Decode(t, New(Options{}), "t.csv", []byte(tt.header+"\n"+tt.cells+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if !tt.ok {
			if len(s.Rejects) != 1 || s.Rejects[0].Reason != decode.ReasonBadTimestamp {
				t.Errorf("%s: rejects %v, want bad-timestamp", tt.header, s.Rejects)
			}
			continue
		}
		if len(s.Events) != 1 || !s.Events[0].Timestamp.Equal(tt.want) {
			t.Errorf("%s: events %d rejects %v", tt.header, len(s.Events), s.Rejects)
		}
	}
}

func TestColumnNames(t *testing.T) {
	for _, tt := range []struct{ header, norm string }{
		{"Source IP", "sourceip"}, {"src_ip", "srcip"}, {"sourceIPAddress", "sourceipaddress"},
		{"@timestamp", "timestamp"}, {"Event DateTime", "eventdatetime"}, {"User-Name", "username"},
	} {
		if got := normName(tt.header); got != tt.norm {
			t.Errorf("normName(%q) = %q", tt.header, got)
		}
	}
	in := "Timestamp,Client IP,User Name,Event Name,Event Source,User Agent,Computer Name,Event ID,Error Code\n" +
		"2024-05-02T10:00:00Z,192.0.2.1,CORP\\jdoe,DeleteTrail,cloudtrail.amazonaws.com,aws-cli/2.15,WS-1.corp.example,4625,AccessDenied\n"
	s, err := decodetest.Decode(t, New(Options{}), "n.csv", []byte(in))
	if err != nil || len(s.Events) != 1 {
		t.Fatalf("err %v rejects %v", err, s.Rejects)
	}
	e := s.Events[0]
	for f, want := range map[event.StrField]string{
		event.UserName: "jdoe", event.UserDomain: "corp", event.EventAction: "DeleteTrail",
		event.EventProvider: "cloudtrail.amazonaws.com", event.UserAgentOriginal: "aws-cli/2.15",
		event.HostName: "ws-1.corp.example", event.EventCode: "4625", event.EventOutcome: "failure",
		event.CloudProvider: "aws", event.SourceAddress: "192.0.2.1",
	} {
		if got := e.Str(f); got != want {
			t.Errorf("%s = %q, want %q", f.Name(), got, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	const header = "time,user,action\n"
	const good = "2024-05-02T10:00:00Z,good,login\n"
	tests := []struct {
		name   string
		input  string
		reason string
		line   int64
		events int
	}{
		{"ragged short", header + good + "2024-05-02T10:00:01Z,bob\n" + good, decode.ReasonMalformed, 3, 2},
		{"ragged long", header + good + "2024-05-02T10:00:01Z,bob,login,extra\n" + good, decode.ReasonMalformed, 3, 2},
		{"text after closing quote", header + good + "2024-05-02T10:00:01Z,\"bob\"x,login\n" + good, decode.ReasonMalformed, 3, 2},
		{"unterminated quote", header + good + "2024-05-02T10:00:01Z,\"bob,login\n", decode.ReasonTruncated, 3, 1},
		{"bad time", header + good + "soon,bob,login\n" + good, decode.ReasonBadTimestamp, 3, 2},
		{"binary garbage", header + good + "\x00\x01\x02\xff\n" + good, decode.ReasonMalformed, 3, 2},
		{"huge line", header + good + strings.Repeat("x", 2<<20) + "\n" + good, decode.ReasonLineTooLong, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodetest.Decode(t, New(Options{}), "bad.csv", []byte(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Rejects) != 1 || s.Rejects[0].Reason != tt.reason || s.Rejects[0].Line != tt.line {
				t.Fatalf("rejects %v, want one %s at line %d", s.Rejects, tt.reason, tt.line)
			}
			if len(s.Events) != tt.events {
				t.Fatalf("%d events, want %d", len(s.Events), tt.events)
			}
			for _, e := range s.Events {
				if e.Str(event.UserName) != "good" {
					t.Errorf("unexpected event %s", e.AppendJSON(nil))
				}
			}
		})
	}
	// A stray quote swallows at most maxRecordLines lines, then decoding resumes.
	var b strings.Builder
	b.WriteString(header + "2024-05-02T10:00:01Z,\"bob,login\n")
	for range maxRecordLines + 10 {
		b.WriteString(good)
	}
	s, err := decodetest.Decode(t, New(Options{}), "quote.csv", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rejects) != 1 || s.Rejects[0].Reason != decode.ReasonRecordTooLarge || len(s.Events) != 11 {
		t.Fatalf("stray quote: rejects %v, %d events", s.Rejects, len(s.Events))
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := New(Options{}).Decode(ctx, decode.Input{R: bytes.NewReader(readFixture(t, "signins.csv")), Source: "x"}, &decodetest.Sink{})
	if err == nil {
		t.Fatal("no error after cancel")
	}
}

func FuzzDecodeCSV(f *testing.F) {
	for _, name := range fixtures {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("time,a,b\n\"2024-01-01T00:00:00Z\",\"x\"\"y\",\"\n\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodetest.Fuzz(t, New(Options{}), data)
		_ = Sniff(data)
	})
}

func BenchmarkDecodeCSV(b *testing.B) {
	fx := readFixture(b, "signins.csv")
	i := bytes.Index(fx, []byte("\r\n"))
	header, body := fx[:i+2], fx[i+2:]
	data := append([]byte{}, header...)
	for len(data) < 4<<20 {
		data = append(data, body...)
	}
	n := bytes.Count(data, []byte("\n")) - 1
	d := New(Options{})
	sink := &countSink{}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		if err := d.Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: "bench"}, sink); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu := cputime.Process() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "events/cpu-s")
	}
	if sink.rejects > 0 {
		b.Fatalf("%d rejects", sink.rejects)
	}
}

type countSink struct {
	e       event.Event
	n       int
	rejects int
}

func (s *countSink) Alloc() *event.Event        { s.e.Reset(); return &s.e }
func (s *countSink) Emit(*event.Event)          { s.n++ }
func (s *countSink) Reject(*decode.RecordError) { s.rejects++ }
