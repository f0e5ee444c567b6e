package httpin

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/ingest"
)

func splunk(tok string) map[string]string { return map[string]string{"Authorization": "Splunk " + tok} }

func TestHEC(t *testing.T) {
	type rec struct{ format, data string }
	tests := []struct {
		name    string
		method  string
		path    string
		hdr     map[string]string
		body    string
		status  int
		code    int
		eventNo int // -1: absent
		records []rec
	}{
		{"health needs no token", "GET", "/services/collector/health", nil, "", 200, 17, -1, nil},
		{"health 1.0 by POST", "POST", "/services/collector/health/1.0", nil, "", 200, 17, -1, nil},
		{"token required", "POST", "/services/collector/event", nil, `{"event":"x"}`, 401, 2, -1, nil},
		{"invalid authorization", "POST", "/services/collector/event", map[string]string{"Authorization": "Splunk"}, `{"event":"x"}`, 401, 3, -1, nil},
		{"invalid token", "POST", "/services/collector/event", splunk("wrong"), `{"event":"x"}`, 403, 4, -1, nil},
		{"bearer accepted", "POST", "/services/collector", bearer(goodToken), `{"event":"line one"}`, 200, 0, -1,
			[]rec{{"", "line one"}}},
		{"basic accepted", "POST", "/services/collector/event/1.0",
			map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+goodToken))},
			`{"event":"line one"}`, 200, 0, -1, []rec{{"", "line one"}}},
		{"concatenated, no separator", "POST", "/services/collector/event", splunk(goodToken),
			`{"event":"a \"quoted\" line\n"}{"event":{"k":"v","n":1.50,"s":"\u00e9"},"sourcetype":"aws:cloudtrail","host":"h","time":1700000000.5}` + "\n\r\t " +
				`{"time":"1700000000","event":42,"sourcetype":"_json"}`,
			200, 0, -1, []rec{{"", "a \"quoted\" line\n"}, {"cloudtrail", `{"k":"v","n":1.50,"s":"\u00e9"}`}, {"", "42"}}},
		{"object event kept byte for byte but whitespace", "POST", "/services/collector/event", splunk(goodToken),
			`{ "event" : { "b" : [ 1, 2 ], "a" : "x\/y" } , "sourcetype":"access_combined"}`,
			200, 0, -1, []rec{{"access-log", `{"b":[1,2],"a":"x\/y"}`}}},
		{"default sourcetype from the query", "POST", "/services/collector/event?sourcetype=OktaIM2:log", splunk(goodToken),
			`{"event":{"a":1}}{"event":{"a":2},"sourcetype":"syslog"}`,
			200, 0, -1, []rec{{"okta", `{"a":1}`}, {"", `{"a":2}`}}},
		{"no data", "POST", "/services/collector/event", splunk(goodToken), " \n ", 400, 5, -1, nil},
		{"invalid data format keeps the events before", "POST", "/services/collector/event", splunk(goodToken),
			`{"event":"ok"} {"event":"broken`, 400, 6, 1, []rec{{"", "ok"}}},
		{"not an object", "POST", "/services/collector/event", splunk(goodToken), `["event"]`, 400, 6, 0, nil},
		{"bad JSON inside braces", "POST", "/services/collector/event", splunk(goodToken), `{"event":"a"}{"event":tru}`, 400, 6, 1, []rec{{"", "a"}}},
		{"event required", "POST", "/services/collector/event", splunk(goodToken), `{"event":"a"}{"fields":{}}`, 400, 12, 1, []rec{{"", "a"}}},
		{"event blank string", "POST", "/services/collector/event", splunk(goodToken), `{"event":""}`, 400, 13, 0, nil},
		{"event blank object", "POST", "/services/collector/event", splunk(goodToken), `{"event":{}}`, 400, 13, 0, nil},
		{"event null", "POST", "/services/collector/event", splunk(goodToken), `{"event":null}`, 400, 13, 0, nil},
		{"event over the record limit", "POST", "/services/collector/event", splunk(goodToken),
			`{"event":"` + strings.Repeat("x", 101) + `"}`, 400, 6, 0, nil},
		{"ack disabled", "POST", "/services/collector/ack", splunk(goodToken), `{"acks":[0]}`, 400, 14, -1, nil},
		{"raw with channel", "POST", "/services/collector/raw?channel=FE0ECFAD-13D5-401B-847D-77833BD77131&sourcetype=access_combined", splunk(goodToken),
			"1.2.3.4 - - [x] \"GET / HTTP/1.1\" 200 1\r\n\nline two\n", 200, 0, -1,
			[]rec{{"access-log", `1.2.3.4 - - [x] "GET / HTTP/1.1" 200 1`}, {"access-log", "line two"}}},
		{"raw no data", "POST", "/services/collector/raw", splunk(goodToken), "", 400, 5, -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.MaxRecord = 100 })
			r := e.do(t, tt.method, tt.path, tt.hdr, []byte(tt.body))
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			m := decodeJSON(t, r.body)
			if m["code"] != float64(tt.code) || m["text"] != hecText[tt.code] {
				t.Errorf("answer %s, want code %d %q", r.body, tt.code, hecText[tt.code])
			}
			if n, ok := m["invalid-event-number"]; tt.eventNo < 0 && ok || tt.eventNo >= 0 && n != float64(tt.eventNo) {
				t.Errorf("invalid-event-number %v, want %d", n, tt.eventNo)
			}
			got := e.app.records()
			if len(got) != len(tt.records) {
				t.Fatalf("%d records, want %d: %+v", len(got), len(tt.records), got)
			}
			for i, w := range tt.records {
				if got[i].Source != "hec:shipper" || got[i].Format != w.format || string(got[i].Data) != w.data {
					t.Errorf("record %d = {%q %q %q}, want {hec:shipper %q %q}", i, got[i].Source, got[i].Format, got[i].Data, w.format, w.data)
				}
			}
		})
	}
}

func TestHECBackpressure(t *testing.T) {
	for _, tt := range []struct {
		err        error
		status     int
		code       int
		retryAfter string
	}{
		{&ingest.OverloadError{RetryAfter: 2500 * time.Millisecond}, 503, 9, "3"},
		{fmt.Errorf("wal: %w", errors.New("closed")), 500, 8, ""},
	} {
		e := newEnv(t, nil)
		e.app.err = tt.err
		for _, path := range []string{"/services/collector/event", "/services/collector/raw"} {
			r := e.do(t, "POST", path, splunk(goodToken), []byte(`{"event":"x"}`))
			m := decodeJSON(t, r.body)
			if r.status != tt.status || m["code"] != float64(tt.code) || r.header.Get("Retry-After") != tt.retryAfter {
				t.Errorf("%s with %v: %d %s Retry-After %q, want %d code %d %q", path, tt.err, r.status, r.body, r.header.Get("Retry-After"), tt.status, tt.code, tt.retryAfter)
			}
		}
	}
}

// TestSourcetypeFormats keeps the sourcetype table naming real decoders.
func TestSourcetypeFormats(t *testing.T) {
	reg := formats.Default()
	for st, id := range sourcetypeFormats {
		if _, err := reg.Get(id); err != nil {
			t.Errorf("sourcetype %q maps to %q: %v", st, id, err)
		}
	}
	for _, st := range []string{"_json", "syslog", "linux_secure", "WinEventLog:Security", "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational", ""} {
		if f := formatForSourcetype(st); f != "" {
			t.Errorf("sourcetype %q maps to %q, want detection", st, f)
		}
	}
}
