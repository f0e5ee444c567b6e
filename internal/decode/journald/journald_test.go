package journald

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/cputime"
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

func TestGolden(t *testing.T) {
	for _, name := range []string{"journal.json", "journal-pretty.json"} {
		t.Run(name, func(t *testing.T) {
			s, err := decodetest.DecodeFile(t, New(), filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			decodetest.Golden(t, name, s.JSONL())
		})
	}
}

func raw(e *event.Event, k string) string {
	v, _ := e.RawValue(event.MakeKey(k))
	return v
}

func rawAll(e *event.Event, k string) []string {
	var out []string
	event.Lookup(k).Each(e, func(s string) bool { out = append(out, s); return true })
	return out
}

// TestJournalFacts asserts what testdata/journal.json holds, entry by entry.
func TestJournalFacts(t *testing.T) {
	s, err := decodetest.DecodeFile(t, New(), "testdata/journal.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 8 || len(s.Rejects) != 0 {
		t.Fatalf("%d events, rejects %v; want 8, none", len(s.Events), s.Rejects)
	}
	ssh := s.Events[0]
	if ssh.Timestamp.Format(time.RFC3339Nano) != "2024-03-01T12:34:56.123456Z" {
		t.Errorf("ssh time %s", ssh.Timestamp.Format(time.RFC3339Nano))
	}
	if ssh.Str(event.EventAction) != "ssh_login" || ssh.Str(event.EventOutcome) != "failure" ||
		ssh.Str(event.UserName) != "admin" || ssh.IP(event.SourceIP).String() != "203.0.113.45" ||
		ssh.Str(event.EventDataset) != "system.auth" || raw(ssh, "ssh.invalid_user") != "true" {
		t.Errorf("sshd failure not normalized: %s", ssh.AppendJSON(nil))
	}
	if pid, _ := ssh.Num(event.ProcessPID); pid != 20840 || ssh.Str(event.ProcessExecutable) != "/usr/sbin/sshd" ||
		ssh.Str(event.ServiceName) != "ssh.service" || ssh.Str(event.LogLevel) != "info" || ssh.Str(event.HostName) != "bastion" {
		t.Errorf("sshd process/host fields: %s", ssh.AppendJSON(nil))
	}
	if raw(ssh, "_SELINUX_CONTEXT") != "unconfined\n" || raw(ssh, "__MONOTONIC_TIMESTAMP") != "86400123456" {
		t.Errorf("raw journal fields not kept verbatim")
	}
	sudo := s.Events[1]
	if sudo.Str(event.EventAction) != "sudo_command" || sudo.Str(event.UserName) != "alice" ||
		sudo.Str(event.UserTargetName) != "root" || raw(sudo, "sudo.command") != "/usr/bin/cat /etc/shadow" ||
		sudo.Str(event.ProcessCommandLine) != "sudo cat /etc/shadow" || sudo.Str(event.LogLevel) != "notice" {
		t.Errorf("sudo not normalized: %s", sudo.AppendJSON(nil))
	}
	bin := s.Events[2]
	if want := "copying caf\xe9 menu.txt \xff done"; bin.Str(event.Message) != want || raw(bin, "MESSAGE") != want {
		t.Errorf("byte-array MESSAGE = %q", bin.Str(event.Message))
	}
	kernel := s.Events[3]
	if _, ok := kernel.Num(event.ProcessPID); ok || kernel.Str(event.ProcessName) != "kernel" || kernel.Str(event.LogLevel) != "warning" {
		t.Errorf("kernel entry: %s", kernel.AppendJSON(nil))
	}
	if kernel.Str(event.EventDataset) != "journald.log" {
		t.Errorf("kernel dataset %q", kernel.Str(event.EventDataset))
	}
	logind := s.Events[5]
	if logind.Str(event.EventAction) != "new_session" || logind.Str(event.UserName) != "deploy" {
		t.Errorf("logind: %s", logind.AppendJSON(nil))
	}
	null := s.Events[6]
	if null.Str(event.Message) != "" || len(rawAll(null, "MESSAGE")) != 0 || strings.Join(rawAll(null, "TAG"), ",") != "blue,green" {
		t.Errorf("null MESSAGE / multi-valued TAG: %s", null.AppendJSON(nil))
	}
	max := s.Events[7]
	if max.Str(event.EventAction) != "ssh_max_auth_attempts" || max.Str(event.UserName) != "root" ||
		max.Str(event.LogLevel) != "err" || max.Str(event.ProcessName) != "sshd-session" {
		t.Errorf("sshd-session: %s", max.AppendJSON(nil))
	}
	for _, e := range s.Events {
		if e.Origin.Format != FormatJSON || e.Origin.Line == 0 || raw(e, "__CURSOR") == "" {
			t.Errorf("origin %+v", e.Origin)
		}
	}
}

func TestPrettyMatchesLines(t *testing.T) {
	lines, _ := decodetest.DecodeFile(t, New(), "testdata/journal.json")
	pretty, _ := decodetest.DecodeFile(t, New(), "testdata/journal-pretty.json")
	if len(pretty.Events) != 2 || len(pretty.Rejects) != 0 {
		t.Fatalf("pretty: %d events %v", len(pretty.Events), pretty.Rejects)
	}
	for i, e := range pretty.Events {
		a, b := *e, *lines.Events[i]
		a.Origin, b.Origin = event.Origin{}, event.Origin{}
		if !bytes.Equal(a.AppendJSON(nil), b.AppendJSON(nil)) {
			t.Errorf("entry %d differs between -o json and -o json-pretty", i)
		}
	}
}

func TestBadInput(t *testing.T) {
	good := `{"__CURSOR":"s=1","__REALTIME_TIMESTAMP":"1709296496123456","_HOSTNAME":"h","SYSLOG_IDENTIFIER":"sshd","MESSAGE":"Accepted password for alice from 10.0.0.1 port 22 ssh2"}` + "\n"
	for _, tc := range []struct {
		name, rec, reason string
	}{
		{"garbage", "this is not json\n", decode.ReasonMalformed},
		{"invalid json", `{"MESSAGE": "x", }` + "\n", decode.ReasonMalformed},
		{"missing timestamp", `{"MESSAGE":"x"}` + "\n", decode.ReasonBadTimestamp},
		{"timestamp not a number", `{"__REALTIME_TIMESTAMP":"soon","MESSAGE":"x"}` + "\n", decode.ReasonBadTimestamp},
		{"timestamp zero", `{"__REALTIME_TIMESTAMP":"0","MESSAGE":"x"}` + "\n", decode.ReasonBadTimestamp},
		{"timestamp far future", `{"__REALTIME_TIMESTAMP":"99999999999999999","MESSAGE":"x"}` + "\n", decode.ReasonBadTimestamp},
		{"10 MB line", `{"__REALTIME_TIMESTAMP":"1709296496123456","MESSAGE":"` + strings.Repeat("A", 10<<20) + `"}` + "\n", decode.ReasonLineTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := decodetest.Decode(t, New(), "j.json", []byte(good+tc.rec+good))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Rejects) != 1 || s.Rejects[0].Reason != tc.reason {
				t.Fatalf("rejects %v, want one %s", s.Rejects, tc.reason)
			}
			if r := s.Rejects[0]; r.Line != 2 || r.Offset != int64(len(good)) || r.Format != FormatJSON {
				t.Errorf("reject location %+v", r)
			}
			if len(s.Events) != 2 || s.Events[1].Str(event.EventAction) != "ssh_login" || s.Events[1].Origin.Line != 3 {
				t.Errorf("good entries around the bad one: %d events", len(s.Events))
			}
		})
	}
}

