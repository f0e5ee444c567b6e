package httpin

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

func basic(user, pass string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
}

func apiKey(id, key string) map[string]string {
	return map[string]string{"Authorization": "ApiKey " + base64.StdEncoding.EncodeToString([]byte(id+":"+key))}
}

type bulkAnswer struct {
	Took   int64            `json:"took"`
	Errors bool             `json:"errors"`
	Items  []map[string]any `json:"items"`
}

type item struct {
	action, index, id, errType string
	status                     int
}

func readItems(t *testing.T, body []byte) (bulkAnswer, []item) {
	t.Helper()
	var a bulkAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("answer is not a bulk response: %v: %s", err, body)
	}
	var items []item
	for _, m := range a.Items {
		if len(m) != 1 {
			t.Fatalf("item %v has %d keys", m, len(m))
		}
		for action, v := range m {
			d := v.(map[string]any)
			it := item{action: action, status: int(d["status"].(float64))}
			it.index, _ = d["_index"].(string)
			it.id, _ = d["_id"].(string)
			if e, ok := d["error"].(map[string]any); ok {
				it.errType, _ = e["type"].(string)
				if r, _ := e["reason"].(string); r == "" {
					t.Errorf("item error without a reason: %v", e)
				}
			}
			items = append(items, it)
		}
	}
	return a, items
}

