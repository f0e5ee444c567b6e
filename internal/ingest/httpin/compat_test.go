package httpin

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestShipperFixtures posts the request bodies of testdata/ (see its
// README) as each shipper sends them and checks every record is taken
// exactly as the shipper wrote it.
func TestShipperFixtures(t *testing.T) {
	tests := []struct {
		file     string
		path     string
		hdr      map[string]string
		gzip     bool
		endpoint string // ndjson, hec or bulk: how to read the expected records
		sources  []string
		formats  []string // nil: all ""
	}{
		{"fluentbit-http-json_lines.ndjson", "/ingest/ndjson?source=fluent-bit", map[string]string{"Content-Type": "application/x-ndjson"}, false, "ndjson",
			[]string{"http:shipper:fluent-bit", "http:shipper:fluent-bit", "http:shipper:fluent-bit"}, nil},
		{"fluentbit-http-json_lines.ndjson", "/ingest/ndjson", nil, true, "ndjson",
			[]string{"http:shipper", "http:shipper", "http:shipper"}, nil},
		{"fluentbit-es-bulk.ndjson", "/_bulk", basic("fluentbit", goodToken), true, "bulk",
			[]string{"bulk:shipper:fluent-bit", "bulk:shipper:fluent-bit", "bulk:shipper:logstash-2026.11.25", "bulk:shipper:fluent-bit"}, nil},
		{"fluentbit-splunk.json", "/services/collector/event", splunk(goodToken), false, "hec",
			[]string{"hec:shipper", "hec:shipper"}, nil},
		{"vector-es-bulk.ndjson", "/_bulk?timeout=60s", basic("elastic", goodToken), false, "bulk",
			[]string{"bulk:shipper:vector-2026.11.25", "bulk:shipper:vector-2026.11.25"}, nil},
		{"vector-es-datastream.ndjson", "/_bulk?timeout=60s", apiKey("VuaCfGcBCdbkQm-e5aOx", goodToken), true, "bulk",
			[]string{"bulk:shipper:logs-generic-default", "bulk:shipper:logs-generic-default"}, nil},
		{"vector-splunk-hec-text.json", "/services/collector/event", map[string]string{"Authorization": "Splunk " + goodToken, "X-Splunk-Request-Channel": "0f8a6f4e-3c7b-4f45-9f3b-2a1d5e6c7b8a"}, true, "hec",
			[]string{"hec:shipper", "hec:shipper"}, nil},
		{"vector-splunk-hec-json.json", "/services/collector/event", splunk(goodToken), false, "hec",
			[]string{"hec:shipper", "hec:shipper"}, []string{"cloudtrail", ""}},
		{"filebeat-bulk.ndjson", "/_bulk?filter_path=errors,items.*.error,items.*.status", basic("elastic", goodToken), false, "bulk",
			[]string{"bulk:shipper:filebeat-8.17.0", "bulk:shipper:filebeat-8.17.0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file+tt.path, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, nil)
			hdr := map[string]string{}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			if hdr["Authorization"] == "" {
				hdr["Authorization"] = "Bearer " + goodToken
			}
			body := raw
			if tt.gzip {
				body = gz(t, raw)
				hdr["Content-Encoding"] = "gzip"
			}
			r := e.do(t, "POST", tt.path, hdr, body)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			want := expectedData(t, tt.endpoint, raw)
			got := e.app.records()
			if len(got) != len(want) || len(got) != len(tt.sources) {
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i].Data, want[i]) {
					t.Errorf("record %d data\n got %s\nwant %s", i, got[i].Data, want[i])
				}
				if got[i].Source != tt.sources[i] {
					t.Errorf("record %d source %q, want %q", i, got[i].Source, tt.sources[i])
				}
				wantFormat := ""
				if tt.formats != nil {
					wantFormat = tt.formats[i]
				}
				if got[i].Format != wantFormat {
					t.Errorf("record %d format %q, want %q", i, got[i].Format, wantFormat)
				}
			}
			switch tt.endpoint {
			case "bulk":
				a, items := readItems(t, r.body)
				if a.Errors || len(items) != len(want) {
					t.Errorf("bulk answer %s", r.body)
				}
				for _, it := range items {
					if it.status != 201 {
						t.Errorf("item %+v", it)
					}
				}
			case "hec":
				if m := decodeJSON(t, r.body); m["code"] != float64(0) {
					t.Errorf("HEC answer %s", r.body)
				}
			case "ndjson":
				if m := decodeJSON(t, r.body); m["accepted"] != float64(len(want)) || m["rejected"] != float64(0) {
					t.Errorf("answer %s", r.body)
				}
			}
		})
	}
}

// expectedData is what each record of a fixture must hold, read
// independently of the handler's parsers with encoding/json.
func expectedData(t *testing.T, endpoint string, raw []byte) [][]byte {
	t.Helper()
	var out [][]byte
	switch endpoint {
	case "ndjson":
		for _, l := range bytes.Split(raw, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				out = append(out, bytes.TrimSuffix(l, []byte("\r")))
			}
		}
	case "bulk":
		lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
		for i := 1; i < len(lines); i += 2 {
			out = append(out, lines[i])
		}
	case "hec":
		dec := json.NewDecoder(bytes.NewReader(raw))
		for dec.More() {
			var ev struct{ Event json.RawMessage }
			if err := dec.Decode(&ev); err != nil {
				t.Fatal(err)
			}
			var s string
			if json.Unmarshal(ev.Event, &s) == nil {
				out = append(out, []byte(s))
				continue
			}
			var c bytes.Buffer
			if err := json.Compact(&c, ev.Event); err != nil {
				t.Fatal(err)
			}
			out = append(out, c.Bytes())
		}
	}
	return out
}

// TestShipperStartup replays the requests each shipper makes before it
// sends data; each must succeed, or the shipper does not start.
func TestShipperStartup(t *testing.T) {
	seqs := map[string][][2]string{
		"filebeat 8": {
			{"GET", "/"}, {"GET", "/_license?human=false"}, {"GET", "/_ilm/policy/filebeat"}, {"PUT", "/_ilm/policy/filebeat"},
			{"HEAD", "/_index_template/filebeat-8.17.0"}, {"PUT", "/_index_template/filebeat-8.17.0"},
			{"GET", "/_ingest/pipeline/filebeat-8.17.0-system-auth-pipeline"}, {"PUT", "/_ingest/pipeline/filebeat-8.17.0-system-auth-pipeline"},
		},
		"logstash 8": {
			{"GET", "/"}, {"GET", "/_license"}, {"GET", "/_xpack"}, {"GET", "/_index_template/ecs-logstash"}, {"PUT", "/_index_template/ecs-logstash"},
			{"HEAD", "/_ilm/policy/logstash-policy"},
		},
		"vector":        {{"GET", "/"}, {"GET", "/_cluster/health"}},
		"fluent-bit es": {{"GET", "/"}},
	}
	e := newEnv(t, nil)
	for name, seq := range seqs {
		for _, req := range seq {
			r := e.do(t, req[0], req[1], basic("elastic", goodToken), nil)
			if r.status != 200 || r.header.Get("X-Elastic-Product") != "Elasticsearch" {
				t.Errorf("%s: %s %s answered %d %q", name, req[0], req[1], r.status, r.body)
			}
		}
	}
	// Vector's splunk_hec_logs healthcheck carries the token; Splunk's needs none.
	for _, hdr := range []map[string]string{splunk(goodToken), nil} {
		if r := e.do(t, "GET", "/services/collector/health/1.0", hdr, nil); r.status != 200 {
			t.Errorf("HEC health: %d %s", r.status, r.body)
		}
	}
}