func TestTruncatedPretty(t *testing.T) {
	b, err := os.ReadFile("testdata/journal-pretty.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := decodetest.Decode(t, New(), "p.json", b[:len(b)-40])
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 1 || len(s.Rejects) != 1 || s.Rejects[0].Reason != decode.ReasonTruncated {
		t.Fatalf("%d events, rejects %v", len(s.Events), s.Rejects)
	}
}

func TestSourceRealtimeFallback(t *testing.T) {
	s, _ := decodetest.Decode(t, New(), "j", []byte(`{"_SOURCE_REALTIME_TIMESTAMP":"1709296496000001","MESSAGE":"x","SYSLOG_PID":"7","_COMM":"a"}`+"\n"))
	if len(s.Events) != 1 || s.Events[0].Timestamp.UnixMicro() != 1709296496000001 {
		t.Fatalf("%v %v", s.Events, s.Rejects)
	}
	if pid, _ := s.Events[0].Num(event.ProcessPID); pid != 7 {
		t.Errorf("SYSLOG_PID fallback: %d", pid)
	}
}

func TestSniff(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		head []byte
		want int
	}{
		{"journal.json", read("journal.json"), 90},
		{"journal-pretty.json", read("journal-pretty.json"), 90},
		{"cursor only", []byte(`{"__CURSOR":"s=1","MESSAGE":"x"}`), 90},
		{"other json", []byte(`{"ts":1,"MESSAGE":"x"}`), 0},
		{"zeek", []byte("#separator \\x09\n#fields\tts\n"), 0},
		{"syslog", []byte("Mar  1 12:00:00 h sshd[1]: x\n"), 0},
		{"truncated first object", read("journal.json")[:100], 0},
		{"empty", nil, 0},
	} {
		if got := Sniff(tc.head); got != tc.want {
			t.Errorf("%s: Sniff = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := New().Decode(ctx, decode.Input{R: strings.NewReader("{}\n"), Source: "x"}, &decodetest.Sink{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"journal.json", "journal-pretty.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		for _, l := range bytes.Split(b, []byte("\n")) {
			f.Add(l)
		}
	}
	f.Add([]byte(`{"__REALTIME_TIMESTAMP":"1","MESSAGE":[256,-1,"x",[1,2],null,{"a":1}]}`))
	d := New()
	f.Fuzz(func(t *testing.T, data []byte) {
		decodetest.Fuzz(t, d, data)
	})
}

type recycleSink struct {
	e       event.Event
	n       int
	rejects int
}

func (s *recycleSink) Alloc() *event.Event        { s.e.Reset(); return &s.e }
func (s *recycleSink) Emit(*event.Event)          { s.n++ }
func (s *recycleSink) Reject(*decode.RecordError) { s.rejects++ }

func BenchmarkDecodeJournal(b *testing.B) {
	one, err := os.ReadFile("testdata/journal.json")
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	for buf.Len() < 4<<20 {
		buf.Write(one)
	}
	data := buf.Bytes()
	d := New()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	events := 0
	cpu0 := cputime.Process()
	for b.Loop() {
		s := &recycleSink{}
		if err := d.Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: "bench"}, s); err != nil {
			b.Fatal(err)
		}
		if s.rejects != 0 {
			b.Fatalf("%d rejects", s.rejects)
		}
		events += s.n
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	if cpu := (cputime.Process() - cpu0).Seconds(); cpu > 0 {
		b.ReportMetric(float64(events)/cpu, "events/cpu-s")
	}
}

// TestSniffCorporaNegative: real Zeek JSON logs (one object per line) are not journal exports.
func TestSniffCorporaNegative(t *testing.T) {
	names, err := filepath.Glob(filepath.Join(decodetest.Corpora(t, "zeek/apt29/day1"), "*"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range names {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > decode.SniffSize {
			b = b[:decode.SniffSize]
		}
		if decode.FirstJSON(b) == nil {
			continue
		}
		checked++
		if got := Sniff(b); got != 0 {
			t.Errorf("%s sniffed as journald: %d", p, got)
		}
	}
	if checked < 10 {
		t.Fatalf("only %d JSON corpus files checked", checked)
	}
}