func TestBulk(t *testing.T) {
	type rec struct{ source, data string }
	tests := []struct {
		name    string
		path    string
		hdr     map[string]string
		body    string
		status  int
		errors  bool
		items   []item // id "" = any generated id (20 characters)
		records []rec
		errType string // whole-request error type
	}{
		{"no credentials", "/_bulk", nil, "", 401, false, nil, nil, "security_exception"},
		{"bad password", "/_bulk", basic("elastic", "wrong"), "", 401, false, nil, nil, "security_exception"},
		{"mixed actions", "/_bulk", basic("elastic", goodToken),
			`{"create":{"_index":"filebeat-8.17.0"}}` + "\n" +
				`{"@timestamp":"2026-11-25T10:00:00Z","message":"a"}` + "\n" +
				`{"index":{"_index":"vector-2026.11.25","_id":"doc-1"}}` + "\r\n" +
				`{"message":"b"}` + "\r\n\n" +
				`{"delete":{"_index":"x","_id":"y"}}` + "\n" +
				`{"update":{"_index":"up","_id":"u1"}}` + "\n" +
				`{"doc":{"message":"c", "n": 1},"doc_as_upsert":true}` + "\n" +
				`{"update":{"_index":"up","_id":"u2"}}` + "\n" +
				`{"script":{"source":"ctx._source.n++"}}` + "\n" +
				`{"create":{"_index":"bad"}}` + "\n" +
				`not json` + "\n" +
				`{"create":{"_index":"bad"}}` + "\n" +
				`["an","array"]` + "\n" +
				`{"create":{"_index":"Upper"}}` + "\n" +
				`{"m":1}` + "\n" +
				`{"create":{}}` + "\n" +
				`{"m":2}` + "\n" +
				`{"create":{"_index":"big"}}` + "\n" +
				`{"m":"` + strings.Repeat("x", 200) + `"}` + "\n" +
				`{"create":{"_index":"bad"}}` + "\n" +
				"{\"m\":\"\xff\"}\n",
			200, true, []item{
				{"create", "filebeat-8.17.0", "", "", 201},
				{"index", "vector-2026.11.25", "doc-1", "", 201},
				{"delete", "x", "y", "illegal_argument_exception", 400},
				{"update", "up", "u1", "", 200},
				{"update", "up", "u2", "action_request_validation_exception", 400},
				{"create", "bad", "", "mapper_parsing_exception", 400},
				{"create", "bad", "", "mapper_parsing_exception", 400},
				{"create", "Upper", "", "invalid_index_name_exception", 400},
				{"create", "", "", "action_request_validation_exception", 400},
				{"create", "big", "", "illegal_argument_exception", 400},
				{"create", "bad", "", "mapper_parsing_exception", 400},
			}, []rec{
				{"bulk:shipper:filebeat-8.17.0", `{"@timestamp":"2026-11-25T10:00:00Z","message":"a"}`},
				{"bulk:shipper:vector-2026.11.25", `{"message":"b"}`},
				{"bulk:shipper:up", `{"message":"c","n":1}`},
			}, ""},
		{"index from the path, ApiKey", "/logs-app-default/_bulk", apiKey("id1", goodToken),
			`{"create":{}}` + "\n" + `{"m":1}` + "\n" + `{"create":{"_index":"other"}}` + "\n" + `{"m":2}` + "\n",
			200, false, []item{{"create", "logs-app-default", "", "", 201}, {"create", "other", "", "", 201}},
			[]rec{{"bulk:shipper:logs-app-default", `{"m":1}`}, {"bulk:shipper:other", `{"m":2}`}}, ""},
		{"malformed action line fails the request", "/_bulk", bearer(goodToken),
			`{"create":{"_index":"a"}}` + "\n" + `{"m":1}` + "\n" + `{"upsert":{}}` + "\n" + `{"m":2}` + "\n",
			400, false, nil, nil, "illegal_argument_exception"},
		{"action not JSON", "/_bulk", bearer(goodToken), "{\"create\":\n{}\n", 400, false, nil, nil, "illegal_argument_exception"},
		{"source line missing", "/_bulk", bearer(goodToken), `{"create":{"_index":"a"}}` + "\n", 400, false, nil, nil, "illegal_argument_exception"},
		{"bad index in the path", "/Bad/_bulk", bearer(goodToken), `{"create":{}}` + "\n{}\n", 400, false, nil, nil, "invalid_index_name_exception"},
		{"empty", "/_bulk", bearer(goodToken), "\n", 200, false, nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.MaxRecord = 100 })
			r := e.do(t, "POST", tt.path, tt.hdr, []byte(tt.body))
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.header.Get("X-Elastic-Product") != "Elasticsearch" {
				t.Errorf("X-Elastic-Product %q", r.header.Get("X-Elastic-Product"))
			}
			got := e.app.records()
			if len(got) != len(tt.records) {
				t.Fatalf("%d records, want %d: %+v", len(got), len(tt.records), got)
			}
			for i, w := range tt.records {
				if got[i].Source != w.source || got[i].Format != "" || string(got[i].Data) != w.data {
					t.Errorf("record %d = {%q %q %q}, want {%q \"\" %q}", i, got[i].Source, got[i].Format, got[i].Data, w.source, w.data)
				}
			}
			if tt.status != 200 {
				m := decodeJSON(t, r.body)
				errObj, _ := m["error"].(map[string]any)
				if errObj["type"] != tt.errType || m["status"] != float64(tt.status) {
					t.Errorf("answer %s, want error type %s status %d", r.body, tt.errType, tt.status)
				}
				return
			}
			a, items := readItems(t, r.body)
			if a.Errors != tt.errors {
				t.Errorf("errors %v, want %v", a.Errors, tt.errors)
			}
			if len(items) != len(tt.items) {
				t.Fatalf("%d items, want %d: %s", len(items), len(tt.items), r.body)
			}
			for i, w := range tt.items {
				g := items[i]
				if w.id == "" && len(g.id) != 20 {
					t.Errorf("item %d generated id %q, want 20 characters", i, g.id)
				}
				g.id, w.id = "", ""
				if g != w {
					t.Errorf("item %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestBulkIDsUnique(t *testing.T) {
	e := newEnv(t, nil)
	body := strings.Repeat(`{"create":{"_index":"a"}}`+"\n"+`{"m":1}`+"\n", 50)
	seen := map[string]bool{}
	for range 3 {
		r := e.do(t, "POST", "/_bulk", bearer(goodToken), []byte(body))
		_, items := readItems(t, r.body)
		for _, it := range items {
			if seen[it.id] {
				t.Fatalf("id %q generated twice", it.id)
			}
			seen[it.id] = true
		}
	}
}

func TestBulkBackpressure(t *testing.T) {
	e := newEnv(t, nil)
	e.app.err = &ingest.OverloadError{RetryAfter: 5 * time.Second}
	r := e.do(t, "POST", "/_bulk", bearer(goodToken), []byte(`{"create":{"_index":"a"}}`+"\n"+`{"m":1}`+"\n"))
	if r.status != 429 || r.header.Get("Retry-After") != "5" {
		t.Fatalf("status %d Retry-After %q, want 429 5", r.status, r.header.Get("Retry-After"))
	}
	m := decodeJSON(t, r.body)
	if m["error"].(map[string]any)["type"] != "es_rejected_execution_exception" || m["status"] != float64(429) || m["items"] != nil {
		t.Errorf("answer %s", r.body)
	}
}

func TestESProbes(t *testing.T) {
	tests := []struct {
		method, path string
		status       int
		check        func(t *testing.T, m map[string]any, raw []byte)
	}{
		{"GET", "/", 200, func(t *testing.T, m map[string]any, _ []byte) {
			v := m["version"].(map[string]any)
			if m["name"] != "vigil" || m["cluster_name"] != "vigil" || v["number"] != "8.17.0" || v["build_flavor"] != "default" || m["tagline"] != "You Know, for Search" {
				t.Errorf("info %v", m)
			}
		}},
		{"HEAD", "/", 200, nil},
		{"GET", "/_license", 200, func(t *testing.T, m map[string]any, _ []byte) {
			if m["license"].(map[string]any)["status"] != "active" {
				t.Errorf("license %v", m)
			}
		}},
		{"GET", "/_xpack", 200, func(t *testing.T, m map[string]any, _ []byte) {
			if m["features"].(map[string]any)["ilm"] == nil {
				t.Errorf("xpack %v", m)
			}
		}},
		{"GET", "/_cluster/health", 200, func(t *testing.T, m map[string]any, _ []byte) {
			if m["status"] != "green" {
				t.Errorf("health %v", m)
			}
		}},
		{"HEAD", "/_index_template/filebeat-8.17.0", 200, nil},
		{"GET", "/_index_template/filebeat-8.17.0", 200, func(t *testing.T, m map[string]any, _ []byte) {
			if m["index_templates"].([]any)[0].(map[string]any)["name"] != "filebeat-8.17.0" {
				t.Errorf("template %v", m)
			}
		}},
		{"PUT", "/_index_template/filebeat-8.17.0", 200, func(t *testing.T, m map[string]any, _ []byte) {
			if m["acknowledged"] != true {
				t.Errorf("%v", m)
			}
		}},
		{"GET", "/_ilm/policy/filebeat", 200, func(t *testing.T, m map[string]any, _ []byte) {
			if _, ok := m["filebeat"]; !ok {
				t.Errorf("policy %v", m)
			}
		}},
		{"PUT", "/_ilm/policy/filebeat", 200, nil},
		{"PUT", "/_ingest/pipeline/filebeat-8.17.0-system-auth-pipeline", 200, nil},
		{"PUT", "/_data_stream/logs-generic-default", 200, nil},
		{"GET", "/_cat/templates/filebeat?format=json", 200, nil},
		{"POST", "/logs/_doc", 400, func(t *testing.T, m map[string]any, _ []byte) {
			if m["error"].(map[string]any)["type"] != "illegal_argument_exception" {
				t.Errorf("%v", m)
			}
		}},
		{"PATCH", "/", 405, nil},
	}
	e := newEnv(t, nil)
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, basic("elastic", goodToken), []byte(`{"index_patterns":["x*"]}`))
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.header.Get("X-Elastic-Product") != "Elasticsearch" {
				t.Errorf("X-Elastic-Product %q", r.header.Get("X-Elastic-Product"))
			}
			if tt.method == "HEAD" || strings.HasPrefix(tt.path, "/_cat") {
				return
			}
			m := decodeJSON(t, r.body)
			if tt.check != nil {
				tt.check(t, m, r.body)
			}
		})
	}
	if r := e.do(t, "GET", "/", nil, nil); r.status != 401 || r.header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Errorf("GET / without credentials: %d", r.status)
	}
	if n := len(e.app.records()); n != 0 {
		t.Errorf("probes appended %d records", n)
	}
}
