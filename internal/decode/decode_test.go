package decode

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

func readLines(t *testing.T, in string, max int) []Line {
	t.Helper()
	lr := NewLineReader(strings.NewReader(in), max)
	var out []Line
	for {
		l, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		l.Bytes = bytes.Clone(l.Bytes)
		out = append(out, l)
	}
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 100)
	lines := readLines(t, "a\r\nbb\n"+long+"\nccc\n\nlast", 10)
	type want struct {
		text    string
		num     int64
		off     int64
		tooLong bool
		length  int64
	}
	wants := []want{
		{"a", 1, 0, false, 1},
		{"bb", 2, 3, false, 2},
		{strings.Repeat("x", 12), 3, 6, true, 100}, // head of the skipped line, up to the buffer
		{"ccc", 4, 107, false, 3},
		{"", 5, 111, false, 0},
		{"last", 6, 112, false, 4},
	}
	if len(lines) != len(wants) {
		t.Fatalf("got %d lines, want %d: %+v", len(lines), len(wants), lines)
	}
	for i, w := range wants {
		l := lines[i]
		if l.Number != w.num || l.Offset != w.off || l.TooLong != w.tooLong || l.Length != w.length {
			t.Errorf("line %d = %+v, want %+v", i, l, w)
		}
		if !w.tooLong && string(l.Bytes) != w.text {
			t.Errorf("line %d text %q, want %q", i, l.Bytes, w.text)
		}
	}
}

func TestLineReaderHugeLineCostsNoMemory(t *testing.T) {
	huge := bytes.Repeat([]byte("A"), 10<<20)
	in := append(append([]byte("first\n"), huge...), "\nafter\n"...)
	lr := NewLineReader(bytes.NewReader(in), 1024)
	var got []string
	for {
		l, err := lr.Next()
		if err != nil {
			break
		}
		if l.TooLong {
			got = append(got, "TOO-LONG")
			if l.Length != int64(len(huge)) {
				t.Fatalf("length %d, want %d", l.Length, len(huge))
			}
			continue
		}
		got = append(got, string(l.Bytes))
	}
	if strings.Join(got, ",") != "first,TOO-LONG,after" {
		t.Fatalf("got %v", got)
	}
}

func frames(t *testing.T, in string, lim Limits) []JSONRecord {
	t.Helper()
	jr := NewJSONReader(strings.NewReader(in), lim)
	var out []JSONRecord
	for {
		r, err := jr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		r.Bytes = bytes.Clone(r.Bytes)
		out = append(out, r)
	}
}

func TestJSONReaderLayouts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // object text, or "!reason"
	}{
		{"ndjson", "{\"a\":1}\n{\"b\":\"}\"}\n\n{\"c\":[1,2]}", []string{`{"a":1}`, `{"b":"}"}`, `{"c":[1,2]}`}},
		{"ndjson with garbage line", "{\"a\":1}\nnot json\n{\"b\":2}\n", []string{`{"a":1}`, "!malformed", `{"b":2}`}},
		{"array", "[\n {\"a\":1},\n {\"b\":{\"c\":2}}\n]\n", []string{`{"a":1}`, `{"b":{"c":2}}`}},
		{"pretty concatenated", "{\n  \"a\": \"x\\\"y\"\n}\n{\n  \"b\": 2\n}\n", []string{"{\n  \"a\": \"x\\\"y\"\n}", "{\n  \"b\": 2\n}"}},
		{"truncated pretty", "{\n \"a\": 1\n}\n{\n \"b\": ", []string{"{\n \"a\": 1\n}", "!truncated"}},
		{"garbage between pretty", "{\n\"a\":1\n}\nxx\n{\n\"b\":2}", []string{"{\n\"a\":1\n}", "!malformed", "{\n\"b\":2}"}},
		{"bom", "\xef\xbb\xbf{\"a\":1}\n", []string{`{"a":1}`}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := frames(t, tt.in, Limits{})
			var s []string
			for _, r := range got {
				if r.Reason != "" {
					s = append(s, "!"+r.Reason)
					if r.Detail == "" {
						t.Errorf("reject without detail: %+v", r)
					}
				} else {
					s = append(s, string(r.Bytes))
				}
			}
			if strings.Join(s, "§") != strings.Join(tt.want, "§") {
				t.Fatalf("got %q\nwant %q", s, tt.want)
			}
		})
	}
}

