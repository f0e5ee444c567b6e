package weblog

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// countSink reuses one event and counts what it gets, so a benchmark measures the
// decoder alone.
type countSink struct {
	e               event.Event
	events, rejects int
}

func (s *countSink) Alloc() *event.Event        { s.e.Reset(); return &s.e }
func (s *countSink) Emit(*event.Event)          { s.events++ }
func (s *countSink) Reject(*decode.RecordError) { s.rejects++ }

// benchInput repeats the data lines of a fixture to about 4 MiB, after header.
func benchInput(b *testing.B, file string, header int) ([]byte, int) {
	raw, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.SplitAfter(raw, []byte("\n"))
	var head, body []byte
	dataLines := 0
	for i, l := range lines {
		if i < header {
			head = append(head, l...)
		} else if len(bytes.TrimSpace(l)) > 0 && l[0] != '#' {
			body = append(body, l...)
			dataLines++
		}
	}
	out := append([]byte(nil), head...)
	n := 0
	for len(out) < 4<<20 {
		out = append(out, body...)
		n += dataLines
	}
	return out, n
}

func runBench(b *testing.B, d decode.Decoder, data []byte, lines int) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	var s countSink
	for i := 0; i < b.N; i++ {
		s.events, s.rejects = 0, 0
		if err := d.Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: "bench"}, &s); err != nil {
			b.Fatal(err)
		}
		if s.events != lines || s.rejects != 0 {
			b.Fatalf("%d events, %d rejects; want %d, 0", s.events, s.rejects, lines)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkDecodeW3C(b *testing.B) {
	// The second #Fields block of the fixture (22 columns, host, bytes, cookie).
	raw, err := os.ReadFile("testdata/iis_fields_change.log")
	if err != nil {
		b.Fatal(err)
	}
	i := bytes.Index(raw, []byte("#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: 2023-03-14 01"))
	tmp, err := os.CreateTemp(b.TempDir(), "w3c")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tmp.Write(raw[i:]); err != nil {
		b.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		b.Fatal(err)
	}
	data, n := benchInput(b, tmp.Name(), 4)
	runBench(b, NewW3CDecoder(), data, n)
}

func BenchmarkDecodeAccessLog(b *testing.B) {
	data, n := benchInput(b, "testdata/nginx_combined.log", 0)
	runBench(b, NewAccessDecoder(), data, n)
}
