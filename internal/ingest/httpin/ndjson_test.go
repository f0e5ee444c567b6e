package httpin

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

func TestNDJSON(t *testing.T) {
	type want struct {
		status   int
		records  []ingest.Record // Received is not compared
		accepted int
		rejected int
		errLines []int
	}
	big := strings.Repeat("x", 200)
	tests := []struct {
		name string
		path string
		hdr  map[string]string
		body string
		want want
	}{
		{"no auth", "/ingest/ndjson", nil, "a\n", want{status: 401}},
		{"bad token", "/ingest/ndjson", bearer("nope"), "a\n", want{status: 401}},
		{"bad scheme", "/ingest/ndjson", map[string]string{"Authorization": "Digest x"}, "a\n", want{status: 401}},
		{"lines, CRLF, blank lines", "/ingest/ndjson", bearer(goodToken),
			"{\"a\":1}\r\n\n  \n<13>Jan  1 00:00:00 h sshd[1]: x\n{\"b\":2}",
			want{status: 200, accepted: 3, records: []ingest.Record{
				{Source: "http:shipper", Data: []byte(`{"a":1}`)},
				{Source: "http:shipper", Data: []byte(`<13>Jan  1 00:00:00 h sshd[1]: x`)},
				{Source: "http:shipper", Data: []byte(`{"b":2}`)},
			}}},
		{"format and source", "/ingest/ndjson?format=okta&source=okta-prod", bearer(goodToken), "{}\n",
			want{status: 200, accepted: 1, records: []ingest.Record{{Source: "http:shipper:okta-prod", Format: "okta", Data: []byte(`{}`)}}}},
		{"bad format", "/ingest/ndjson?format=Okta!", bearer(goodToken), "{}\n", want{status: 400}},
		{"bad source", "/ingest/ndjson?source=a:b", bearer(goodToken), "{}\n", want{status: 400}},
		{"partial rejects", "/ingest/ndjson", bearer(goodToken), "ok1\n" + big + "\nok2\n\xff\xfe\nok3\n",
			want{status: 200, accepted: 3, rejected: 2, errLines: []int{2, 4}, records: []ingest.Record{
				{Source: "http:shipper", Data: []byte("ok1")},
				{Source: "http:shipper", Data: []byte("ok2")},
				{Source: "http:shipper", Data: []byte("ok3")},
			}}},
		{"empty body", "/ingest/ndjson", bearer(goodToken), "", want{status: 200}},
		{"GET", "/ingest/ndjson", bearer(goodToken), "", want{status: 405}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.MaxRecord = 100 })
			method := "POST"
			if tt.name == "GET" {
				method = "GET"
			}
			r := e.do(t, method, tt.path, tt.hdr, []byte(tt.body))
			if r.status != tt.want.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want.status, r.body)
			}
			got := e.app.records()
			if len(got) != len(tt.want.records) {
				t.Fatalf("%d records appended, want %d: %+v", len(got), len(tt.want.records), got)
			}
			for i, w := range tt.want.records {
				g := got[i]
				if g.Source != w.Source || g.Format != w.Format || !bytes.Equal(g.Data, w.Data) || !g.Received.Equal(testNow) {
					t.Errorf("record %d = {%q %q %q %v}, want {%q %q %q}", i, g.Source, g.Format, g.Data, g.Received, w.Source, w.Format, w.Data)
				}
			}
			if tt.want.status != 200 {
				return
			}
			if n := e.app.nCalls(); len(got) > 0 && n != 1 {
				t.Errorf("%d Append calls, want 1", n)
			}
			m := decodeJSON(t, r.body)
			if m["accepted"] != float64(tt.want.accepted) || m["rejected"] != float64(tt.want.rejected) {
				t.Errorf("answer %s, want accepted %d rejected %d", r.body, tt.want.accepted, tt.want.rejected)
			}
			errs, _ := m["errors"].([]any)
			if len(errs) != len(tt.want.errLines) {
				t.Fatalf("errors %v, want lines %v", errs, tt.want.errLines)
			}
			for i, e := range errs {
				if line := e.(map[string]any)["line"]; line != float64(tt.want.errLines[i]) {
					t.Errorf("error %d on line %v, want %d", i, line, tt.want.errLines[i])
				}
			}
		})
	}
}

