package httpin

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

type nopAppender struct{}

func (nopAppender) Append(context.Context, []ingest.Record) error { return nil }

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

// benchDoc is a ~300-byte JSON log record.
func benchDoc(i int) string {
	return fmt.Sprintf(`{"@timestamp":"2026-11-25T10:%02d:%02d.%03dZ","host":{"name":"web-%d"},"event":{"dataset":"system.auth"},`+
		`"message":"Nov 25 10:%02d:%02d web-%d sshd[%d]: Failed password for invalid user admin%d from 198.51.100.%d port %d ssh2",`+
		`"log":{"file":{"path":"/var/log/auth.log"},"offset":%d}}`,
		i/60%60, i%60, i%1000, i%7, i/60%60, i%60, i%7, 1000+i, i, i%250, 40000+i, i*300)
}

func benchHandler(b *testing.B) *Handler {
	h, err := New(Options{Appender: nopAppender{}, Tokens: fakeTokens{goodToken: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func runBench(b *testing.B, h *Handler, path string, hdr map[string]string, body []byte, records int) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	req, _ := http.NewRequest("POST", path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := &discardWriter{h: http.Header{}}
	rd := bytes.NewReader(body)
	req.ContentLength = int64(len(body))
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		rd.Reset(body)
		req.Body = readCloser{rd}
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
	b.ReportMetric(float64(b.N)*float64(records)/b.Elapsed().Seconds(), "records/s")
	// The process's CPU time: on a shared, loaded machine wall-clock rates
	// say more about the neighbours than about the handler.
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)*float64(records)/cpu.Seconds(), "records/cpu-s")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// BenchmarkNDJSON: 1,000 records of ~300 bytes per request.
func BenchmarkNDJSON(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		sb.WriteString(benchDoc(i))
		sb.WriteByte('\n')
	}
	runBench(b, benchHandler(b), "/ingest/ndjson?source=bench", bearer(goodToken), []byte(sb.String()), 1000)
}

// BenchmarkBulk: 1,000 Filebeat-style create actions with ~300-byte documents.
func BenchmarkBulk(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		sb.WriteString(`{"create":{"_index":"filebeat-8.17.0"}}` + "\n")
		sb.WriteString(benchDoc(i))
		sb.WriteByte('\n')
	}
	runBench(b, benchHandler(b), "/_bulk", basic("elastic", goodToken), []byte(sb.String()), 1000)
}

// BenchmarkHEC: 1,000 object events of ~300 bytes.
func BenchmarkHEC(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		sb.WriteString(`{"time":1764064800,"host":"web-1","sourcetype":"_json","event":` + benchDoc(i) + "}\n")
	}
	runBench(b, benchHandler(b), "/services/collector/event", splunk(goodToken), []byte(sb.String()), 1000)
}