func TestJSONReaderPositions(t *testing.T) {
	got := frames(t, "{\n\"a\":1\n}\n\n{\"b\":\n2}", Limits{})
	if len(got) != 2 || got[0].Offset != 0 || got[0].Line != 1 || got[1].Offset != 11 || got[1].Line != 5 {
		t.Fatalf("positions: %+v", got)
	}
}

func TestJSONReaderLimits(t *testing.T) {
	big := "{\n\"a\":\"" + strings.Repeat("x", 500) + "\"}\n{\"b\":1}"
	got := frames(t, big, Limits{MaxRecord: 100})
	if len(got) != 2 || got[0].Reason != ReasonRecordTooLarge || string(got[1].Bytes) != `{"b":1}` {
		t.Fatalf("got %+v", got)
	}
	long := "{\"a\":\"" + strings.Repeat("x", 500) + "\"}\n{\"b\":1}\n"
	got = frames(t, long, Limits{MaxLine: 100})
	if len(got) != 2 || got[0].Reason != ReasonLineTooLong || string(got[1].Bytes) != `{"b":1}` {
		t.Fatalf("got %+v", got)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC3339Nano UTC, or "" for an error
	}{
		{"2024-04-21T10:00:03Z", "2024-04-21T10:00:03Z"},
		{"2024-04-21T10:00:03.1234567Z", "2024-04-21T10:00:03.1234567Z"},
		{"2024-04-21T12:00:03+02:00", "2024-04-21T10:00:03Z"},
		{"2024-04-21T10:00:03.5", "2024-04-21T10:00:03.5Z"},
		{"2024-04-21 10:00:03", "2024-04-21T10:00:03Z"},
		{"2024-04-21 10:00:03.132", "2024-04-21T10:00:03.132Z"},
		{"1713693597.163487", "2024-04-21T09:59:57.163487Z"},
		{"1713693597", "2024-04-21T09:59:57Z"},
		{"1713693597163", "2024-04-21T09:59:57.163Z"},
		{"1713693597163487", "2024-04-21T09:59:57.163487Z"},
		{"1601-01-01T00:00:00Z", ""},
		{"0001-01-01T00:00:00Z", ""},
		{"9999-01-01T00:00:00Z", ""},
		{"yesterday", ""},
		{"", ""},
		{"1713693597.1.2", ""},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseTime(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got.Format(time.RFC3339Nano) != tt.want {
			t.Errorf("ParseTime(%q) = %v, %v; want %s", tt.in, got.Format(time.RFC3339Nano), err, tt.want)
		}
	}
}

func TestArenaStringsAreIndependent(t *testing.T) {
	var a Arena
	buf := []byte("hello")
	s := a.String(buf)
	buf[0] = 'j'
	if s != "hello" {
		t.Fatalf("arena string changed with its source: %q", s)
	}
	var all []string
	for i := range 10000 {
		all = append(all, a.String([]byte(strings.Repeat("y", i%50+1))))
	}
	for i, s := range all {
		if len(s) != i%50+1 || strings.Trim(s, "y") != "" {
			t.Fatalf("string %d corrupted: %q", i, s)
		}
	}
	if a.String(nil) != "" || a.StringOf("abc") != "abc" {
		t.Fatal("edge cases")
	}
}

func TestFirstJSON(t *testing.T) {
	if v := FirstJSON([]byte("  [ {\"a\": {\"b\": 1}}, {")); v == nil || v.GetInt("a", "b") != 1 {
		t.Fatal("array head")
	}
	if FirstJSON([]byte(`{"a": 1`)) != nil || FirstJSON([]byte("#separator")) != nil || FirstJSON(nil) != nil {
		t.Fatal("accepted a non-object")
	}
}

func TestKeyCacheBounded(t *testing.T) {
	var c KeyCache
	for i := range maxCachedKeys + 100 {
		c.Key([]byte(strings.Repeat("k", i%7) + string(rune('a'+i%26)) + strings.Repeat("z", i/26)))
	}
	if c.n > maxCachedKeys || len(c.slots) > keyTableMax {
		t.Fatalf("cache grew to %d names in %d slots", c.n, len(c.slots))
	}
	for i := range maxCachedKeys + 100 { // cached or not, the same name gives the same key
		name := []byte(strings.Repeat("k", i%7) + string(rune('a'+i%26)) + strings.Repeat("z", i/26))
		if c.Key(name) != event.MakeKey(string(name)) {
			t.Fatalf("key of %q differs", name)
		}
	}
	if c.Key([]byte("Image")) != c.KeyString("Image") {
		t.Fatal("Key and KeyString disagree")
	}
}

func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nb\r\n"), 4)
	f.Add([]byte(strings.Repeat("x", 100)+"\nok"), 8)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max < 1 || max > 1<<16 {
			max = 16
		}
		lr := NewLineReader(bytes.NewReader(data), max)
		var total int64
		for {
			l, err := lr.Next()
			if err != nil {
				break
			}
			if !l.TooLong && len(l.Bytes) > max {
				t.Fatalf("line of %d bytes exceeds %d", len(l.Bytes), max)
			}
			total = l.Offset + l.Length
		}
		if total > int64(len(data)) {
			t.Fatalf("offsets past the input: %d > %d", total, len(data))
		}
	})
}