func TestNDJSONBackpressure(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		retryAfter string
	}{
		{"overload with wait", fmt.Errorf("appending: %w", &ingest.OverloadError{RetryAfter: 3 * time.Second, Backlog: 1 << 30}), 429, "3"},
		{"bare overload", ingest.ErrOverloaded, 429, "1"},
		{"other failure", errors.New("disk full"), 503, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.app.err = tt.err
			r := e.do(t, "POST", "/ingest/ndjson", bearer(goodToken), []byte("a\nb\n"))
			if r.status != tt.status || r.header.Get("Retry-After") != tt.retryAfter {
				t.Fatalf("status %d Retry-After %q, want %d %q", r.status, r.header.Get("Retry-After"), tt.status, tt.retryAfter)
			}
			m := decodeJSON(t, r.body)
			if _, ok := m["accepted"]; ok || m["error"] == nil {
				t.Errorf("answer %s claims acceptance or lacks an error", r.body)
			}
			if strings.Contains(string(r.body), "disk full") {
				t.Errorf("answer leaks the internal error: %s", r.body)
			}
		})
	}
}

func TestBodies(t *testing.T) {
	lines := strings.Repeat(`{"msg":"hello"}`+"\n", 100) // 1,600 bytes
	tests := []struct {
		name    string
		hdr     map[string]string
		body    []byte
		status  int
		records int
	}{
		{"gzip", map[string]string{"Content-Encoding": "gzip"}, gz(t, []byte(lines)), 200, 100},
		{"bad gzip", map[string]string{"Content-Encoding": "gzip"}, []byte("not gzip at all"), 400, 0},
		{"truncated gzip", map[string]string{"Content-Encoding": "gzip"}, gz(t, []byte(lines))[:40], 400, 0},
		{"gzip over the limit once inflated", map[string]string{"Content-Encoding": "gzip"}, gz(t, []byte(strings.Repeat("a\n", 2000))), 413, 0},
		{"plain over the limit", nil, []byte(strings.Repeat("a\n", 2000)), 413, 0},
		{"deflate", map[string]string{"Content-Encoding": "deflate"}, []byte("a\n"), 415, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.MaxBody = 2000; o.MaxRecord = 100 })
			hdr := bearer(goodToken)
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			r := e.do(t, "POST", "/ingest/ndjson", hdr, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if got := len(e.app.records()); got != tt.records {
				t.Errorf("%d records, want %d", got, tt.records)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"nothing", Options{}, "an Appender is required"},
		{"no tokens", Options{Appender: &fakeAppender{}}, "TokenChecker (Tokens) is required"},
		{"negative", Options{Appender: &fakeAppender{}, Tokens: fakeTokens{}, MaxBody: -1}, "MaxBody -1 is negative"},
		{"record over body", Options{Appender: &fakeAppender{}, Tokens: fakeTokens{}, MaxBody: 10, MaxRecord: 11}, "MaxRecord 11 is larger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error %v, want %q", err, tt.want)
			}
		})
	}
	h, err := New(Options{Appender: &fakeAppender{}, Tokens: fakeTokens{}})
	if err != nil {
		t.Fatal(err)
	}
	if h.opts.MaxBody != DefaultMaxBody || h.opts.MaxRecord != DefaultMaxRecord {
		t.Errorf("defaults %d %d", h.opts.MaxBody, h.opts.MaxRecord)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxRecord = 10 })
	e.do(t, "POST", "/ingest/ndjson", bearer(goodToken), []byte("a\nb\n0123456789abc\n"))
	e.do(t, "POST", "/ingest/ndjson", nil, []byte("a\n"))
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"vigil_ingest_http_requests_total", map[string]string{"endpoint": "ndjson", "code": "200"}, 1},
		{"vigil_ingest_http_requests_total", map[string]string{"endpoint": "ndjson", "code": "401"}, 1},
		{"vigil_ingest_http_records_total", map[string]string{"endpoint": "ndjson"}, 2},
		{"vigil_ingest_http_rejected_total", map[string]string{"endpoint": "ndjson", "reason": "too_large"}, 1},
		{"vigil_ingest_http_bytes_total", map[string]string{"endpoint": "ndjson"}, 18},
	} {
		if got := counterValue(t, e.reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