func FuzzJSONReader(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n{\"b\":2}"))
	f.Add([]byte("[{\"a\":1},{\"b\":[1,{}]}]"))
	f.Add([]byte("{\n\"a\":\"\\\"}\"\n}\nxx\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		jr := NewJSONReader(bytes.NewReader(data), Limits{MaxLine: 256, MaxRecord: 256})
		for i := 0; ; i++ {
			r, err := jr.Next()
			if err != nil {
				break
			}
			if r.Reason == "" && (len(r.Bytes) == 0 || r.Bytes[0] != '{') {
				t.Fatalf("record does not start an object: %q", r.Bytes)
			}
			if i > len(data)+1 {
				t.Fatal("more records than bytes: no progress")
			}
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-04-21T10:00:03Z", "1713693597.163487", "2024-04-21 10:00:03", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err == nil && (tm.Year() < 1970 || tm.Year() >= 2200 || tm.Location() != time.UTC) {
			t.Fatalf("ParseTime(%q) = %v outside the accepted range or not UTC", s, tm)
		}
	})
}

func TestLineReaderLongButAccepted(t *testing.T) {
	mid := strings.Repeat("m", 200<<10) // longer than the initial buffer, shorter than the limit
	lines := readLines(t, "a\n"+mid+"\r\nb\n", 1<<20)
	if len(lines) != 3 || string(lines[1].Bytes) != mid || lines[1].TooLong || lines[2].Offset != int64(2+len(mid)+2) || string(lines[2].Bytes) != "b" {
		t.Fatalf("long accepted line mangled: %d lines, second %d bytes, tooLong=%v", len(lines), len(lines[1].Bytes), lines[1].TooLong)
	}
}

func benchFrames(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		jr := NewJSONReader(bytes.NewReader(data), Limits{})
		for {
			if _, err := jr.Next(); err != nil {
				break
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

const benchDoc = `{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"ws1"},"EventData":{"Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd.exe /c \"whoami /all\"","User":"CORP\\alice"}}}`

func BenchmarkJSONReaderLines(b *testing.B) {
	benchFrames(b, bytes.Repeat([]byte(benchDoc+"\n"), 2000))
}

func BenchmarkJSONReaderPretty(b *testing.B) {
	pretty := strings.NewReplacer(`,"`, ",\n  \"", `{"`, "{\n  \"").Replace(benchDoc)
	benchFrames(b, bytes.Repeat([]byte(pretty+"\n"), 2000))
}
